package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/mlenv/mlenv/cli"
	"github.com/mlenv/mlenv/data"
	"github.com/mlenv/mlenv/modelfile"
	"github.com/mlenv/mlenv/train"
)

// The custom architecture trains through the unchanged mlenv CLI, and its
// artifact loads (in this binary, where "fm" is registered) and ranks
// held-out clicks well above chance.
func TestCustomModelTrainsFromCLI(t *testing.T) {
	spec, err := filepath.Abs("fm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir("mlenv-data", 0o755); err != nil {
		t.Fatal(err)
	}
	valid := data.Source{Path: filepath.Join("mlenv-data", "ctr-valid.parquet"), Format: data.FormatParquet}
	if _, err := data.WriteSynthetic(filepath.Join("mlenv-data", "ctr-train.parquet"), data.SynthOptions{Rows: 20000, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := data.WriteSynthetic(valid.Path, data.SynthOptions{Rows: 3000, Seed: 2}); err != nil {
		t.Fatal(err)
	}
	if code := cli.Main([]string{"train", spec, "--out", "model"}); code != 0 {
		t.Fatalf("mlenv train exited with %d", code)
	}
	m, err := modelfile.Load("model")
	if err != nil {
		t.Fatal(err)
	}
	if m.Meta.Arch != "fm" {
		t.Errorf("artifact arch %q", m.Meta.Arch)
	}
	l, err := data.NewLoader(m.Meta.Transforms, valid, data.LoaderOptions{BatchSize: 3000})
	if err != nil {
		t.Fatal(err)
	}
	for b, err := range l.Batches(context.Background(), 0) {
		if err != nil {
			t.Fatal(err)
		}
		p, err := m.PredictBatch(b)
		if err != nil {
			t.Fatal(err)
		}
		scores := make([]float32, len(p))
		for i := range p {
			scores[i] = p[i][0]
		}
		if auc := train.AUC(scores, b.Labels); auc < 0.68 {
			t.Errorf("validation AUC %.4f, want above 0.68", auc)
		}
	}
}
