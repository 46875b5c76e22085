package modelfile

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mlenv/mlenv/data"
	"github.com/mlenv/mlenv/models"
)

// fixture writes a small synthetic file, fits transforms for a dense,
// categorical, bucketised and multi_hot feature set, and builds arch.
func fixture(t *testing.T, arch string, params map[string]any) (*Model, data.Source) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ctr.parquet")
	if _, err := data.WriteSynthetic(path, data.SynthOptions{Rows: 300, Seed: 4, MultiHot: true}); err != nil {
		t.Fatal(err)
	}
	src := data.Source{Path: path, Format: data.FormatParquet}
	vocab := data.Vocab{MinCount: 1, OOVBuckets: 2}
	feats := []data.Feature{
		{Name: "I1", Column: "I1", Type: data.Numeric, Log: true, Normalize: data.NormStandard},
		{Name: "I2", Column: "I2", Type: data.Numeric, Normalize: data.NormMinMax},
		{Name: "I3b", Column: "I3", Type: data.Numeric, Buckets: data.Buckets{Quantiles: 4}},
		{Name: "C1", Column: "C1", Type: data.Categorical, Vocab: vocab},
		{Name: "C2", Column: "C2", Type: data.Categorical, HashBuckets: 50},
		{Name: "tags", Column: "tags", Type: data.MultiHot, Vocab: vocab},
	}
	tr, _, err := data.Fit(context.Background(), src, feats, data.Label{Name: "label", Type: data.Binary}, data.FitOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	net, err := models.Build(arch, params, tr.Schema(), 9)
	if err != nil {
		t.Fatal(err)
	}
	return New("ctr", arch, params, tr, net), src
}

// rawRows reads the source's rows as a client would send them.
func rawRows(t *testing.T, src data.Source, columns []string) []map[string]any {
	t.Helper()
	var rows []map[string]any
	for rec, err := range src.Records(columns) {
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, rec.Raw(columns))
	}
	return rows
}

// fileBatch reads the whole source as one batch through the loader.
func fileBatch(t *testing.T, m *Model, src data.Source) *data.Batch {
	t.Helper()
	l, err := data.NewLoader(m.Meta.Transforms, src, data.LoaderOptions{BatchSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for b, err := range l.Batches(context.Background(), 0) {
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	t.Fatal("no batch")
	return nil
}

// Raw rows through Predict give exactly the batch predictions of the same
// rows read by the training pipeline, and a saved and loaded artifact
// predicts exactly what the original did.
func TestRoundTripAndRawRows(t *testing.T) {
	for _, tc := range []struct {
		arch   string
		params map[string]any
	}{
		{"mlp", map[string]any{"hidden": []any{16}, "embedding_dim": 4}},
		{"dlrm", map[string]any{"bottom": []any{8}, "top": []any{8}, "embedding_dim": 4}},
		{"seq_transformer", map[string]any{"sequence": "tags", "max_len": 4, "embedding_dim": 4}},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			m, src := fixture(t, tc.arch, tc.params)
			want, err := m.PredictBatch(fileBatch(t, m, src))
			if err != nil {
				t.Fatal(err)
			}
			var cols []string
			for _, c := range m.Meta.Signature.Inputs {
				cols = append(cols, c.Name)
			}
			rows := rawRows(t, src, cols)
			got, err := m.Predict(rows)
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "raw rows vs file batch", got, want)

			dir := filepath.Join(t.TempDir(), "model")
			if err := m.Save(dir); err != nil {
				t.Fatal(err)
			}
			loaded, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			again, err := loaded.Predict(rows)
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "loaded vs original", again, want)
			if loaded.Meta.Arch != tc.arch || loaded.Meta.Version == "" || loaded.Meta.Signature.Output != (Output{Kind: "probability", Width: 1}) {
				t.Errorf("meta %+v", loaded.Meta)
			}
		})
	}
}

func equal(t *testing.T, what string, got, want [][]float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d predictions vs %d", what, len(got), len(want))
	}
	for i := range got {
		if !slices.Equal(got[i], want[i]) {
			t.Fatalf("%s: row %d: %v vs %v", what, i, got[i], want[i])
		}
	}
	if p := want[0][0]; p <= 0 || p >= 1 {
		t.Errorf("%s: %v is not a probability", what, p)
	}
}

func TestPredictBadRow(t *testing.T) {
	m, _ := fixture(t, "logistic", nil)
	_, err := m.Predict([]map[string]any{{"I1": 1.0, "I2": 2.0, "I3": 1.0, "C1": "a", "C2": "b", "tags": []string{"x"}}, {"I1": "many"}})
	if err == nil || !strings.Contains(err.Error(), "row 1") {
		t.Errorf("err = %v, want one naming row 1", err)
	}
}

func TestLoadErrors(t *testing.T) {
	m, _ := fixture(t, "logistic", nil)
	dir := t.TempDir()
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	rewrite := func(edit func(map[string]any)) {
		b, _ := os.ReadFile(filepath.Join(dir, MetaFile))
		var meta map[string]any
		if err := json.Unmarshal(b, &meta); err != nil {
			t.Fatal(err)
		}
		edit(meta)
		b, _ = json.Marshal(meta)
		os.WriteFile(filepath.Join(dir, MetaFile), b, 0o644)
	}
	rewrite(func(m map[string]any) { m["arch"] = "mine" })
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), `unknown architecture "mine"`) {
		t.Errorf("unknown arch: %v", err)
	}
	rewrite(func(m map[string]any) { m["format"] = 99 })
	if _, err := Load(dir); !errors.Is(err, ErrFormat) {
		t.Errorf("format 99: %v, want ErrFormat", err)
	}
	if _, err := Load(t.TempDir()); err == nil {
		t.Error("empty directory loaded")
	}
}
