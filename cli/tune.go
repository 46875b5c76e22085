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
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mlenv/mlenv/job"
	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/track"
	"github.com/mlenv/mlenv/train"
	"github.com/mlenv/mlenv/tune"
	"github.com/mlenv/mlenv/tunejob"
)

func init() { register(newTuneCmd) }

// Tags of a study's parent run.
const (
	tagStudy      = "mlenv.tune.study"
	tagBestTrial  = "mlenv.tune.best_trial"
	tagImportance = "mlenv.tune.importance"
	tagParentRun  = "mlflow.parentRunId"
	tagRunName    = "mlflow.runName"
)

var pruners = []string{"asha", "hyperband", "median", "none"}

type tuneFlags struct {
	trials, parallel int
	sampler, pruner  string
	study            string
	resume, json     bool
	noTracking       bool
}

func newTuneCmd() *cobra.Command {
	var f tuneFlags
	cmd := &cobra.Command{
		Use:   "tune JOB.yaml",
		Short: "Tune the hyperparameters of a job spec's search section with real training runs",
		Long: `tune runs a study over the search section of a job spec: each trial trains
the spec with the trial's sampled values set on the fields the search names,
reports the validation metric after every evaluation to the pruner (which
stops weak trials early) and ends complete, pruned or failed; a failed trial
does not stop the study. Trials run in this process, --parallel at a time.

The study lives in TRACKING_DIR/studies/NAME (study.json and the trials as
JSON lines, synced after every trial); after a kill, --resume continues it
without losing or repeating a finished trial (trials cut short run again).
Every trial is a tracked run nested under the study's run (tag
mlflow.parentRunId) with the sampled values as params; the study's run gets
the best value as a metric and the parameter importances as a tag.

Flags override the search section's trials, parallel, sampler and pruner.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTune(cmd, args[0], f)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&f.trials, "trials", 0, "number of trials the study ends with (default: search.trials, else 20)")
	fl.IntVar(&f.parallel, "parallel", 0, "trials that run at once (default: search.parallel, else 1)")
	fl.StringVar(&f.sampler, "sampler", "", "sampler: "+strings.Join(tune.SamplerNames(), ", ")+" (default: search.sampler, else tpe)")
	fl.StringVar(&f.pruner, "pruner", "", "pruner: asha, hyperband, median or none (default: search.pruner.type, else none)")
	fl.StringVar(&f.study, "study", "", "study name (default: the spec's name)")
	fl.BoolVar(&f.resume, "resume", false, "continue the study of this name")
	fl.BoolVar(&f.json, "json", false, "print the outcome as JSON (progress goes to stderr)")
	fl.BoolVar(&f.noTracking, "no-tracking", false, "do not record the trials as tracking runs")
	cmd.AddCommand(newTuneReportCmd("status", "Show a study's trials ranked, its best trial and the parameter importances", false),
		newTuneReportCmd("best", "Show a study's best trial: its value and parameters", true))
	return cmd
}

func (f tuneFlags) check() error {
	switch {
	case f.trials < 0:
		return usagef("--trials %d: must not be negative", f.trials)
	case f.parallel < 0:
		return usagef("--parallel %d: must not be negative", f.parallel)
	case f.sampler != "" && !slices.Contains(tune.SamplerNames(), f.sampler):
		return usagef("--sampler %q: want one of %s", f.sampler, strings.Join(tune.SamplerNames(), ", "))
	case f.pruner != "" && !slices.Contains(pruners, f.pruner):
		return usagef("--pruner %q: want one of %s", f.pruner, strings.Join(pruners, ", "))
	}
	return nil
}

func runTune(cmd *cobra.Command, path string, f tuneFlags) error {
	if err := f.check(); err != nil {
		return err
	}
	spec, err := loadSpec(cmd, path)
	if err != nil {
		return err
	}
	if !spec.HasSearch() {
		return fmt.Errorf("%s: no search section to tune (see docs/tuning.md)", path)
	}
	space, err := tunejob.Space(&spec.Search)
	if err != nil {
		return err
	}
	name := cmp.Or(f.study, spec.Name)
	dir := tunejob.StudyDir(trackingDir(spec), name)
	meta, err := studyMeta(dir, tunejob.NewMeta(spec, name, space), f.resume)
	if err != nil {
		return err
	}
	if n := spec.Resources.Threads; n > 0 {
		runtime.GOMAXPROCS(n)
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	progress := cmd.OutOrStdout()
	if f.json {
		progress = cmd.ErrOrStderr()
	}
	var st *studyTracking
	if !f.noTracking {
		var stopTracking func()
		if st, stopTracking, err = startStudyTracking(ctx, spec, meta); err != nil {
			return err
		}
		defer stopTracking()
		fmt.Fprintf(progress, "tracking: study run %s at %s\n", meta.ParentRunID, st.client.URI())
	}
	if err := tunejob.WriteMeta(dir, meta); err != nil {
		return fmt.Errorf("study %s: %w", name, err)
	}
	storage, err := tunejob.OpenTrials(dir)
	if err != nil {
		return err
	}
	defer storage.Close()
	cfg := tunejob.Config{Spec: spec, Storage: storage, Trials: f.trials, Parallel: f.parallel, Sampler: f.sampler, Pruner: f.pruner,
		TrainConfig: func(s *job.Spec, trial int) train.Config { return trialConfig(s, dir, trial, progress) }}
	if st != nil {
		cfg.Sink = st.trialSink
	}
	res, runErr := tunejob.Run(ctx, cfg)
	if res == nil {
		return runErr
	}
	sum := tunejob.Summarize(meta, space, res.Trials)
	if st != nil {
		status := train.Finished
		if runErr != nil {
			status = train.Killed
		}
		if err := st.finish(sum, status); err != nil {
			return errors.Join(runErr, err)
		}
	}
	if err := printStudy(cmd.OutOrStdout(), f.json, meta, space, res.Trials, sum); err != nil {
		return err
	}
	if runErr != nil && ctx.Err() != nil {
		return fmt.Errorf("interrupted; continue with mlenv tune %s --study %s --resume: %w", path, name, runErr)
	}
	return runErr
}

// trackingDir is where studies live: the spec's tracking directory.
func trackingDir(spec *job.Spec) string { return cmp.Or(spec.Tracking.Dir, ".mlenv") }

// studyMeta returns the study to run: fresh when it is new, the stored one
// when resuming (which must search the same space).
func studyMeta(dir string, fresh *tunejob.Meta, resume bool) (*tunejob.Meta, error) {
	old, err := tunejob.ReadMeta(dir)
	switch {
	case errors.Is(err, tunejob.ErrNoStudy) && resume:
		return nil, fmt.Errorf("--resume: no study %q in %s", fresh.Name, dir)
	case errors.Is(err, tunejob.ErrNoStudy):
		return fresh, nil
	case err != nil:
		return nil, err
	case !resume:
		return nil, fmt.Errorf("study %q exists in %s: add --resume to continue it, or --study NAME for a new one", fresh.Name, dir)
	}
	if err := old.SameSearch(fresh); err != nil {
		return nil, fmt.Errorf("--resume: %w", err)
	}
	return old, nil
}

// trialConfig is the trainer config of one trial: the spec's, with the
// trial's model artifact under the study directory and no checkpoints
// (an interrupted trial runs again from the start).
func trialConfig(spec *job.Spec, dir string, trial int, progress io.Writer) train.Config {
	cfg := trainConfig(spec, trainFlags{out: filepath.Join(dir, "models", strconv.Itoa(trial))})
	cfg.CheckpointDir = ""
	cfg.Name = fmt.Sprintf("%s-trial-%d", spec.Name, trial)
	report := cfg.Progress
	cfg.Progress = func(p train.Progress) {
		fmt.Fprintf(progress, "trial %d: %s\n", trial, progressLine(p))
		if report != nil {
			report(p)
		}
	}
	return cfg
}

// studyTracking records a study on a tracking server: the parent run and
// one nested run per trial.
type studyTracking struct {
	ctx    context.Context
	client *track.Client
	expID  string
	meta   *tunejob.Meta
}

// startStudyTracking starts a tracked run through startTracking. For a
// new study that run becomes the study's run; when resuming, the study
// keeps its first run and this session's run, nested under it, only marks
// the resumption.
func startStudyTracking(ctx context.Context, spec *job.Spec, meta *tunejob.Meta) (*studyTracking, func(), error) {
	ts, stop, err := startTracking(ctx, spec)
	if err != nil {
		return nil, nil, err
	}
	st := &studyTracking{ctx: ctx, client: ts.client, expID: ts.run.Info.ExperimentID, meta: meta}
	tags := map[string]string{tagStudy: meta.Name, tagRunName: meta.Name}
	if meta.ParentRunID != "" {
		tags[tagParentRun], tags[tagRunName] = meta.ParentRunID, meta.Name+"-resume"
		err = errors.Join(ts.SetTags(tags), ts.Finish(train.Finished), st.endInterrupted())
	} else {
		meta.ParentRunID = ts.run.Info.RunID
		var space []byte
		if space, err = json.Marshal(meta.Params); err == nil {
			err = errors.Join(ts.SetTags(tags), ts.LogParams(map[string]string{"tune.metric": meta.Metric,
				"tune.maximize": strconv.FormatBool(meta.Maximize), "tune.space": string(space)}))
		}
	}
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("tracking %s: study run: %w", ts.client.URI(), err)
	}
	return st, stop, nil
}

// endInterrupted ends as KILLED, with the state tag interrupted, the
// trial runs that a killed tuner left RUNNING.
func (st *studyTracking) endInterrupted() error {
	filter := fmt.Sprintf("tags.`%s` = '%s' and attributes.status = 'RUNNING'", tagParentRun, st.meta.ParentRunID)
	for token := ""; ; {
		runs, next, err := st.client.SearchRuns(st.ctx, store.RunSearch{ExperimentIDs: []string{st.expID},
			Search: store.Search{Filter: filter, PageToken: token}})
		if err != nil {
			return fmt.Errorf("find interrupted trials: %w", err)
		}
		for _, r := range runs {
			s := st.sink(&r)
			if err := errors.Join(s.SetTags(map[string]string{tunejob.TagState: "interrupted"}), s.Finish(train.Killed)); err != nil {
				return err
			}
		}
		if token = next; token == "" {
			return nil
		}
	}
}

func (st *studyTracking) createRun(name string, tags ...store.Tag) (*store.Run, error) {
	run, err := st.client.CreateRun(st.ctx, store.RunCreate{ExperimentID: st.expID, RunName: name,
		StartTime: time.Now().UnixMilli(), UserID: os.Getenv("USER"), Tags: tags})
	if err != nil {
		return nil, fmt.Errorf("tracking %s: create run: %w", st.client.URI(), err)
	}
	return run, nil
}

func (st *studyTracking) sink(run *store.Run) *trackSink {
	return &trackSink{ctx: st.ctx, client: st.client, run: run}
}

// trialSink creates trial's run, nested under the study's run.
func (st *studyTracking) trialSink(_ context.Context, trial int) (train.MetricSink, error) {
	run, err := st.createRun(fmt.Sprintf("%s-trial-%d", st.meta.Name, trial),
		store.Tag{Key: tagParentRun, Value: st.meta.ParentRunID}, store.Tag{Key: tagStudy, Value: st.meta.Name},
		store.Tag{Key: tunejob.TagTrial, Value: strconv.Itoa(trial)})
	if err != nil {
		return nil, err
	}
	return st.sink(run), nil
}

// finish records the outcome on the study's run and ends it with status.
func (st *studyTracking) finish(sum tunejob.Summary, status train.Status) error {
	s := st.sink(&store.Run{Info: store.RunInfo{RunID: st.meta.ParentRunID}})
	imp, err := json.Marshal(sum.Importance)
	if err != nil {
		return err
	}
	tags := map[string]string{tagImportance: string(imp)}
	metrics := map[string]float64{"total_steps": float64(sum.TotalSteps)}
	if sum.Best != nil {
		tags[tagBestTrial] = strconv.Itoa(sum.Best.Number)
		metrics["best_"+sum.Metric] = sum.Best.Value
	}
	return errors.Join(s.SetTags(tags), s.LogMetrics(len(sum.Trials), time.Now(), metrics), s.Finish(status))
}

// printStudy writes a study's outcome: tune's text report, or the summary
// as JSON.
func printStudy(w io.Writer, asJSON bool, meta *tunejob.Meta, space *tune.Space, trials []tune.Trial, sum tunejob.Summary) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	}
	fmt.Fprintf(w, "study %s: %s (%s), %d training steps in all\n", meta.Name, meta.Metric, direction(meta.Maximize), sum.TotalSteps)
	return tune.WriteReport(w, space, trials, meta.Maximize, 20)
}

func direction(maximize bool) string {
	if maximize {
		return "maximize"
	}
	return "minimize"
}

// newTuneReportCmd returns `tune status` (bestOnly false) or `tune best`.
func newTuneReportCmd(use, short string, bestOnly bool) *cobra.Command {
	var (
		dir    string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   use + " STUDY",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			meta, space, trials, err := loadStudy(tunejob.StudyDir(dir, args[0]))
			if err != nil {
				return err
			}
			sum := tunejob.Summarize(meta, space, trials)
			if !bestOnly {
				return printStudy(cmd.OutOrStdout(), asJSON, meta, space, trials, sum)
			}
			if sum.Best == nil {
				return fmt.Errorf("study %s has no complete trial yet", meta.Name)
			}
			return printBest(cmd.OutOrStdout(), asJSON, sum)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".mlenv", "tracking directory holding the studies")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// loadStudy reads the study in dir without writing to it.
func loadStudy(dir string) (*tunejob.Meta, *tune.Space, []tune.Trial, error) {
	meta, err := tunejob.ReadMeta(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	space, err := meta.Space()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("study %s: %w", meta.Name, err)
	}
	storage, err := tunejob.OpenTrials(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	defer storage.Close()
	trials, err := storage.Load(context.Background())
	return meta, space, trials, err
}

func printBest(w io.Writer, asJSON bool, sum tunejob.Summary) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(sum.Best)
	}
	fmt.Fprintf(w, "best trial %d of study %s: %s %.6g\n", sum.Best.Number, sum.Study, sum.Metric, sum.Best.Value)
	for _, k := range slices.Sorted(maps.Keys(sum.Best.Params)) {
		fmt.Fprintf(w, "  %s: %s\n", k, sum.Best.Params[k])
	}
	return nil
}
