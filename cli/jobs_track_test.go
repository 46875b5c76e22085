package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlenv/mlenv/launch"
	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/track"
)

// trackedJobs serves a tracking server over a temporary directory and
// returns its URI, a client and the directory of its artifacts.
func trackedJobs(t *testing.T) (string, *track.Client, string) {
	t.Helper()
	dir := t.TempDir()
	uri, stop, err := serveEmbedded(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	c, err := track.NewClient(uri, track.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return uri, c, filepath.Join(dir, "artifacts")
}

// jobRunOf returns the run of job id in experiment mlenv-jobs, with its
// tags as a map.
func jobRunOf(t *testing.T, c *track.Client, id launch.JobID) (store.Run, map[string]string) {
	t.Helper()
	ctx := context.Background()
	exp, err := c.GetExperimentByName(ctx, jobsExperiment)
	if err != nil {
		t.Fatal(err)
	}
	runs, _, err := c.SearchRuns(ctx, store.RunSearch{ExperimentIDs: []string{exp.ExperimentID},
		Search: store.Search{Filter: "tags.`mlenv.job.id` = '" + string(id) + "'"}})
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs of job %s: %v, %v", id, runs, err)
	}
	tags := map[string]string{}
	for _, tag := range runs[0].Tags {
		tags[tag.Key] = tag.Value
	}
	return runs[0], tags
}

func metric(r store.Run, key string) (float64, bool) {
	for _, m := range r.Metrics {
		if m.Key == key {
			return float64(m.Value), true
		}
	}
	return 0, false
}

// A job submitted with a tracking server is a run of mlenv-jobs whose
// status, tags, metrics and log artifacts follow the job, and list and
// status read jobs back from the server.
func TestJobsRecordedOnTrackingServer(t *testing.T) {
	t.Setenv(envCLIMain, "1")
	uri, c, artifacts := trackedJobs(t)
	state := t.TempDir()

	code, out, stderr := runCLI(t, "jobs", "--state-dir", state, "--uri", uri, "list", "--json")
	if code != exitOK || strings.TrimSpace(out) != "[]" {
		t.Errorf("list before any job: exit %d: %q %s", code, out, stderr)
	}
	code, _, stderr = runCLI(t, "jobs", "--state-dir", state, "--uri", uri, "status", "no-such-job")
	if code != exitError || !strings.Contains(stderr, "job not found") {
		t.Errorf("status of an unknown job: exit %d: %s", code, stderr)
	}

	code, out, stderr = runCLI(t, "jobs", "--state-dir", state, "--uri", uri, "submit", "--workers", "2", "--wait", "--json", "--", "version")
	if code != exitOK {
		t.Fatalf("submit --wait: exit %d: %s", code, stderr)
	}
	var ok launch.Status
	if err := json.Unmarshal([]byte(out), &ok); err != nil {
		t.Fatal(err)
	}
	run, tags := jobRunOf(t, c, ok.ID)
	if run.Info.Status != "FINISHED" || tags["mlenv.job.state"] != "succeeded" || tags["mlenv.job.workers"] != "2" || tags["mlenv.job.executor"] != "local" {
		t.Errorf("run of the succeeded job: %+v, tags %v", run.Info, tags)
	}
	if v, found := metric(run, "exit_code"); !found || v != 0 {
		t.Errorf("exit_code metric %v (found %v), want 0", v, found)
	}
	for _, rank := range []string{"0", "1"} {
		m, _ := filepath.Glob(filepath.Join(artifacts, "*", run.Info.RunID, "artifacts", "logs", "rank-"+rank+".log"))
		if len(m) != 1 {
			t.Fatalf("logs/rank-%s.log not uploaded", rank)
		}
		if b, err := os.ReadFile(m[0]); err != nil || !strings.HasPrefix(string(b), "mlenv ") {
			t.Errorf("logs/rank-%s.log = %q, %v; want the worker's unprefixed output", rank, b, err)
		}
	}

	// A failing job submitted without --wait: its supervisor or a later
	// status ends the run.
	code, out, stderr = runCLI(t, "jobs", "--state-dir", state, "--uri", uri, "submit", "--json", "--", "no-such-command")
	if code != exitOK {
		t.Fatalf("submit: exit %d: %s", code, stderr)
	}
	var failed launch.Status
	if err := json.Unmarshal([]byte(out), &failed); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); !failed.State.Final(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("job %s did not end", failed.ID)
		}
		code, out, stderr = runCLI(t, "jobs", "--state-dir", state, "--uri", uri, "status", "--json", string(failed.ID))
		if code != exitOK || json.Unmarshal([]byte(out), &failed) != nil {
			t.Fatalf("status: exit %d: %s %s", code, out, stderr)
		}
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		run, tags = jobRunOf(t, c, failed.ID)
		if run.Info.Status != "RUNNING" || time.Now().After(deadline) {
			break
		}
	}
	if v, _ := metric(run, "exit_code"); run.Info.Status != "FAILED" || tags["mlenv.job.state"] != "failed" || v != exitUsage {
		t.Errorf("run of the failed job: %+v, tags %v, exit_code %v", run.Info, tags, v)
	}

	// Another state directory knows neither job; the server does.
	other := t.TempDir()
	code, out, stderr = runCLI(t, "jobs", "--state-dir", other, "--uri", uri, "list")
	if code != exitOK || !strings.Contains(out, string(ok.ID)) || !strings.Contains(out, string(failed.ID)) {
		t.Errorf("list from the server: exit %d: %s%s", code, out, stderr)
	}
	code, out, stderr = runCLI(t, "jobs", "--state-dir", other, "--uri", uri, "status", string(ok.ID))
	if code != exitOK || !strings.Contains(out, "state:     succeeded") {
		t.Errorf("status from the server: exit %d: %s%s", code, out, stderr)
	}
	code, _, _ = runCLI(t, "jobs", "--state-dir", other, "list", "--uri", "file:///tmp/x")
	if code != exitUsage {
		t.Errorf("list --uri file:///tmp/x: exit %d, want %d", code, exitUsage)
	}
}

