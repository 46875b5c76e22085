package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mlenv/mlenv/launch"
)

// envCLIMain makes the test binary behave as the mlenv binary, so that
// `jobs submit` can start it as supervisor and workers (os.Executable);
// envSleep makes a worker sleep until it is killed.
const (
	envCLIMain = "MLENV_CLI_TEST_MAIN"
	envSleep   = "MLENV_CLI_TEST_SLEEP"
)

func TestMain(m *testing.M) {
	if os.Getenv(envSleep) == "1" {
		fmt.Println("sleeping")
		time.Sleep(time.Hour)
	}
	if os.Getenv(envCLIMain) == "1" {
		os.Exit(Main(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func TestJobsSubmitWaitListStatusLogs(t *testing.T) {
	t.Setenv(envCLIMain, "1")
	dir := t.TempDir()
	code, out, stderr := runCLI(t, "jobs", "--state-dir", dir, "submit", "--workers", "2", "--wait", "--json", "--", "version")
	if code != exitOK {
		t.Fatalf("submit --wait: exit %d: %s", code, stderr)
	}
	var st launch.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("submit --json printed %q: %v", out, err)
	}
	if st.State != launch.Succeeded || st.Workers != 2 || st.Executor != "local" {
		t.Fatalf("status %+v, want a succeeded local job of 2 workers", st)
	}
	for _, rank := range []string{"[rank 0] mlenv ", "[rank 1] mlenv "} {
		if !strings.Contains(stderr, rank) {
			t.Errorf("streamed log lacks %q:\n%s", rank, stderr)
		}
	}

	code, out, _ = runCLI(t, "jobs", "--state-dir", dir, "list")
	if code != exitOK || !strings.Contains(out, string(st.ID)) || !strings.Contains(out, "succeeded") {
		t.Errorf("list: exit %d:\n%s", code, out)
	}
	code, out, _ = runCLI(t, "jobs", "--state-dir", dir, "status", string(st.ID))
	if code != exitOK || !strings.Contains(out, "state:     succeeded") {
		t.Errorf("status: exit %d:\n%s", code, out)
	}
	code, out, _ = runCLI(t, "jobs", "--state-dir", dir, "logs", string(st.ID))
	if code != exitOK || strings.Count(out, "commit:") != 2 {
		t.Errorf("logs: exit %d:\n%s", code, out)
	}
}

func TestJobsSubmitDetachedThenCancel(t *testing.T) {
	t.Setenv(envCLIMain, "1")
	dir := t.TempDir()
	code, out, stderr := runCLI(t, "jobs", "--state-dir", dir, "submit", "--json", "--workers", "2", "--env", envSleep+"=1", "--", "version")
	if code != exitOK {
		t.Fatalf("submit: exit %d: %s", code, stderr)
	}
	var st launch.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, out, _ = runCLI(t, "jobs", "--state-dir", dir, "logs", string(st.ID))
		if strings.Count(out, "sleeping") == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("workers did not start; log:\n%s", out)
		}
	}
	code, out, _ = runCLI(t, "jobs", "--state-dir", dir, "status", string(st.ID))
	if code != exitOK || !strings.Contains(out, "state:     running") {
		t.Fatalf("status of a running detached job: exit %d:\n%s", code, out)
	}
	code, out, stderr = runCLI(t, "jobs", "--state-dir", dir, "cancel", string(st.ID))
	if code != exitOK || strings.TrimSpace(out) != string(st.ID)+" cancelled" {
		t.Fatalf("cancel: exit %d: %q %s", code, out, stderr)
	}
}

func TestJobsBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		code int
		has  string
	}{
		{[]string{"submit", "--executor", "mars", "--", "version"}, exitUsage, `--executor "mars"`},
		{[]string{"submit", "--workers", "0", "--", "version"}, exitUsage, "--workers 0"},
		{[]string{"submit", "--env", "NOEQUALS", "--", "version"}, exitUsage, `--env "NOEQUALS"`},
		{[]string{"submit"}, exitUsage, "requires at least 1 arg"},
		{[]string{"status", "no-such-job"}, exitError, "not found"},
		{[]string{"logs", "../etc"}, exitError, "not found"},
	} {
		code, _, stderr := runCLI(t, append([]string{"jobs", "--state-dir", dir}, c.args...)...)
		if code != c.code || !strings.Contains(stderr, c.has) {
			t.Errorf("jobs %v: exit %d, stderr %q; want exit %d mentioning %q", c.args, code, stderr, c.code, c.has)
		}
	}
}

func TestJobsSubmitToSlurm(t *testing.T) {
	if os.Getenv("MLENV_TEST_SLURM") == "" {
		t.Skip("MLENV_TEST_SLURM not set: run under scripts/with-slurm.sh (make test does)")
	}
	t.Setenv(envCLIMain, "1") // sbatch passes the submitting environment on
	dir := t.TempDir()
	code, out, stderr := runCLI(t, "jobs", "--state-dir", dir, "submit", "--executor", "slurm", "--workers", "2", "--wait", "--", "version")
	if code != exitOK {
		t.Fatalf("submit --executor slurm --wait: exit %d: %s%s", code, out, stderr)
	}
	if !strings.Contains(out, "executor:  slurm") || !strings.Contains(out, "state:     succeeded") {
		t.Errorf("final status:\n%s", out)
	}
	for _, rank := range []string{"0: mlenv ", "1: mlenv "} {
		if !strings.Contains(stderr, rank) {
			t.Errorf("streamed log lacks %q:\n%s", rank, stderr)
		}
	}
}
