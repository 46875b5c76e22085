package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/mlenv/mlenv/collective"
	"github.com/mlenv/mlenv/data"
	"github.com/mlenv/mlenv/modelfile"
	"github.com/mlenv/mlenv/models"
	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/train"
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
		if _, err := data.WriteSynthetic(filepath.Join("mlenv-data", f.name), data.SynthOptions{Rows: f.rows, Seed: f.seed, MultiHot: true}); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func exampleSpec(t *testing.T, name string) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTrainExampleSpec(t *testing.T) {
	spec := exampleSpec(t, "ctr-mlp.yaml")
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
	checkTrackedRun(t, filepath.Join(dir, ".mlenv"))

	out2 := filepath.Join(dir, "elsewhere")
	code, out, stderr = runCLI(t, "train", spec, "--out", out2, "--json")
	var summary struct {
		Model   string             `json:"model"`
		RunID   string             `json:"run_id"`
		Metrics map[string]float64 `json:"metrics"`
	}
	if err := json.Unmarshal([]byte(out), &summary); code != exitOK || err != nil || summary.Model != out2 || summary.RunID == "" || summary.Metrics["auc"] < 0.5 {
		t.Errorf("--json: code %d, out %q, stderr %q", code, out, stderr)
	}
}

// Every click-through example spec trains on a small copy of its data and
// reports its model's quality metric (recall@10 for the retrieval model).
func TestTrainCTRExamples(t *testing.T) {
	specs, err := filepath.Glob(exampleSpec(t, "ctr-*.yaml"))
	if err != nil || len(specs) < 8 {
		t.Fatalf("example specs %v, %v", specs, err)
	}
	inCTRDir(t)
	for _, spec := range specs {
		t.Run(filepath.Base(spec), func(t *testing.T) {
			code, out, stderr := runCLI(t, "train", spec, "--no-tracking")
			metric := " auc 0."
			if strings.Contains(spec, "two-tower") {
				metric = " recall@10 0."
			}
			if code != exitOK || !strings.Contains(out, metric) {
				t.Errorf("code %d, out %q, stderr %q", code, out, stderr)
			}
		})
	}
}

