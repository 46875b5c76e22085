package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mlenv/mlenv/collective"
	"github.com/mlenv/mlenv/job"
	"github.com/mlenv/mlenv/launch"
	"github.com/mlenv/mlenv/models"
	"github.com/mlenv/mlenv/train"
)

func init() { register(newTrainCmd) }

// trainFlags are the flags of mlenv train.
type trainFlags struct {
	dryRun        bool
	out           string
	checkpointDir string
	resume        bool
	resumeRun     string
	noTracking    bool
	json          bool

	executor    string // "" means the spec's resources.executor
	workers     int    // 0 means the spec's resources.workers
	maxRestarts int
	stateDir    string
	worker      bool // this process is one worker of a submitted job
}

func newTrainCmd() *cobra.Command {
	var f trainFlags
	cmd := &cobra.Command{
		Use:   "train JOB.yaml",
		Short: "Train the model a job spec describes and write its model artifact",
		Long: `train validates the job spec, fits the feature transforms on the training
split, trains the spec's zoo architecture with periodic evaluation on the
validation split, and writes the model artifact (model.json and
weights.safetensors) to --out. It prints one line per evaluation and a final
summary; when stderr is a terminal, a progress bar there shows the steps
done, examples per second and the estimated time left between them. The
run, its parameters, metrics and model artifact are recorded on the
tracking server of the spec's tracking.uri; "embedded" serves the
spec's tracking.dir in-process (look at it later with
mlenv server --db sqlite:///DIR/mlenv.db --artifacts DIR/artifacts).
Under mlenv jobs submit --workers N -- train JOB.yaml (or any launcher that
sets MLENV_RANK, MLENV_WORLD_SIZE and MLENV_RENDEZVOUS, or inside a Slurm
step) the workers train data-parallel: each reads its shard of the training
data with the spec's batch size, gradients are averaged every step, and rank
0 alone tracks the run and writes checkpoints and the model. A worker
restarted by its executor (MLENV_RESTART_COUNT above 0) resumes as with
--resume.
With --workers above 1 or --executor slurm or kubernetes (or the same in
the spec's resources), train submits that job itself, as mlenv jobs submit
would, streams the workers' rank-prefixed output and waits for the job's end;
the command fails unless the job succeeds.
Checkpoints go to --checkpoint-dir; on SIGINT or SIGTERM a
checkpoint is written before exiting, and --resume continues from the newest
one with the same result as an uninterrupted run. A tracked run also keeps
its newest checkpoint among its artifacts (checkpoints/latest names it), and
when --checkpoint-dir has none, --resume fetches the checkpoint of the most
recent unfinished run of the same job name in the experiment (--resume-run
RUN_ID: of that run) and continues from it, in a new run.

--dry-run only validates the spec and prints it resolved, defaults filled.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTrain(cmd, args[0], f)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.dryRun, "dry-run", false, "validate the spec and print it resolved, without training")
	fl.StringVar(&f.out, "out", "", "directory for the model artifact (default ./mlenv-models/NAME)")
	fl.StringVar(&f.checkpointDir, "checkpoint-dir", "", "directory for checkpoints (default TRACKING_DIR/checkpoints/NAME)")
	fl.BoolVar(&f.resume, "resume", false, "continue from the newest checkpoint in --checkpoint-dir or, when it has none, from that of the job's most recent unfinished tracked run")
	fl.StringVar(&f.resumeRun, "resume-run", "", "like --resume, but when --checkpoint-dir has no checkpoint take tracked run `RUN_ID`'s newest")
	fl.BoolVar(&f.noTracking, "no-tracking", false, "do not record the run (tracking.uri of the spec)")
	fl.BoolVar(&f.json, "json", false, "print the final summary as JSON (progress goes to stderr)")
	fl.StringVar(&f.executor, "executor", "", "run as a job on "+strings.Join(executors, ", ")+" (default the spec's resources.executor)")
	fl.IntVar(&f.workers, "workers", 0, "data-parallel workers (default the spec's resources.workers)")
	fl.IntVar(&f.maxRestarts, "max-restarts", 0, "restarts of all workers from the last checkpoint after a worker fails")
	fl.StringVar(&f.stateDir, "state-dir", "", "directory of job records and logs (default ~/.mlenv/jobs)")
	fl.BoolVar(&f.worker, "worker", false, "train in this process as one worker of the environment's job (set by the submitting train)")
	if err := fl.MarkHidden("worker"); err != nil {
		panic(err) // the flag is defined just above
	}
	return cmd
}

func runTrain(cmd *cobra.Command, path string, f trainFlags) error {
	spec, err := loadSpec(cmd, path)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if f.dryRun {
		b, err := spec.YAML()
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	executor, workers := cmp.Or(f.executor, spec.Resources.Executor), cmp.Or(f.workers, spec.Resources.Workers)
	if f.workers < 0 || f.maxRestarts < 0 {
		return usagef("--workers and --max-restarts must not be negative")
	}
	if f.resumeRun != "" && f.noTracking {
		return usagef("--resume-run needs tracking; drop --no-tracking")
	}
	if !f.worker && (workers > 1 || executor != "local") {
		return submitTrain(cmd, path, spec, f, executor, workers)
	}
	if n := spec.Resources.Threads; n > 0 {
		runtime.GOMAXPROCS(n)
	}
	cfg := trainConfig(spec, f)
	if n := os.Getenv(collective.EnvRestartCount); n != "" && n != "0" {
		cfg.Resume = true // an executor restarted the job after a failure
		cfg.Tags["mlenv.job.restarts"] = n
	}
	for tag, env := range map[string]string{"mlenv.job.id": launch.EnvJobID, "mlenv.job.executor": envJobExecutor} {
		if v := os.Getenv(env); v != "" {
			cfg.Tags[tag] = v
		}
	}
	progress := w
	if f.json {
		progress = cmd.ErrOrStderr() // keep stdout one JSON document
	}
	bar := newProgressBar(cmd.ErrOrStderr())
	cfg.Progress = func(p train.Progress) {
		bar.clear()
		fmt.Fprintln(progress, progressLine(p))
	}
	if bar != nil {
		cfg.StepProgress = bar.update
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	group, err := joinWorkers(ctx)
	if err != nil {
		return err
	}
	if group != nil {
		defer group.Close()
		cfg.Group = group
		cfg.Tags["mlenv.job.workers"] = strconv.Itoa(group.Size())
	}
	leader := group == nil || group.Rank() == 0
	var (
		sink  train.MetricSink = train.Discard
		runID string
	)
	if !f.noTracking && leader {
		ts, stopTracking, err := startTracking(ctx, spec)
		if err != nil {
			return err
		}
		defer stopTracking()
		fmt.Fprintf(progress, "tracking: %s\n", ts.describe())
		if err := ts.logSpec(spec); err != nil {
			return err
		}
		sink, runID = ts, ts.run.Info.RunID
		cfg.OnCheckpoint = ts.logCheckpoint
		if cfg.Resume {
			if err := resumeTracked(ctx, ts, progress, &cfg, spec.Name, f.resumeRun); err != nil {
				return errors.Join(err, ts.Finish(train.Failed))
			}
		}
	}
	if group != nil && cfg.Resume {
		// Rank 0 may have fetched a tracked run's checkpoint into the
		// shared checkpoint directory that every rank resumes from.
		if err := group.Barrier(ctx); err != nil {
			return fmt.Errorf("worker %d of %d: waiting for rank 0 to find the checkpoint: %w", group.Rank(), group.Size(), err)
		}
	}
	res, err := train.Run(ctx, cfg, sink)
	bar.clear()
	var pe *models.ParamError
	switch {
	case errors.As(err, &pe):
		return spec.FieldError("model.params."+pe.Param, "%s", pe.Msg)
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("interrupted; checkpoint in %s, continue with --resume: %w", cfg.CheckpointDir, err)
	case err != nil:
		return err
	}
	if !leader {
		_, err := fmt.Fprintf(w, "worker %d of %d: trained %d steps (%d epochs); rank 0 wrote the model\n", group.Rank(), group.Size(), res.Steps, res.Epochs)
		return err
	}
	return printSummary(w, f.json, cfg.ModelDir, runID, res)
}

// resumeTracked fetches a tracked run's checkpoint into cfg.CheckpointDir
// when that has none (see trackSink.resumeFromRun), says so on w, and tags
// the new run with the run it continues.
func resumeTracked(ctx context.Context, ts *trackSink, w io.Writer, cfg *train.Config, name, runID string) error {
	has, err := train.HasCheckpoint(cfg.CheckpointDir)
	if err != nil || has {
		return err
	}
	from, err := ts.resumeFromRun(ctx, name, runID, cfg.CheckpointDir)
	if err != nil {
		return err
	}
	if from == "" {
		_, err := fmt.Fprintf(w, "resume: no checkpoint in %s nor in an unfinished tracked run of %s; training from the start\n", cfg.CheckpointDir, name)
		return err
	}
	fmt.Fprintf(w, "resume: checkpoint of run %s copied to %s\n", from, cfg.CheckpointDir)
	cfg.Tags[resumedFromTag] = from
	return nil
}

// submitTrain runs the spec at path as a job of workers on executor, each
// worker running `mlenv train --worker` with the spec and the paths of the
// flags made absolute, streams the rank-prefixed log to stdout (stderr
// with --json) and waits for the end. The job's status goes to stderr
// (stdout as JSON with --json). An interrupt cancels the job.
func submitTrain(cmd *cobra.Command, path string, spec *job.Spec, f trainFlags, executor string, workers int) error {
	args, err := workerArgs(path, f)
	if err != nil {
		return err
	}
	store, err := openJobStore(f.stateDir)
	if err != nil {
		return err
	}
	e, err := jobsExecutor(executor, store)
	if err != nil {
		return err
	}
	req := launch.JobRequest{Name: spec.Name, Args: args, Workers: workers, MaxRestarts: f.maxRestarts,
		CPUs: max(spec.Resources.Threads, 1), Env: map[string]string{envJobExecutor: executor}}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	id, err := submitJob(ctx, e, store, req, "")
	if err != nil {
		return err
	}
	logw, statusw := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if f.json {
		logw, statusw = statusw, logw
	}
	fmt.Fprintf(logw, "job %s: %d workers on %s\n", id, workers, executor)
	err = waitJob(ctx, statusw, logw, e, id, f.json, nil)
	if ctx.Err() == nil {
		return err
	}
	cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if cerr := e.Cancel(cctx, id); cerr != nil {
		return fmt.Errorf("interrupted; cancelling job %s: %w", id, cerr)
	}
	return fmt.Errorf("interrupted; cancelled job %s", id)
}

// envJobExecutor tells a worker which executor runs it, for the run's tags.
const envJobExecutor = "MLENV_JOB_EXECUTOR"

// workerArgs are the arguments of every worker of a submitted train: the
// spec and the flags' paths made absolute, since an executor may start
// workers in another directory.
func workerArgs(path string, f trainFlags) ([]string, error) {
	abs := func(p string) (string, error) {
		a, err := filepath.Abs(p)
		if err != nil {
			return "", fmt.Errorf("resolving %s: %w", p, err)
		}
		return a, nil
	}
	spec, err := abs(path)
	if err != nil {
		return nil, err
	}
	args := []string{"train", "--worker"}
	for _, fl := range []struct{ name, dir string }{{"--out", f.out}, {"--checkpoint-dir", f.checkpointDir}} {
		if fl.dir == "" {
			continue
		}
		dir, err := abs(fl.dir)
		if err != nil {
			return nil, err
		}
		args = append(args, fl.name, dir)
	}
	if f.resume {
		args = append(args, "--resume")
	}
	if f.resumeRun != "" {
		args = append(args, "--resume-run", f.resumeRun)
	}
	if f.noTracking {
		args = append(args, "--no-tracking")
	}
	return append(args, spec), nil
}

// joinWorkers joins the data-parallel group the worker environment
// describes (MLENV_RANK, MLENV_WORLD_SIZE, MLENV_RENDEZVOUS, or Slurm's
// variables; see collective.ConfigFromEnv), as set by mlenv jobs submit.
// It returns nil for a single worker.
func joinWorkers(ctx context.Context) (*collective.Group, error) {
	c, err := collective.ConfigFromEnv(os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("worker environment: %w", err)
	}
	if c.Size < 2 {
		return nil, nil
	}
	g, err := collective.Join(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("worker %d of %d: %w", c.Rank, c.Size, err)
	}
	return g, nil
}

// trainConfig maps a resolved job spec and the flags to a trainer config.
func trainConfig(spec *job.Spec, f trainFlags) train.Config {
	t, d := spec.Training, spec.Data
	cfg := train.Config{
		Name: spec.Name, Arch: spec.Model.Arch, Params: spec.Model.Params,
		Data: train.Data{Train: d.Train, Validation: d.Validation, Features: d.Features, Label: d.Label,
			ShuffleBuffer: d.ShuffleBuffer, Prefetch: d.Prefetch, SkipBadRows: d.BadRows == job.BadRowsSkip, InMemory: d.InMemory},
		Optimizer: t.Optimizer, LearningRate: t.LearningRate, WeightDecay: t.WeightDecay,
		Schedule: train.Schedule{Type: t.Schedule.Type, WarmupSteps: t.Schedule.WarmupSteps, DecaySteps: t.Schedule.DecaySteps,
			Gamma: t.Schedule.Gamma, MinLearningRate: t.Schedule.MinLearningRate},
		BatchSize: t.BatchSize, Epochs: t.Epochs, Steps: t.Steps, EvalEvery: t.EvalEvery,
		EarlyStopping: train.EarlyStopping{Metric: t.EarlyStopping.Metric, Patience: t.EarlyStopping.Patience,
			Mode: t.EarlyStopping.Mode, MinDelta: t.EarlyStopping.MinDelta},
		Seed: uint64(t.Seed), CheckpointEvery: t.CheckpointEvery, CheckpointDir: f.checkpointDir, Resume: f.resume || f.resumeRun != "",
		ModelDir: f.out, Tags: map[string]string{"mlenv.spec": spec.File()},
	}
	if k, ok := strings.CutPrefix(t.EarlyStopping.Metric, "recall@"); ok {
		cfg.RecallK, _ = strconv.Atoi(k) // job.Validate checked it
	}
	if cfg.ModelDir == "" {
		cfg.ModelDir = filepath.Join("mlenv-models", spec.Name)
	}
	if cfg.CheckpointDir == "" {
		cfg.CheckpointDir = filepath.Join(cmp.Or(spec.Tracking.Dir, ".mlenv"), "checkpoints", spec.Name)
	}
	if commit := gitCommit(); commit != "" {
		cfg.Tags["mlflow.source.git.commit"] = commit
	}
	return cfg
}

// gitCommit returns the commit of the working directory's git checkout,
// or "" outside one or without git.
func gitCommit() string {
	out, err := exec.CommandContext(context.Background(), "git", "rev-parse", "HEAD").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// progressLine formats one evaluation: step, epoch, throughput, the
// estimated time left and the metrics in name order.
func progressLine(p train.Progress) string {
	var b strings.Builder
	fmt.Fprintf(&b, "step %d/%d  epoch %d  %.0f examples/s  ETA %s", p.Step, p.TotalSteps, p.Epoch, p.ExamplesPerSecond(), p.Remaining.Round(time.Second))
	for _, k := range slices.Sorted(maps.Keys(p.Metrics)) {
		fmt.Fprintf(&b, "  %s %.4f", k, p.Metrics[k])
	}
	return b.String()
}

// printSummary prints the outcome: the artifact directory, the tracked
// run ("" when not tracked), steps, epochs and the final metrics.
func printSummary(w io.Writer, asJSON bool, dir, runID string, res *train.Result) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"model": dir, "run_id": runID, "steps": res.Steps, "epochs": res.Epochs,
			"stopped_early": res.StoppedEarly, "skipped_rows": res.SkippedRows, "metrics": res.Metrics})
	}
	fmt.Fprintf(w, "trained %d steps (%d epochs)", res.Steps, res.Epochs)
	if res.StoppedEarly {
		fmt.Fprint(w, ", stopped early")
	}
	if res.SkippedRows > 0 {
		fmt.Fprintf(w, ", skipping %d malformed training rows (bad_rows: skip)", res.SkippedRows)
	}
	fmt.Fprintf(w, "\nmodel: %s\n", dir)
	if runID != "" {
		fmt.Fprintf(w, "run: %s\n", runID)
	}
	for _, k := range slices.Sorted(maps.Keys(res.Metrics)) {
		fmt.Fprintf(w, "  %-12s %.4f\n", k, res.Metrics[k])
	}
	return nil
}
