package explain

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlenv/mlenv/data"
	"github.com/mlenv/mlenv/modelfile"
	"github.com/mlenv/mlenv/models"
)

// fitted writes a small CSV with numeric, categorical and multi_hot
// columns, fits transforms on it and returns them with the encoded rows.
func fitted(t *testing.T) (*data.Transforms, *data.Batch) {
	t.Helper()
	rng := rand.New(rand.NewPCG(21, 22))
	var b strings.Builder
	b.WriteString("x1,x2,c1,c2,tags,y\n")
	var rows []map[string]any
	for range 64 {
		x1, x2 := rng.NormFloat64()*3+1, rng.Float64()*10
		c1, c2 := fmt.Sprint("a", rng.IntN(5)), fmt.Sprint("b", rng.IntN(3))
		var tags []string
		for k := range 4 {
			if rng.IntN(2) == 0 {
				tags = append(tags, fmt.Sprint("t", k))
			}
		}
		fmt.Fprintf(&b, "%g,%g,%s,%s,%s,%d\n", x1, x2, c1, c2, strings.Join(tags, "|"), rng.IntN(2))
		rows = append(rows, map[string]any{"x1": x1, "x2": x2, "c1": c1, "c2": c2, "tags": strings.Join(tags, "|")})
	}
	path := filepath.Join(t.TempDir(), "train.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	features := []data.Feature{
		{Name: "x1", Type: data.Numeric, Normalize: data.NormStandard},
		{Name: "x2", Type: data.Numeric, Normalize: data.NormMinMax},
		{Name: "c1", Type: data.Categorical, Vocab: data.Vocab{OOVBuckets: 1}},
		{Name: "c2", Type: data.Categorical, Vocab: data.Vocab{OOVBuckets: 1}},
		{Name: "tags", Type: data.MultiHot, Separator: "|", Vocab: data.Vocab{OOVBuckets: 1}},
	}
	tr, _, err := data.Fit(context.Background(), data.Source{Path: path, Format: data.FormatCSV}, features, data.Label{Name: "y", Type: data.Binary}, data.FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := modelfile.Encode(tr, rows)
	if err != nil {
		t.Fatal(err)
	}
	return tr, batch
}

// TestArtifactZooCompleteness explains every tabular zoo architecture
// through its artifact: the replica reproduces the network's predictions,
// and completeness holds within 1% at the default steps.
func TestArtifactZooCompleteness(t *testing.T) {
	tr, batch := fitted(t)
	params := map[string]map[string]any{
		"mlp":       {"hidden": []any{32, 16}, "embedding_dim": 4},
		"wide_deep": {"hidden": []any{16}, "embedding_dim": 4},
		"dcn_v2":    {"hidden": []any{16}, "embedding_dim": 4, "cross_layers": 2},
		"dlrm":      {"embedding_dim": 4, "bottom": []any{8}, "top": []any{16}},
		"two_tower": {"query_features": []any{"x1", "c1"}, "item_features": []any{"x2", "c2", "tags"}},
	}
	for _, arch := range []string{"logistic", "mlp", "wide_deep", "dcn_v2", "dlrm", "two_tower"} {
		t.Run(arch, func(t *testing.T) {
			net, err := models.Build(arch, params[arch], tr.Schema(), 5)
			if err != nil {
				t.Fatal(err)
			}
			// Random embeddings are tiny (the zoo's initialisation); make
			// them matter so that their attributions are tested.
			for _, p := range net.Parameters() {
				if strings.Contains(p.Name, "cat.") || strings.Contains(p.Name, "multi.") {
					scale(p.Tensor.Data(), 20)
				}
			}
			m := modelfile.New("t", arch, params[arch], tr, net)
			a, err := FromArtifact(m, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(a.Inputs.Features(), ","); got != "x1,x2,c1,c2,tags" {
				t.Fatalf("features %s", got)
			}
			xs := a.Points(batch)
			res, err := Attribute(context.Background(), a.Model, xs, [][]float32{a.TrainingMeans(xs)}, Options{Workers: 2, MaxRows: 1000})
			if err != nil {
				t.Fatal(err)
			}
			pred, err := m.PredictBatch(batch)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range pred {
				if got := 1 / (1 + math.Exp(-res.Outputs[i])); math.Abs(got-float64(p[0])) > 1e-5 {
					t.Fatalf("example %d: replica gives probability %g, the artifact %g", i, got, p[0])
				}
			}
			checkCompleteness(t, res, 0.01)
			for f, r := range Importance(res) {
				if r.MeanAbs == 0 {
					t.Errorf("feature %d (%s) has no attribution", f, r.Feature)
				}
			}
		})
	}
}

func TestArtifactErrors(t *testing.T) {
	tr, _ := fitted(t)
	net, err := models.Build("seq_transformer", map[string]any{"sequence": "tags", "max_len": 4, "embedding_dim": 4}, tr.Schema(), 1)
	if err != nil {
		t.Fatal(err)
	}
	m := modelfile.New("t", "seq_transformer", nil, tr, net)
	if _, err := FromArtifact(m, 0); err == nil || !strings.Contains(err.Error(), `feature "tags"`) {
		t.Errorf("seq_transformer: %v", err)
	}
	mlp, err := models.Build("mlp", nil, tr.Schema(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := FromArtifact(modelfile.New("t", "mlp", nil, tr, mlp), 1); err == nil || !strings.Contains(err.Error(), "target output 1") {
		t.Errorf("target 1 of a binary model: %v", err)
	}
}

func TestTrainingMeans(t *testing.T) {
	tr, batch := fitted(t)
	net, err := models.Build("mlp", nil, tr.Schema(), 1)
	if err != nil {
		t.Fatal(err)
	}
	a, err := FromArtifact(modelfile.New("t", "mlp", nil, tr, net), 0)
	if err != nil {
		t.Fatal(err)
	}
	xs := a.Points(batch)
	means := a.TrainingMeans(xs)
	// x1 is standardised (mean 0); x2 is min-max scaled; embeddings are
	// the sample means.
	x2 := tr.Features[1]
	if means[0] != 0 || math.Abs(float64(means[1])-(x2.Mean-x2.Min)/(x2.Max-x2.Min)) > 1e-6 {
		t.Errorf("dense means %v", means[:2])
	}
	if col := Means(xs); means[2] != col[2] || means[len(means)-1] != col[len(col)-1] {
		t.Errorf("embedding means %v, want %v", means[2:], col[2:])
	}
}

// TestArtifactImage explains a cnn on images for one class of a
// multiclass label: the image is one feature, and completeness holds.
func TestArtifactImage(t *testing.T) {
	var tr data.Transforms
	spec := `{"features": [{"name": "img", "type": "image", "shape": [1, 8, 8]}], "label": {"name": "y", "type": "multiclass", "num_classes": 3}}`
	if err := json.Unmarshal([]byte(spec), &tr); err != nil {
		t.Fatal(err)
	}
	params := map[string]any{"channels": []any{4}, "hidden": []any{16}}
	net, err := models.Build("cnn", params, tr.Schema(), 3)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(23, 24))
	batch := &data.Batch{Size: 6}
	for range 6 * 64 {
		batch.Image = append(batch.Image, rng.Float32())
	}
	a, err := FromArtifact(modelfile.New("t", "cnn", params, &tr, net), 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Inputs.Features(); len(got) != 1 || got[0] != "img" {
		t.Fatalf("features %v", got)
	}
	res, err := Attribute(context.Background(), a.Model, a.Points(batch), [][]float32{make([]float32, 64)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	logits := net.Forward(models.NewInput(nil, batch, tr.Schema()))
	for i, y := range res.Outputs {
		if want := float64(logits.At(i, 2)); math.Abs(y-want) > 1e-5 {
			t.Errorf("example %d: output %g, network's class-2 logit %g", i, y, want)
		}
	}
	checkCompleteness(t, res, 0.01)
}
