package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlenv/mlenv/data"
)

func TestDataSynthInspectCheck(t *testing.T) {
	dir := t.TempDir()
	train := filepath.Join(dir, "train.parquet")
	code, out, stderr := runCLI(t, "data", "synth", "--rows", "3000", "--out", train, "--seed", "5", "--multi-hot")
	if code != exitOK || !strings.Contains(out, "wrote 3000 rows to "+train) || !strings.Contains(out, "Bayes-optimal AUC 0.") {
		t.Fatalf("synth: code %d, out %q, stderr %q", code, out, stderr)
	}
	var info data.SynthInfo
	b, err := os.ReadFile(train + ".json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &info); err != nil || info.Rows != 3000 || info.BayesAUC <= 0.5 {
		t.Fatalf("statistics file: %v %+v", err, info)
	}
	valid := filepath.Join(dir, "valid.csv")
	if code, _, stderr := runCLI(t, "data", "synth-ctr", "--rows", "500", "--out", valid, "--seed", "6", "--sequence"); code != exitOK {
		t.Fatalf("synth csv: %s", stderr)
	}

	code, out, _ = runCLI(t, "data", "inspect", valid, "--rows", "2")
	if code != exitOK || !strings.Contains(out, "csv, 500 rows, 42 columns") || !strings.Contains(out, "C1       string") ||
		!strings.Contains(out, "I1       number") || !strings.Contains(out, "history  string") || !strings.Contains(out, "first 2 rows:") {
		t.Errorf("inspect csv:\n%s", out)
	}
	code, out, _ = runCLI(t, "data", "inspect", train, "--json")
	var fi data.FileInfo
	if code != exitOK || json.Unmarshal([]byte(out), &fi) != nil || fi.Rows != 3000 || len(fi.Sample) != 5 {
		t.Errorf("inspect parquet --json: %s", out)
	}

	spec := filepath.Join(dir, "job.yaml")
	os.WriteFile(spec, []byte(`name: t
data:
  train: {path: `+train+`}
  validation: {path: `+valid+`}
  features:
    - {name: I1, type: numeric, log: true}
    - {name: C1, type: categorical}
    - {name: C2, type: categorical, hash_buckets: 64}
model: {arch: dlrm}
training: {batch_size: 256}
`), 0o644)
	code, out, stderr = runCLI(t, "data", "validate-spec", spec)
	if code != exitOK || !strings.Contains(out, "batch_size: 256") || !strings.Contains(out, "optimizer: adam") {
		t.Errorf("validate-spec: %d %q %q", code, out, stderr)
	}
	tr := filepath.Join(dir, "transforms.json")
	code, out, stderr = runCLI(t, "data", "check", spec, "--transforms-out", tr, "--epochs", "2")
	for _, want := range []string{"fit on " + train + ": 3000 rows, 0 skipped", "inputs: 1 dense, 2 categorical (C1:", "C2:64)",
		"train epoch 1: 3000 rows in 12 batches, 0 skipped", "train epoch 2: 3000 rows in 12 batches", "validation: 500 rows in 2 batches"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s%s", want, out, stderr)
		}
	}
	var fitted data.Transforms
	if b, err := os.ReadFile(tr); err != nil || json.Unmarshal(b, &fitted) != nil || len(fitted.Features) != 3 {
		t.Errorf("transforms file: %v", err)
	}
}

func TestDataErrors(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "bad.yaml")
	os.WriteFile(spec, []byte("name: t\nmodel: {arch: gpt}\ntraining: {batch_size: -1}\n"), 0o644)
	code, _, stderr := runCLI(t, "data", "validate-spec", spec)
	if code != exitError {
		t.Errorf("exit code %d", code)
	}
	for _, want := range []string{
		spec + `:2:15: model.arch: "gpt" is not allowed (allowed: cnn,`,
		spec + ":3:24: training.batch_size: -1 is too small (minimum 1)",
		spec + ":1:1: data.train.path: required",
		"mlenv: " + spec + ": 4 problems",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if code, _, stderr := runCLI(t, "data", "synth", "--rows", "0", "--out", "x.csv"); code != exitUsage || !strings.Contains(stderr, "--rows 0") {
		t.Errorf("--rows 0: %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "data", "check", spec, "--epochs", "0"); code != exitUsage || !strings.Contains(stderr, "--epochs 0") {
		t.Errorf("--epochs 0: %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "data", "inspect", filepath.Join(dir, "x.bin")); code != exitError || !strings.Contains(stderr, "cannot tell the format") {
		t.Errorf("inspect x.bin: %d %s", code, stderr)
	}
}
