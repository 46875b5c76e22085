package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mlenv/mlenv/launch"
)

// faultSpec is the example with deterministic SGD, many small steps and
// frequent checkpoints, so that a worker can be killed between two
// checkpoints.
func faultSpec(t *testing.T) string {
	t.Helper()
	dir := jobSpec(t, "{workers: 2}")
	b, err := os.ReadFile("job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, r := range [][2]string{
		{"optimizer: adam", "optimizer: sgd"}, {"learning_rate: 0.002", "learning_rate: 0.05"},
		{"batch_size: 256", "batch_size: 16"}, {"epochs: 1", "epochs: 2"}, {"eval_every: 100", "eval_every: 0"},
		{"  early_stopping: {metric: auc, patience: 3}\n", ""}, {"  seed: 1\n", "  seed: 1\n  checkpoint_every: 5\n"},
	} {
		if !strings.Contains(s, r[0]) {
			t.Fatalf("example spec lacks %q", r[0])
		}
		s = strings.Replace(s, r[0], r[1], 1)
	}
	if err := os.WriteFile("job.yaml", []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// workerPID finds the process of the given rank and restart of local job
// id by its environment (Linux /proc); 0 when there is none.
func workerPID(id launch.JobID, rank, restart int) int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	want := []string{launch.EnvJobID + "=" + string(id), "MLENV_RANK=" + strconv.Itoa(rank), "MLENV_RESTART_COUNT=" + strconv.Itoa(restart)}
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "environ"))
		if err != nil {
			continue
		}
		env := strings.Split(string(b), "\x00")
		if !slices.ContainsFunc(want, func(kv string) bool { return !slices.Contains(env, kv) }) {
			pid, _ := strconv.Atoi(filepath.Base(d))
			return pid
		}
	}
	return 0
}

// submitTrainJob submits a local job training job.yaml into out and
// returns its id.
func submitTrainJob(t *testing.T, stateDir, out string, maxRestarts int) launch.JobID {
	t.Helper()
	code, stdout, stderr := runCLI(t, "jobs", "--state-dir", stateDir, "submit", "--json", "--workers", "2",
		"--max-restarts", strconv.Itoa(maxRestarts), "--", "train", "--no-tracking", "--out", out,
		"--checkpoint-dir", out+"-checkpoints", filepath.Join(must(os.Getwd()), "job.yaml"))
	if code != exitOK {
		t.Fatalf("jobs submit: code %d: %s", code, stderr)
	}
	var st launch.Status
	if err := json.Unmarshal([]byte(stdout), &st); err != nil {
		t.Fatalf("jobs submit --json printed %q: %v", stdout, err)
	}
	return st.ID
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// waitJobEnd polls job id until it reaches a final state.
func waitJobEnd(t *testing.T, stateDir string, id launch.JobID) launch.Status {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		code, out, stderr := runCLI(t, "jobs", "--state-dir", stateDir, "status", "--json", string(id))
		if code != exitOK {
			t.Fatalf("jobs status: code %d: %s", code, stderr)
		}
		var st launch.Status
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatal(err)
		}
		if st.State.Final() {
			return st
		}
	}
	t.Fatalf("job %s did not end in 2 minutes", id)
	return launch.Status{}
}

// Killing a worker (SIGKILL) in the middle of training restarts both
// workers from the last checkpoint, and the job ends with the same
// parameters as an uninterrupted run.
func TestJobSurvivesKilledWorker(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("finds the worker process through /proc")
	}
	t.Setenv(envCLIMain, "1")
	dir := faultSpec(t)
	state := t.TempDir()

	clean := submitTrainJob(t, state, filepath.Join(dir, "clean"), 0)
	if st := waitJobEnd(t, state, clean); st.State != launch.Succeeded {
		t.Fatalf("uninterrupted job: %+v", st)
	}

	killed := submitTrainJob(t, state, filepath.Join(dir, "killed"), 1)
	checkpoints := filepath.Join(dir, "killed-checkpoints")
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint within a minute")
		}
		if m, _ := filepath.Glob(filepath.Join(checkpoints, "step-*")); len(m) > 0 {
			break
		}
	}
	pid := workerPID(killed, 1, 0)
	if pid == 0 {
		t.Fatal("rank 1 of the first attempt is not running after the first checkpoint")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st := waitJobEnd(t, state, killed)
	if st.State != launch.Succeeded || st.Restarts != 1 {
		code, logs, _ := runCLI(t, "jobs", "--state-dir", state, "logs", string(killed))
		t.Fatalf("killed job: %+v, want succeeded after 1 restart; logs (code %d):\n%s", st, code, logs)
	}
	want := must(os.ReadFile(filepath.Join(dir, "clean", "weights.safetensors")))
	got := must(os.ReadFile(filepath.Join(dir, "killed", "weights.safetensors")))
	if !bytes.Equal(got, want) {
		t.Error("the restarted job's weights differ from the uninterrupted job's")
	}
}
