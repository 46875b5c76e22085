package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlenv/mlenv/data"
	"github.com/mlenv/mlenv/modelfile"
)

// inCTRDir makes a temporary working directory holding the synthetic data
// the example specs read (small files, so that the example trains fast).
func inCTRDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir("mlenv-data", 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		name string
		rows int
		seed uint64
	}{{"ctr-train.parquet", 4000, 1}, {"ctr-valid.parquet", 1000, 2}} {
		if _, err := data.WriteSynthetic(filepath.Join("mlenv-data", f.name), data.SynthOptions{Rows: f.rows, Seed: f.seed}); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func exampleSpec(t *testing.T) string {
	t.Helper()
	path, err := filepath.Abs("../examples/ctr-mlp.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTrainExampleSpec(t *testing.T) {
	spec := exampleSpec(t)
	dir := inCTRDir(t)
	code, out, stderr := runCLI(t, "train", spec)
	if code != exitOK {
		t.Fatalf("train: code %d, stderr %q", code, stderr)
	}
	if !strings.Contains(out, "step ") || !strings.Contains(out, " auc 0.") || !strings.Contains(out, "model: mlenv-models/ctr-mlp") {
		t.Errorf("output:\n%s", out)
	}
	m, err := modelfile.Load(filepath.Join(dir, "mlenv-models", "ctr-mlp"))
	if err != nil {
		t.Fatal(err)
	}
	row := map[string]any{"I1": 3, "C1": "x"}
	if p, err := m.Predict([]map[string]any{row}); err != nil || len(p) != 1 || p[0][0] <= 0 || p[0][0] >= 1 {
		t.Errorf("predict %v: %v, %v", row, p, err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".mlenv", "checkpoints", "ctr-mlp")); err != nil {
		t.Errorf("no checkpoint directory: %v", err)
	}

	out2 := filepath.Join(dir, "elsewhere")
	code, out, stderr = runCLI(t, "train", spec, "--out", out2, "--json")
	if code != exitOK || !strings.Contains(out, `"model": "`+out2+`"`) || !strings.Contains(out, `"auc": 0.`) {
		t.Errorf("--json: code %d, out %q, stderr %q", code, out, stderr)
	}
}

func TestTrainDryRun(t *testing.T) {
	code, out, stderr := runCLI(t, "train", exampleSpec(t), "--dry-run")
	if code != exitOK || !strings.Contains(out, "arch: mlp") || !strings.Contains(out, "shuffle_buffer: 10000") {
		t.Errorf("dry run: code %d, out %q, stderr %q", code, out, stderr)
	}
}

func TestTrainBadSpecs(t *testing.T) {
	inCTRDir(t)
	base := `name: bad
data:
  train: {path: mlenv-data/ctr-train.parquet}
  features:
    - {name: I1, type: numeric}
model:
  arch: mlp
  params:
    hidden: [8, 0]
training: {steps: 2}
`
	for _, tc := range []struct {
		name, spec, want string
	}{
		{"model param", base, "job.yaml:9:17: model.params.hidden[1]: 0 is too small"},
		{"unknown arch", strings.Replace(base, "arch: mlp", "arch: gbdt", 1), "job.yaml:7:9: model.arch"},
		{"missing data", strings.Replace(base, "ctr-train", "nothing", 1), "nothing.parquet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile("job.yaml", []byte(tc.spec), 0o644); err != nil {
				t.Fatal(err)
			}
			code, _, stderr := runCLI(t, "train", "job.yaml")
			if code != exitError || !strings.Contains(stderr, tc.want) {
				t.Errorf("code %d, stderr %q, want it to contain %q", code, stderr, tc.want)
			}
		})
	}
}