func TestTrainDryRun(t *testing.T) {
	code, out, stderr := runCLI(t, "train", exampleSpec(t, "ctr-mlp.yaml"), "--dry-run")
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

// checkTrackedRun checks that the embedded tracking store under dir holds
// one finished run of the example with its params, metrics and model, and
// returns it.
func checkTrackedRun(t *testing.T, dir string) store.Run {
	t.Helper()
	runs := experimentRuns(t, dir, "ctr")
	if len(runs) != 1 {
		t.Fatalf("%d runs, want 1: %v", len(runs), runs)
	}
	r := runs[0]
	keys := func(n int, key func(i int) string) []string {
		var out []string
		for i := range n {
			out = append(out, key(i))
		}
		return out
	}
	params := keys(len(r.Params), func(i int) string { return r.Params[i].Key })
	metrics := keys(len(r.Metrics), func(i int) string { return r.Metrics[i].Key })
	tags := keys(len(r.Tags), func(i int) string { return r.Tags[i].Key })
	if r.Info.Status != "FINISHED" || r.Info.RunName != "ctr-mlp" || !slices.Contains(params, "model.hidden") ||
		!slices.Contains(metrics, "auc") || !slices.Contains(tags, "mlenv.version") {
		t.Errorf("run %+v\nparams %v\nmetrics %v\ntags %v", r.Info, params, metrics, tags)
	}
	for _, name := range []string{"model/model.json", "model/weights.safetensors", "job.yaml"} {
		if m, _ := filepath.Glob(filepath.Join(dir, "artifacts", "*", r.Info.RunID, "artifacts", name)); len(m) != 1 {
			t.Errorf("artifact %s not uploaded: %v", name, m)
		}
	}
	return r
}

// --resume continues from the newest checkpoint: without checkpoints it
// starts afresh, and after a finished run (whose last checkpoint is at its
// last step) it takes no further step and only evaluates.
func TestTrainResumeFlag(t *testing.T) {
	inCTRDir(t)
	spec := `name: resumable
data:
  train: {path: mlenv-data/ctr-train.parquet}
  validation: {path: mlenv-data/ctr-valid.parquet}
  features:
    - {name: I1, type: numeric}
    - {name: C1, type: categorical}
model: {arch: logistic}
training: {steps: 12, checkpoint_every: 5, eval_every: 4}
`
	if err := os.WriteFile("job.yaml", []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, "train", "job.yaml", "--no-tracking", "--checkpoint-dir", "ck", "--resume")
	if code != exitOK || !strings.Contains(out, "step 4/12") || !strings.Contains(out, "trained 12 steps") {
		t.Fatalf("fresh run: code %d, out %q, stderr %q", code, out, stderr)
	}
	if names, _ := filepath.Glob("ck/step-*"); len(names) != 2 {
		t.Errorf("checkpoints %v, want the last two (steps 10 and 12)", names)
	}
	code, out, stderr = runCLI(t, "train", "job.yaml", "--no-tracking", "--checkpoint-dir", "ck", "--resume")
	if code != exitOK || strings.Count(out, "step ") != 1 || !strings.Contains(out, "step 12/12") || !strings.Contains(out, "trained 12 steps") {
		t.Errorf("resumed run: code %d, out %q, stderr %q", code, out, stderr)
	}
	// A worker that an executor restarts after a failure resumes without
	// --resume.
	t.Setenv(collective.EnvRestartCount, "1")
	code, out, stderr = runCLI(t, "train", "job.yaml", "--no-tracking", "--checkpoint-dir", "ck")
	if code != exitOK || strings.Count(out, "step ") != 1 || !strings.Contains(out, "step 12/12") {
		t.Errorf("restarted worker: code %d, out %q, stderr %q", code, out, stderr)
	}
}

func init() {
	models.Register("custom_logistic", func(c models.Config) (models.Model, error) {
		return models.Build("logistic", nil, c.Schema, 1)
	})
}

// An architecture a custom binary registers is valid in a job spec for
// mlenv data validate-spec and mlenv train alike.
func TestCustomArchSpec(t *testing.T) {
	inCTRDir(t)
	spec := `name: custom
data:
  train: {path: mlenv-data/ctr-train.parquet}
  features:
    - {name: I1, type: numeric}
model: {arch: custom_logistic}
training: {steps: 2}
`
	if err := os.WriteFile("job.yaml", []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := runCLI(t, "data", "validate-spec", "job.yaml"); code != exitOK || !strings.Contains(out, "arch: custom_logistic") {
		t.Errorf("validate-spec: code %d, out %q, stderr %q", code, out, stderr)
	}
	if code, out, stderr := runCLI(t, "train", "job.yaml", "--no-tracking"); code != exitOK || !strings.Contains(out, "step 2") {
		t.Errorf("train: code %d, out %q, stderr %q", code, out, stderr)
	}
}

// mlenv jobs submit --workers 2 -- train runs the example data-parallel
// through the local executor: both workers train, rank 0 alone tracks the
// run (checkTrackedRun finds exactly one) and writes the model.
func TestTrainDataParallelJob(t *testing.T) {
	t.Setenv(envCLIMain, "1")
	spec := exampleSpec(t, "ctr-mlp.yaml")
	dir := inCTRDir(t)
	code, _, stderr := runCLI(t, "jobs", "--state-dir", t.TempDir(), "submit", "--workers", "2", "--wait", "--", "train", spec)
	if code != exitOK {
		t.Fatalf("jobs submit: code %d, stderr:\n%s", code, stderr)
	}
	for _, want := range []string{"[rank 0] trained ", "[rank 0] model: mlenv-models/ctr-mlp", "[rank 1] worker 1 of 2: trained "} {
		if !strings.Contains(stderr, want) {
			t.Errorf("job log lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "[rank 1] step ") {
		t.Errorf("rank 1 reported progress:\n%s", stderr)
	}
	if _, err := modelfile.Load(filepath.Join(dir, "mlenv-models", "ctr-mlp")); err != nil {
		t.Error(err)
	}
	checkTrackedRun(t, filepath.Join(dir, ".mlenv"))
}

// jobSpec makes a working directory as inCTRDir does, writes the example
// spec with resources set, trained for one epoch, into it as job.yaml and
// returns the directory.
func jobSpec(t *testing.T, resources string) string {
	t.Helper()
	example := exampleSpec(t, "ctr-mlp.yaml")
	dir := inCTRDir(t)
	b, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "epochs: 2", "epochs: 1", 1) + "resources: " + resources + "\n"
	if err := os.WriteFile("job.yaml", []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// checkJobTrain checks the rank-prefixed output of a train that submitted
// its own job, the model, and the job tags on the tracked run. rank is
// the executor's log prefix format for a rank ("[rank %d] " or Slurm's
// "%d: ").
func checkJobTrain(t *testing.T, dir, out, executor, rank string) {
	t.Helper()
	for _, want := range []string{fmt.Sprintf(rank, 0) + "trained ", fmt.Sprintf(rank, 1) + "worker 1 of 2: trained "} {
		if !strings.Contains(out, want) {
			t.Errorf("train output lacks %q:\n%s", want, out)
		}
	}
	if _, err := modelfile.Load(filepath.Join(dir, "mlenv-models", "ctr-mlp")); err != nil {
		t.Error(err)
	}
	run := checkTrackedRun(t, filepath.Join(dir, ".mlenv"))
	tags := map[string]string{}
	for _, tag := range run.Tags {
		tags[tag.Key] = tag.Value
	}
	if tags["mlenv.job.workers"] != "2" || tags["mlenv.job.executor"] != executor || tags["mlenv.job.id"] == "" ||
		tags["mlenv.spec"] != filepath.Join(dir, "job.yaml") || tags["mlenv.version"] == "" {
		t.Errorf("run tags %v: want the job's workers, executor, id, spec and version", tags)
	}
}

// The spec's resources.workers alone makes train submit a local job of
// two workers and wait for it.
func TestTrainSubmitsLocalJob(t *testing.T) {
	t.Setenv(envCLIMain, "1")
	dir := jobSpec(t, "{executor: local, workers: 2}")
	code, out, stderr := runCLI(t, "train", "--state-dir", t.TempDir(), "job.yaml")
	if code != exitOK {
		t.Fatalf("train: code %d, stderr:\n%s\nstdout:\n%s", code, stderr, out)
	}
	if !strings.Contains(stderr, "state:     succeeded") {
		t.Errorf("job status on stderr:\n%s", stderr)
	}
	checkJobTrain(t, dir, out, "local", "[rank %d] ")
}

// --executor slurm runs the same two-worker job on the real Slurm of
// scripts/with-slurm.sh.
func TestTrainSubmitsSlurmJob(t *testing.T) {
	if os.Getenv("MLENV_TEST_SLURM") == "" {
		t.Skip("MLENV_TEST_SLURM not set: run under scripts/with-slurm.sh (make test does)")
	}
	t.Setenv(envCLIMain, "1")
	dir := jobSpec(t, "{workers: 1}")
	code, out, stderr := runCLI(t, "train", "--executor", "slurm", "--workers", "2", "--state-dir", t.TempDir(), "job.yaml")
	if code != exitOK {
		t.Fatalf("train: code %d, stderr:\n%s\nstdout:\n%s", code, stderr, out)
	}
	checkJobTrain(t, dir, out, "slurm", "%d: ")
}

// A job whose workers fail makes train fail with the job's state and exit
// code.
func TestTrainJobFailure(t *testing.T) {
	t.Setenv(envCLIMain, "1")
	jobSpec(t, "{workers: 2}")
	if err := os.Remove(filepath.Join("mlenv-data", "ctr-train.parquet")); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "train", "--state-dir", t.TempDir(), "job.yaml")
	if code != exitError || !strings.Contains(stderr, " failed (exit code 1)") {
		t.Errorf("train of a job without data: code %d, stderr:\n%s", code, stderr)
	}
}

func TestTrainBadJobFlags(t *testing.T) {
	jobSpec(t, "{workers: 1}")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--executor", "mesos"}, `--executor "mesos"`},
		{[]string{"--workers", "-1"}, "--workers and --max-restarts must not be negative"},
		{[]string{"--workers", "2", "--max-restarts", "-1"}, "--workers and --max-restarts must not be negative"},
	} {
		code, _, stderr := runCLI(t, append(append([]string{"train"}, tt.args...), "job.yaml")...)
		if code != exitUsage || !strings.Contains(stderr, tt.want) {
			t.Errorf("train %v: code %d, stderr %q; want usage error %q", tt.args, code, stderr, tt.want)
		}
	}
}

// A malformed training row stops train with its file, line, row and
// column, unless the spec says bad_rows: skip; then the run trains on the
// other rows and reports how many it skipped.
func TestTrainBadData(t *testing.T) {
	t.Chdir(t.TempDir())
	var rows strings.Builder
	rows.WriteString("x,c,y\n")
	for i := range 300 {
		x := fmt.Sprint(i % 7)
		if i == 41 {
			x = "seven"
		}
		fmt.Fprintf(&rows, "%s,k%d,%d\n", x, i%3, i%2)
	}
	if err := os.WriteFile("train.csv", []byte(rows.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := `name: bad-data
data:
  train: {path: train.csv}
  features:
    - {name: x, type: numeric}
    - {name: c, type: categorical}
  label: {name: y, type: binary}
  bad_rows: %s
model: {arch: logistic}
training: {epochs: 2, batch_size: 50}
`
	for _, tc := range []struct {
		badRows  string
		code     int
		want     string
		inStderr bool
	}{
		{"fail", exitError, `train.csv:43: row 42: column "x": `, true},
		{"skip", exitOK, "trained 12 steps (2 epochs), skipping 1 malformed training rows", false},
	} {
		t.Run(tc.badRows, func(t *testing.T) {
			if err := os.WriteFile("job.yaml", []byte(fmt.Sprintf(spec, tc.badRows)), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, stderr := runCLI(t, "train", "job.yaml", "--no-tracking", "--checkpoint-dir", t.TempDir())
			got := out
			if tc.inStderr {
				got = stderr
			}
			if code != tc.code || !strings.Contains(got, tc.want) {
				t.Errorf("code %d, stdout %q, stderr %q; want code %d and %q", code, out, stderr, tc.code, tc.want)
			}
		})
	}
}

// resumableSpec is a job spec name of steps steps, with a checkpoint
// every 100 and an evaluation every 50, followed by the lines more.
func resumableSpec(name string, steps int, more string) string {
	return fmt.Sprintf(`name: %s
data:
  train: {path: mlenv-data/ctr-train.parquet}
  validation: {path: mlenv-data/ctr-valid.parquet}
  features:
    - {name: I1, type: numeric, log: true}
    - {name: C1, type: categorical}
    - {name: C2, type: categorical}
  in_memory: true
model: {arch: mlp, params: {hidden: [16], embedding_dim: 4}}
training: {optimizer: adam, steps: %d, eval_every: 50, checkpoint_every: 100}
resources: {threads: 1}
%s`, name, steps, more)
}

// SIGINT writes a checkpoint and ends train with a message naming it, and
// a crash (SIGKILL) leaves the periodic checkpoints; either way --resume
// then finishes the run with the weights, byte for byte, of an
// uninterrupted run. The interrupted runs are processes of their own (the
// test binary as mlenv), signalled after an evaluation line and planned
// too long to end before the signal lands; the resumed and the
// uninterrupted run stop at the same step after the newest checkpoint
// (the constant learning rate does not depend on the planned steps).
func TestTrainInterruptAndResume(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0)) // train sets resources.threads
	inCTRDir(t)
	spec := func(steps int) string { return resumableSpec("interrupted", steps, "") }
	for _, tc := range []struct {
		name  string
		sig   os.Signal
		after string // the evaluation line that triggers the signal
		first int    // the newest checkpoint is at least at this step
	}{
		{"SIGINT", os.Interrupt, "step 50/", 50},
		{"SIGKILL", os.Kill, "step 250/", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			job := filepath.Join(dir, "job.yaml")
			if err := os.WriteFile(job, []byte(spec(10_000_000)), 0o644); err != nil {
				t.Fatal(err)
			}
			ck := filepath.Join(dir, "ck")
			procOut, procErr, err := signalTrain(t, tc.after, tc.sig, "train", job, "--no-tracking", "--checkpoint-dir", ck, "--out", ck)
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("train did not fail: %v\nstdout %q\nstderr %q", err, procOut, procErr)
			}
			if tc.sig == os.Interrupt && (exit.ExitCode() != exitError || !strings.Contains(procErr, "interrupted; checkpoint in "+ck+", continue with --resume")) {
				t.Fatalf("interrupted run: %v\nstdout %q\nstderr %q", err, procOut, procErr)
			}
			names, _ := filepath.Glob(filepath.Join(ck, "step-*"))
			if len(names) == 0 {
				t.Fatal("no checkpoint")
			}
			var step int
			if _, err := fmt.Sscanf(filepath.Base(names[len(names)-1]), "step-%d", &step); err != nil || step < tc.first {
				t.Fatalf("checkpoints %v: want one at step %d or later", names, tc.first)
			}
			t.Logf("newest checkpoint after the signal: step %d", step)

			if err := os.WriteFile(job, []byte(spec(step+120)), 0o644); err != nil {
				t.Fatal(err)
			}
			full := filepath.Join(dir, "full")
			code, out, stderr := runCLI(t, "train", job, "--no-tracking", "--checkpoint-dir", full, "--out", full)
			if code != exitOK {
				t.Fatalf("uninterrupted run: code %d, out %q, stderr %q", code, out, stderr)
			}
			code, out, stderr = runCLI(t, "train", job, "--no-tracking", "--checkpoint-dir", ck, "--out", ck, "--resume")
			want := fmt.Sprintf("trained %d steps", step+120)
			if code != exitOK || !strings.Contains(out, want) || strings.Contains(out, fmt.Sprintf("step %d/", step)) {
				t.Fatalf("resumed run: code %d, out %q, stderr %q; want %q from step %d on", code, out, stderr, want, step)
			}
			sameModelWeights(t, full, ck)
		})
	}
}

// sameModelWeights checks that the model artifacts in dirs full (an
// uninterrupted run's) and resumed have the same weights file, byte for
// byte.
func sameModelWeights(t *testing.T, full, resumed string) {
	t.Helper()
	a, err := os.ReadFile(filepath.Join(full, "weights.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(resumed, "weights.safetensors"))
	if err != nil || !bytes.Equal(a, b) {
		t.Errorf("resumed run's weights differ from the uninterrupted run's (%v)", err)
	}
}

// signalTrain runs the test binary as mlenv with args, sends sig once a
// line of its output starts with after, and returns the error of its end
// and its output.
func signalTrain(t *testing.T, after string, sig os.Signal, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), envCLIMain+"=1")
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	lines := bufio.NewScanner(pipe)
	for lines.Scan() {
		out.WriteString(lines.Text() + "\n")
		if strings.HasPrefix(lines.Text(), after) {
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
		}
	}
	err = cmd.Wait()
	return out.String(), errBuf.String(), err
}

// A tracked run keeps its newest checkpoint among its artifacts, and
// --resume continues from there when the local checkpoint directory is
// gone, ending with the weights of an uninterrupted run; a missing or
// corrupt remote checkpoint is a one-line error.
func TestTrainResumeFromTrackedRun(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0)) // train sets resources.threads
	dir := inCTRDir(t)
	tracking := filepath.Join(dir, "tracking")
	job := filepath.Join(dir, "job.yaml")
	writeSpec := func(steps int) {
		t.Helper()
		spec := resumableSpec("remote", steps, "experiment: resume\ntracking: {uri: embedded, dir: "+tracking+"}\n")
		if err := os.WriteFile(job, []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeSpec(10_000_000)
	ck := filepath.Join(dir, "ck")
	procOut, procErr, err := signalTrain(t, "step 250/", os.Interrupt, "train", job, "--checkpoint-dir", ck, "--out", ck)
	if err == nil || !strings.Contains(procErr, "continue with --resume") {
		t.Fatalf("interrupted run: %v\nstdout %q\nstderr %q", err, procOut, procErr)
	}
	runs := experimentRuns(t, tracking, "resume")
	if len(runs) != 1 || runs[0].Info.Status != string(train.Killed) {
		t.Fatalf("runs after the interrupt: %+v", runs)
	}
	interrupted := runs[0].Info.RunID
	remote := func(run string) string {
		m, _ := filepath.Glob(filepath.Join(tracking, "artifacts", "*", run, "artifacts", "checkpoints"))
		if len(m) != 1 {
			t.Fatalf("run %s has no checkpoints artifact: %v", run, m)
		}
		return m[0]
	}
	latest, err := os.ReadFile(filepath.Join(remote(interrupted), "latest"))
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimSpace(string(latest))
	// Checkpoints at steps 100 and 200 and at the interrupt were
	// uploaded; only the newest remains.
	if uploads, _ := filepath.Glob(filepath.Join(remote(interrupted), "step-*")); len(uploads) != 1 || filepath.Base(uploads[0]) != name {
		t.Errorf("uploaded checkpoints %v, want only %s", uploads, name)
	}
	var step, seq int
	if _, err := fmt.Sscanf(name, "step-%d.%d", &step, &seq); err != nil || step < 250 || seq != 3 {
		t.Fatalf("checkpoints/latest names %q (%v), want the third upload, at step 250 or later", name, err)
	}
	if err := os.RemoveAll(ck); err != nil {
		t.Fatal(err)
	}

	writeSpec(step + 60)
	full := filepath.Join(dir, "full")
	if code, out, stderr := runCLI(t, "train", job, "--no-tracking", "--checkpoint-dir", full, "--out", full); code != exitOK {
		t.Fatalf("uninterrupted run: code %d, out %q, stderr %q", code, out, stderr)
	}
	code, out, stderr := runCLI(t, "train", job, "--checkpoint-dir", ck, "--out", ck, "--resume")
	if code != exitOK || !strings.Contains(out, "resume: checkpoint of run "+interrupted) ||
		!strings.Contains(out, fmt.Sprintf("trained %d steps", step+60)) || strings.Contains(out, fmt.Sprintf("step %d/", step)) {
		t.Fatalf("resumed run: code %d, out %q, stderr %q; want it to continue from step %d", code, out, stderr, step)
	}
	sameModelWeights(t, full, ck)
	var resumed string
	for _, r := range experimentRuns(t, tracking, "resume") {
		if runTag(r, "mlenv.resumed_from") == interrupted && r.Info.Status == string(train.Finished) {
			resumed = r.Info.RunID
		}
	}
	if resumed == "" {
		t.Fatal("no finished run tagged mlenv.resumed_from the interrupted run")
	}
	// The interrupted run is done with now that a finished run continued it.
	again := filepath.Join(dir, "again")
	code, out, stderr = runCLI(t, "train", job, "--checkpoint-dir", again, "--out", again, "--resume")
	if code != exitOK || !strings.Contains(out, "resume: no checkpoint in "+again) || !strings.Contains(out, "step 50/") {
		t.Errorf("--resume after the resumed run finished: code %d, out %q, stderr %q; want a fresh start", code, out, stderr)
	}

	// The interrupted run's checkpoint, spoiled, with no local one.
	for _, tc := range []struct {
		name  string
		spoil func(remote string) error
		want  string
	}{
		{"bad pointer", func(r string) error { return os.WriteFile(filepath.Join(r, "latest"), []byte("../model\n"), 0o644) },
			`checkpoints/latest names "../model", not a checkpoint`},
		{"corrupt state", func(r string) error { return os.WriteFile(filepath.Join(r, name, "state.json"), []byte("{"), 0o644) },
			"state.json: unexpected end of JSON input"},
		{"missing file", func(r string) error { return os.Remove(filepath.Join(r, name, "weights.safetensors")) },
			"checkpoint " + name + ": download artifact"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(remote(interrupted), "latest"), latest, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := tc.spoil(remote(interrupted)); err != nil {
				t.Fatal(err)
			}
			empty := t.TempDir()
			code, _, stderr := runCLI(t, "train", job, "--checkpoint-dir", empty, "--out", empty, "--resume-run", interrupted)
			var errs []string // the error lines, apart from the embedded server's log
			for l := range strings.Lines(stderr) {
				if strings.HasPrefix(l, "mlenv: ") {
					errs = append(errs, l)
				}
			}
			if code != exitError || len(errs) != 1 || !strings.Contains(errs[0], tc.want) {
				t.Errorf("code %d, stderr %q, want one error line containing %q", code, stderr, tc.want)
			}
		})
	}
	if code, _, stderr := runCLI(t, "train", job, "--resume-run", "no-such-run"); code != exitError || !strings.Contains(stderr, "resume from run no-such-run") {
		t.Errorf("unknown run: code %d, stderr %q", code, stderr)
	}
	if code, _, stderr := runCLI(t, "train", job, "--resume-run", resumed, "--no-tracking"); code != exitUsage {
		t.Errorf("--resume-run with --no-tracking: code %d, stderr %q", code, stderr)
	}
}
