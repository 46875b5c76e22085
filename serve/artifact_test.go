package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlenv/mlenv/data"
	"github.com/mlenv/mlenv/modelfile"
	"github.com/mlenv/mlenv/models"
)

// artifactFixture fits transforms for numeric (normalised, logged,
// bucketised), categorical (vocabulary and hashed) and multi_hot features
// on a small synthetic file, builds an untrained DLRM over them, and
// returns the model with the file's rows as a client would send them.
func artifactFixture(t *testing.T) (*modelfile.Model, []map[string]any) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ctr.parquet")
	if _, err := data.WriteSynthetic(path, data.SynthOptions{Rows: 200, Seed: 3, MultiHot: true}); err != nil {
		t.Fatal(err)
	}
	src := data.Source{Path: path, Format: data.FormatParquet}
	vocab := data.Vocab{MinCount: 1, OOVBuckets: 2}
	feats := []data.Feature{
		{Name: "I1", Type: data.Numeric, Log: true, Normalize: data.NormStandard},
		{Name: "I2", Type: data.Numeric, Normalize: data.NormMinMax},
		{Name: "I3b", Column: "I3", Type: data.Numeric, Buckets: data.Buckets{Quantiles: 4}},
		{Name: "C1", Type: data.Categorical, Vocab: vocab},
		{Name: "C2", Type: data.Categorical, HashBuckets: 50},
		{Name: "tags", Type: data.MultiHot, Vocab: vocab},
	}
	tr, _, err := data.Fit(context.Background(), src, feats, data.Label{Name: "label", Type: data.Binary}, data.FitOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]any{"embedding_dim": 4, "bottom": []any{8}, "top": []any{8}}
	net, err := models.Build("dlrm", params, tr.Schema(), 5)
	if err != nil {
		t.Fatal(err)
	}
	cols := []string{"I1", "I2", "I3", "C1", "C2", "tags"}
	var rows []map[string]any
	for rec, err := range src.Records(cols) {
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, rec.Raw(cols))
	}
	return modelfile.New("ctr", "dlrm", params, tr, net), rows
}

// columnTensors lays rows out as the Artifact's input tensors.
func columnTensors(rows []map[string]any) []Tensor {
	n := int64(len(rows))
	var ts []Tensor
	for _, c := range []string{"I1", "I2", "I3"} {
		v := make([]float32, len(rows))
		for i, r := range rows {
			v[i] = float32(r[c].(float64))
		}
		ts = append(ts, Tensor{Name: c, Datatype: FP32, Shape: []int64{n}, Data: v})
	}
	for _, c := range []string{"C1", "C2", "tags"} {
		v := make([][]byte, len(rows))
		for i, r := range rows {
			switch x := r[c].(type) {
			case string:
				v[i] = []byte(x)
			case []string:
				v[i] = []byte(strings.Join(x, ","))
			}
		}
		ts = append(ts, Tensor{Name: c, Datatype: Bytes, Shape: []int64{n}, Data: v})
	}
	return ts
}

func TestArtifactMetadata(t *testing.T) {
	m, _ := artifactFixture(t)
	a, err := NewArtifact(m, "ctr", "3")
	if err != nil {
		t.Fatal(err)
	}
	md := a.Metadata()
	want := map[string]Datatype{"I1": FP32, "I2": FP32, "I3": FP32, "C1": Bytes, "C2": Bytes, "tags": Bytes}
	if len(md.Inputs) != len(want) {
		t.Fatalf("inputs %v, want the columns %v", md.Inputs, want)
	}
	for _, in := range md.Inputs {
		if want[in.Name] != in.Datatype || len(in.Shape) != 1 || in.Shape[0] != -1 {
			t.Errorf("input %q: %s%v, want %s[-1]", in.Name, in.Datatype, in.Shape, want[in.Name])
		}
	}
	if len(md.Outputs) != 1 || md.Outputs[0].Name != "probability" || md.Outputs[0].Shape[1] != 1 {
		t.Errorf("outputs %v, want probability [-1 1]", md.Outputs)
	}
	if md.Name != "ctr" || md.Version != "3" || md.Platform != "mlenv" {
		t.Errorf("identity %q %q %q", md.Name, md.Version, md.Platform)
	}
}

