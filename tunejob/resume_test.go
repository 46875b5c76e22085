package tunejob

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/mlenv/mlenv/tune"
)

// envStudy makes the test binary run the study of resumeSpec in the
// directory it names and exit: the process TestResumeAfterKill kills.
const envStudy = "MLENV_TUNEJOB_STUDY"

func TestMain(m *testing.M) {
	if dir := os.Getenv(envStudy); dir != "" {
		os.Exit(runHelperStudy(dir))
	}
	os.Exit(m.Run())
}

// resumeSearch is a study of 5 trials long enough to be killed midway.
const resumeSearch = `  metric: auc
  trials: 5
  sampler: random
  params:
    - {name: lr, field: training.learning_rate, type: float, low: 0.0001, high: 0.05, log: true}
`

func runHelperStudy(dir string) int {
	storage, err := OpenTrials(dir)
	if err != nil {
		return 1
	}
	spec, err := writeSpec(dir, resumeSearch)
	if err != nil {
		return 1
	}
	spec.Training.Steps = 3000
	if _, err := Run(context.Background(), Config{Spec: spec, Storage: storage, TrainConfig: trainConfig}); err != nil {
		return 1
	}
	return 0
}

func TestResumeAfterKill(t *testing.T) {
	dir := t.TempDir()
	writeData(t, dir)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envStudy+"="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	before := waitForTrials(t, dir, 2)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if before = loadTrials(t, dir); count(before, tune.Complete) == 5 {
		t.Fatal("the study ended before it was killed")
	}

	storage, err := OpenTrials(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer storage.Close()
	res, _ := run(t, loadSpec(t, dir, resumeSearch), storage)
	after := res.Trials
	if n := count(after, tune.Complete); n != 5 {
		t.Fatalf("states after resume %v: want 5 complete", states(after))
	}
	for _, b := range before {
		a := after[b.Number]
		switch b.State {
		case tune.Complete:
			if a.State != tune.Complete || a.Value != b.Value || a.Params["lr"] != b.Params["lr"] {
				t.Errorf("finished trial %d changed on resume: %+v -> %+v", b.Number, b, a)
			}
		case tune.Running:
			if a.State != tune.Interrupted || !retried(after, b) {
				t.Errorf("trial %d running at the kill: now %s, retried %t", b.Number, a.State, retried(after, b))
			}
		}
	}
	for _, a := range after[len(before):] {
		for _, b := range before {
			if a.RetryOf == nil && a.Params["lr"] == b.Params["lr"] {
				t.Errorf("trial %d after resume repeats the point of trial %d", a.Number, b.Number)
			}
		}
	}
	if got, want := len(after), 5+count(before, tune.Running); got != want {
		t.Errorf("%d trials after resume, want %d (no finished trial repeated): %v", got, want, states(after))
	}
}

// retried reports whether a later trial evaluates b's point again.
func retried(trials []tune.Trial, b tune.Trial) bool {
	for _, tr := range trials {
		if tr.RetryOf != nil && *tr.RetryOf == b.Number && tr.Params["lr"] == b.Params["lr"] && tr.State == tune.Complete {
			return true
		}
	}
	return false
}

// loadTrials reads the study file in dir without writing to it (the
// killed process may be appending): the latest line of each trial wins and
// a torn last line is skipped.
func loadTrials(t *testing.T, dir string) []tune.Trial {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, trialsFile))
	if err != nil {
		t.Fatal(err)
	}
	var trials []tune.Trial
	for line := range bytes.Lines(b) {
		var tr tune.Trial
		if !bytes.HasSuffix(line, []byte("\n")) {
			break
		}
		if err := json.Unmarshal(line, &tr); err != nil {
			t.Fatal(err)
		}
		if tr.Number >= len(trials) {
			trials = append(trials, make([]tune.Trial, tr.Number+1-len(trials))...)
		}
		trials[tr.Number] = tr
	}
	return trials
}

// waitForTrials waits until the study in dir has n complete trials.
func waitForTrials(t *testing.T, dir string, n int) []tune.Trial {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(filepath.Join(dir, trialsFile)); err == nil {
			if trials := loadTrials(t, dir); count(trials, tune.Complete) >= n {
				return trials
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the study did not complete %d trials in a minute", n)
	return nil
}
