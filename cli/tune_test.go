package cli

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/tunejob"
)

// tuneSpec writes the tuning example shortened to 200 steps (rungs at 50
// and 150) into the working directory; example is its path.
func tuneSpec(t *testing.T, example string) string {
	t.Helper()
	b, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer("steps: 1350", "steps: 200", "min_resource: 150", "min_resource: 50").Replace(string(b))
	if err := os.WriteFile("tune.yaml", []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return "tune.yaml"
}

func TestTuneStudyTrackedAndResumed(t *testing.T) {
	example := exampleSpec(t, "ctr-mlp-tune.yaml")
	dir := inCTRDir(t)
	spec := tuneSpec(t, example)
	code, out, stderr := runCLI(t, "tune", spec, "--trials", "4", "--parallel", "2", "--sampler", "random", "--json")
	if code != exitOK {
		t.Fatalf("tune: exit %d: %s", code, stderr)
	}
	var sum tunejob.Summary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(sum.Trials) != 4 || sum.Best == nil || sum.Best.Params["lr"] == "" || sum.TotalSteps == 0 {
		t.Fatalf("summary %+v", sum)
	}
	for _, tr := range sum.Trials {
		if tr.State == "complete" && tr.Value > sum.Best.Value {
			t.Errorf("trial %d beats the best: %+v", tr.Number, sum)
		}
	}
	checkStudyRuns(t, filepath.Join(dir, ".mlenv"), sum)

	if code, _, stderr := runCLI(t, "tune", spec, "--trials", "4"); code != exitError || !strings.Contains(stderr, "--resume") {
		t.Errorf("second study of the same name: exit %d, %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "tune", spec, "--trials", "5", "--resume", "--json"); code != exitOK {
		t.Fatalf("resume: exit %d: %s", code, stderr)
	}
	code, out, stderr = runCLI(t, "tune", "status", "ctr-mlp-tune", "--json")
	if err := json.Unmarshal([]byte(out), &sum); code != exitOK || err != nil || len(sum.Trials) != 5 {
		t.Errorf("status after resume: exit %d, %v, %s %s", code, err, out, stderr)
	}
	code, out, _ = runCLI(t, "tune", "best", "ctr-mlp-tune")
	if code != exitOK || !strings.Contains(out, "best trial ") || !strings.Contains(out, "  lr: ") {
		t.Errorf("best: exit %d:\n%s", code, out)
	}
	if code, _, stderr := runCLI(t, "tune", spec, "--pruner", "fast"); code != exitUsage || !strings.Contains(stderr, `--pruner "fast"`) {
		t.Errorf("bad --pruner: exit %d, %s", code, stderr)
	}
}

// checkStudyRuns checks through the tracking store that every trial is a
// run nested under the study's run, with its sampled params, and that the
// study's run holds the best value and the importances.
func checkStudyRuns(t *testing.T, dir string, sum tunejob.Summary) {
	t.Helper()
	runs := experimentRuns(t, dir, "ctr-tune")
	if len(runs) != 1+len(sum.Trials) {
		t.Fatalf("%d runs; want the study's and %d trials'", len(runs), len(sum.Trials))
	}
	var parent string
	for _, r := range runs {
		if runTag(r, tagParentRun) == "" {
			parent = r.Info.RunID
			if r.Info.Status != "FINISHED" || runTag(r, tagImportance) == "" || runTag(r, tagBestTrial) == "" {
				t.Errorf("study run %+v tags %v", r.Info, r.Tags)
			}
		}
	}
	for _, r := range runs {
		if r.Info.RunID == parent {
			continue
		}
		if runTag(r, tagParentRun) != parent || runTag(r, tunejob.TagState) == "" {
			t.Errorf("trial run %s: tags %v, want parent %s", r.Info.RunName, r.Tags, parent)
		}
		has := map[string]bool{}
		for _, p := range r.Params {
			has[p.Key] = true
		}
		if !has["lr"] || !has["hidden"] || !has["weight_decay"] || !has["model.hidden"] {
			t.Errorf("trial run %s params %v", r.Info.RunName, r.Params)
		}
	}
}

// experimentRuns returns the runs of the named experiment in the embedded
// tracking store under dir.
func experimentRuns(t *testing.T, dir, experiment string) []store.Run {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:///"+filepath.Join(dir, "mlenv.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	exp, err := st.GetExperimentByName(ctx, experiment)
	if err != nil {
		t.Fatal(err)
	}
	runs, _, err := st.SearchRuns(ctx, store.RunSearch{ExperimentIDs: []string{exp.ID}})
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

// runTag returns the value of r's tag key, or "".
func runTag(r store.Run, key string) string {
	for _, tg := range r.Tags {
		if tg.Key == key {
			return tg.Value
		}
	}
	return ""
}

// A tuner killed with SIGKILL mid-study resumes with --resume: the trials
// finished before the kill are kept, the one cut short runs again, and the
// new trials' runs nest under the study's first run.
func TestTuneResumeAfterKill(t *testing.T) {
	t.Setenv(envCLIMain, "1")
	example := exampleSpec(t, "ctr-mlp-tune.yaml")
	dir := inCTRDir(t)
	b, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	spec := strings.Replace(string(b), "steps: 1350", "steps: 600", 1)
	if err := os.WriteFile("tune.yaml", []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "tune", "tune.yaml", "--trials", "3", "--pruner", "none")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	study := tunejob.StudyDir(filepath.Join(dir, ".mlenv"), "ctr-mlp-tune")
	deadline := time.Now().Add(time.Minute)
	for {
		b, _ := os.ReadFile(filepath.Join(study, "trials.jsonl"))
		if strings.Contains(string(b), `"state":"complete"`) {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no trial completed in a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	meta, err := tunejob.ReadMeta(study)
	if err != nil || meta.ParentRunID == "" {
		t.Fatalf("study after the kill: %+v, %v", meta, err)
	}

	code, out, stderr := runCLI(t, "tune", "tune.yaml", "--trials", "3", "--pruner", "none", "--resume", "--json")
	var sum tunejob.Summary
	if err := json.Unmarshal([]byte(out), &sum); code != exitOK || err != nil {
		t.Fatalf("resume: exit %d, %v: %s", code, err, stderr)
	}
	complete := 0
	for _, tr := range sum.Trials {
		if tr.State == "complete" {
			complete++
		}
	}
	if complete != 3 || sum.Best == nil {
		t.Errorf("after resume: %+v, want 3 complete trials", sum.Trials)
	}
	if again, _ := tunejob.ReadMeta(study); again.ParentRunID != meta.ParentRunID {
		t.Errorf("resume replaced the study's run %s with %s", meta.ParentRunID, again.ParentRunID)
	}
	trials := map[string]int{}
	for _, r := range experimentRuns(t, filepath.Join(dir, ".mlenv"), "ctr-tune") {
		if n := runTag(r, tunejob.TagTrial); n != "" {
			trials[n]++
			if r.Info.Status == "RUNNING" {
				t.Errorf("trial run %s is still RUNNING after the resumed study ended", r.Info.RunName)
			}
			if runTag(r, tagParentRun) != meta.ParentRunID {
				t.Errorf("trial run %s is not nested under the study's run %s: %v", r.Info.RunName, meta.ParentRunID, r.Tags)
			}
		}
	}
	// Every tracked trial is one run, and every trial that ran to the end
	// has its run. A trial interrupted by the kill may have none: SIGKILL
	// can land after the study recorded it and before its run was created.
	for n, runs := range trials {
		if runs != 1 {
			t.Errorf("trial %s has %d tracked runs, want 1", n, runs)
		}
	}
	for _, tr := range sum.Trials {
		if tr.State == "complete" && trials[strconv.Itoa(tr.Number)] == 0 {
			t.Errorf("complete trial %d has no tracked run (tracked: %v)", tr.Number, trials)
		}
	}
}