// TestArtifactMatchesPredict serves the artifact, saved and loaded as
// three copies, with dynamic batching and three instances, sends its rows
// in concurrent requests of different sizes, and checks every answer
// against modelfile's Predict on the same raw rows.
func TestArtifactMatchesPredict(t *testing.T) {
	m, rows := artifactFixture(t)
	want, err := m.Predict(rows)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	a, err := LoadArtifact(dir, "ctr", "1", 3)
	if err != nil {
		t.Fatal(err)
	}
	if n := cap(a.idle); n != 3 {
		t.Fatalf("%d model copies, want 3", n)
	}
	repo := NewRepository(nil, nil)
	defer repo.Close()
	if err := repo.Load(a, BatchConfig{MaxBatchSize: 16, MaxQueueDelay: time.Millisecond, Instances: 3}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for lo, hi := 0, 0; lo < len(rows); lo = hi {
		hi = min(lo+1+lo%13, len(rows))
		wg.Go(func() {
			res, err := repo.Infer(context.Background(), "ctr", "", columnTensors(rows[lo:hi]))
			if err != nil {
				t.Errorf("rows %d-%d: %v", lo, hi, err)
				return
			}
			got := res.Outputs[0].Data.([]float32)
			for i := range hi - lo {
				if d := math.Abs(float64(got[i] - want[lo+i][0])); d > 1e-6 {
					t.Errorf("row %d: served %v, Predict %v", lo+i, got[i], want[lo+i][0])
				}
			}
		})
	}
	wg.Wait()
}

func TestArtifactRejectsBadInputs(t *testing.T) {
	m, rows := artifactFixture(t)
	a, err := NewArtifact(m, "ctr", "1")
	if err != nil {
		t.Fatal(err)
	}
	repo := NewRepository(nil, nil)
	defer repo.Close()
	if err := repo.Load(a, BatchConfig{MaxBatchSize: 8}); err != nil {
		t.Fatal(err)
	}
	unbatched, err := NewArtifact(m, "ctr1", "1")
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Load(unbatched, BatchConfig{}); err != nil {
		t.Fatal(err)
	}
	// ctr batches, ctr1 runs each request on its own.
	for _, tc := range []struct {
		name   string
		change func([]Tensor) []Tensor
		field  string
	}{
		{"unknown name", func(ts []Tensor) []Tensor { ts[0].Name = "I99"; return ts }, `"I99"`},
		{"missing input", func(ts []Tensor) []Tensor { return ts[1:] }, `"I1"`},
		{"numbers as strings", func(ts []Tensor) []Tensor {
			ts[1] = Tensor{Name: "I2", Datatype: Bytes, Shape: []int64{2}, Data: [][]byte{[]byte("1"), []byte("2")}}
			return ts
		}, `"I2"`},
		{"NaN", func(ts []Tensor) []Tensor { ts[2].Data.([]float32)[1] = float32(math.NaN()); return ts }, `"I3"`},
		{"rows differ", func(ts []Tensor) []Tensor {
			ts[3] = Tensor{Name: "C1", Datatype: Bytes, Shape: []int64{3}, Data: [][]byte{{'a'}, {'b'}, {'c'}}}
			return ts
		}, `"C1" has 3 rows`},
	} {
		for _, model := range []string{"ctr", "ctr1"} {
			t.Run(model+"/"+tc.name, func(t *testing.T) {
				_, err := repo.Infer(context.Background(), model, "", tc.change(columnTensors(rows[:2])))
				if code, _ := errorStatus(err); code != 400 || !strings.Contains(err.Error(), tc.field) {
					t.Fatalf("got %v (HTTP %d), want a bad request naming %s", err, code, tc.field)
				}
			})
		}
	}
}

// TestArtifactImage serves a multiclass model over an image column: the
// input is FP32 [n, C, H, W] and the answer equals Predict on the pixels.
func TestArtifactImage(t *testing.T) {
	var tr data.Transforms
	spec := `{"features": [{"name": "pixels", "type": "image", "shape": [1, 2, 3], "normalize": "scale"}],
		"label": {"name": "label", "type": "multiclass", "num_classes": 4}}`
	if err := json.Unmarshal([]byte(spec), &tr); err != nil {
		t.Fatal(err)
	}
	net, err := models.Build("mlp", map[string]any{"hidden": []any{5}}, tr.Schema(), 2)
	if err != nil {
		t.Fatal(err)
	}
	m := modelfile.New("digits", "mlp", nil, &tr, net)
	a, err := NewArtifact(m, "digits", "1")
	if err != nil {
		t.Fatal(err)
	}
	md := a.Metadata()
	if in := md.Inputs; len(in) != 1 || in[0].Datatype != FP32 || fmt.Sprint(in[0].Shape) != "[-1 1 2 3]" {
		t.Fatalf("inputs %v, want pixels FP32 [-1 1 2 3]", in)
	}
	if out := md.Outputs; out[0].Name != "probabilities" || out[0].Shape[1] != 4 {
		t.Fatalf("outputs %v, want probabilities [-1 4]", out)
	}
	pixels := []float32{0, 10, 20, 30, 40, 50, 255, 0, 128, 64, 32, 16}
	got, err := a.Infer(context.Background(), []Tensor{{Name: "pixels", Datatype: FP32, Shape: []int64{2, 1, 2, 3}, Data: pixels}})
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Predict([]map[string]any{{"pixels": pixels[:6]}, {"pixels": pixels[6:]}})
	if err != nil {
		t.Fatal(err)
	}
	probs := got[0].Data.([]float32)
	for i, row := range want {
		for k, p := range row {
			if probs[i*4+k] != p {
				t.Errorf("row %d class %d: served %v, Predict %v", i, k, probs[i*4+k], p)
			}
		}
	}
}

// TestArtifactEncodeMatchesApply checks that the Artifact's column encoder
// gives the batch that data.Transforms.ApplyBatch gives for the same raw
// rows, with missing values (empty strings, an empty multi_hot list) among
// them.
func TestArtifactEncodeMatchesApply(t *testing.T) {
	m, rows := artifactFixture(t)
	rows = rows[:20]
	rows[3]["C1"], rows[4]["C2"], rows[5]["tags"] = "", "", []string{}
	a, err := NewArtifact(m, "ctr", "1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.encode(columnTensors(rows), len(rows))
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Meta.Transforms.ApplyBatch(rows)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("encoded batch\n%+v\nApplyBatch gives\n%+v", got, want)
	}
}

// preparedTensors lays an encoded batch out as the inputs of a Prepared
// artifact: dense and categorical matrices, and each bag padded with -1
// to the longest one.
func preparedTensors(b *data.Batch, s data.Schema) []Tensor {
	n := int64(b.Size)
	ts := []Tensor{{Name: "dense", Datatype: FP32, Shape: []int64{n, int64(len(s.Dense))}, Data: b.Dense}}
	cat := make([]int64, 0, b.Size*len(b.Cat))
	for i := range b.Size {
		for _, col := range b.Cat {
			cat = append(cat, int64(col[i]))
		}
	}
	ts = append(ts, Tensor{Name: "categorical", Datatype: Int64, Shape: []int64{n, int64(len(b.Cat))}, Data: cat})
	for f, slot := range s.MultiHot {
		off, width := b.MultiOffsets[f], int32(0)
		for i := range b.Size {
			width = max(width, off[i+1]-off[i])
		}
		ids := make([]int64, 0, b.Size*int(width))
		for i := range b.Size {
			for k := off[i]; k < off[i]+width; k++ {
				id := int64(-1)
				if k < off[i+1] {
					id = int64(b.MultiIDs[f][k])
				}
				ids = append(ids, id)
			}
		}
		ts = append(ts, Tensor{Name: slot.Name, Datatype: Int64, Shape: []int64{n, int64(width)}, Data: ids})
	}
	return ts
}

// TestArtifactPrepared serves the artifact's Prepared view with batching,
// sends the rows encoded by the transforms in requests of different sizes
// (so bags of different widths), and checks the answers against Predict on
// the raw rows; ids out of range are bad requests that fail alone.
func TestArtifactPrepared(t *testing.T) {
	m, rows := artifactFixture(t)
	want, err := m.Predict(rows)
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewArtifact(m, "ctr", "1")
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.Prepared()
	if err != nil {
		t.Fatal(err)
	}
	s := m.Meta.Transforms.Schema()
	var specs []string
	for _, in := range p.Metadata().Inputs {
		specs = append(specs, fmt.Sprintf("%s %s %v", in.Name, in.Datatype, in.Shape))
	}
	if got, wantSpecs := fmt.Sprint(specs), fmt.Sprintf("[dense FP32 [-1 %d] categorical INT64 [-1 %d] tags INT64 [-1 -1]]", len(s.Dense), len(s.Categorical)); got != wantSpecs {
		t.Fatalf("prepared inputs %s, want %s", got, wantSpecs)
	}
	repo := NewRepository(nil, nil)
	defer repo.Close()
	if err := repo.Load(p, BatchConfig{MaxBatchSize: 16, MaxQueueDelay: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for lo, hi := 0, 0; lo < len(rows); lo = hi {
		hi = min(lo+1+lo%7, len(rows))
		b, err := m.Meta.Transforms.ApplyBatch(rows[lo:hi])
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			res, err := repo.Infer(context.Background(), "ctr", "", preparedTensors(b, s))
			if err != nil {
				t.Errorf("rows %d-%d: %v", lo, hi, err)
				return
			}
			for i, got := range res.Outputs[0].Data.([]float32) {
				if d := math.Abs(float64(got - want[lo+i][0])); d > 1e-6 {
					t.Errorf("row %d: served %v, Predict %v", lo+i, got, want[lo+i][0])
				}
			}
		})
	}
	wg.Wait()

	b, err := m.Meta.Transforms.ApplyBatch(rows[:2])
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		input string
		id    int64
		want  string
	}{
		{"categorical", int64(s.Categorical[0].Cardinality), fmt.Sprintf(`feature %q is outside [0, %d)`, s.Categorical[0].Name, s.Categorical[0].Cardinality)},
		{"categorical", -1, `input "categorical": row 1`},
		{"tags", -2, `input "tags": row 1: id -2 of feature "tags"`},
	} {
		ts := preparedTensors(b, s)
		for _, x := range ts {
			if x.Name == tc.input {
				ids := x.Data.([]int64)
				ids[len(ids)/2] = tc.id // row 1, the first column
			}
		}
		_, err := repo.Infer(context.Background(), "ctr", "", ts)
		if code, _ := errorStatus(err); code != 400 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s id %d: %v (HTTP %d), want a bad request mentioning %s", tc.input, tc.id, err, code, tc.want)
		}
	}
}