func TestSplitJobLog(t *testing.T) {
	dir := t.TempDir()
	log := "[mlenv] restart 1 of 1\n[rank 0] a\n[rank 1] b\n 1: c\n0: d\n[rank 10] e\n"
	if err := splitJobLog(strings.NewReader(log), dir); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"job.log": log, "rank-0.log": "a\nd\n", "rank-1.log": "b\nc\n", "rank-10.log": "e\n"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", name, b, err, want)
		}
	}
}

// A running job's supervisor uploads its logs while it runs, so that the
// run's page shows them before the job ends; cancelling it ends the run.
func TestJobsLogsUploadedWhileRunning(t *testing.T) {
	t.Setenv(envCLIMain, "1")
	uri, c, artifacts := trackedJobs(t)
	state := t.TempDir()
	model, err := filepath.Abs("../serve/testdata/mlp.onnx")
	if err != nil {
		t.Fatal(err)
	}
	// mlenv serve prints its URLs, then serves until cancelled.
	code, out, stderr := runCLI(t, "jobs", "--state-dir", state, "--uri", uri, "submit", "--json", "--",
		"serve", model, "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0")
	if code != exitOK {
		t.Fatalf("submit: exit %d: %s", code, stderr)
	}
	var st launch.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	var logs []byte
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(string(logs), "models: mlp"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no logs/rank-0.log with the served models uploaded while the job runs (got %q)", logs)
		}
		m, _ := filepath.Glob(filepath.Join(artifacts, "*", "*", "artifacts", "logs", "rank-0.log"))
		if len(m) == 1 {
			logs, _ = os.ReadFile(m[0])
		}
	}
	if run, tags := jobRunOf(t, c, st.ID); run.Info.Status != "RUNNING" || tags["mlenv.job.state"] != "running" || tags["mlenv.job.restarts"] != "0" {
		t.Errorf("run while the job serves: %+v, tags %v", run.Info, tags)
	}
	if code, _, stderr := runCLI(t, "jobs", "--state-dir", state, "cancel", string(st.ID)); code != exitOK {
		t.Fatalf("cancel: exit %d: %s", code, stderr)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		run, tags := jobRunOf(t, c, st.ID)
		if run.Info.Status == "KILLED" && tags["mlenv.job.state"] == "cancelled" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run after cancel: %+v, tags %v", run.Info, tags)
		}
	}
}
