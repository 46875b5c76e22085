package tunejob

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/mlenv/mlenv/job"
	"github.com/mlenv/mlenv/train"
	"github.com/mlenv/mlenv/tune"
)

// Defaults of a search section's zero fields.
const (
	DefaultTrials  = 20
	DefaultSampler = "tpe"
)

// Tags set on the tracked run of every trial.
const (
	TagTrial = "mlenv.tune.trial" // the trial's number
	TagState = "mlenv.tune.state" // complete, pruned, failed or interrupted
)

// Config configures a tuning run of one spec. Spec must have a search
// section; Storage keeps the trials (tune's FileStorage from OpenTrials for
// a study that survives the process). The zero values of Trials, Parallel,
// Sampler and Pruner take the spec's search section, then the defaults.
type Config struct {
	Spec     *job.Spec
	Storage  tune.Storage
	Trials   int
	Parallel int
	Sampler  string // one of tune.SamplerNames
	Pruner   string // asha, hyperband, median or none
	// TrainConfig maps a trial's spec to the trainer's configuration; it
	// must give each trial its own ModelDir and CheckpointDir (or none).
	TrainConfig func(spec *job.Spec, trial int) train.Config
	// Sink, when set, returns the sink recording trial's run; the tuner
	// adds the trial's parameters to the params the trainer logs, and the
	// TagTrial and TagState tags.
	Sink   func(ctx context.Context, trial int) (train.MetricSink, error)
	Logger *slog.Logger // nil: slog.Default()
}

// Result is the outcome of Run: the study's space and direction and every
// trial of the study, those of earlier runs of a resumed study included.
type Result struct {
	Space    *tune.Space
	Maximize bool
	Trials   []tune.Trial
}

// Run runs the study until it holds the configured number of ended
// trials, resuming from what Storage holds. A failing trial fails alone.
// When ctx is cancelled, running trials are recorded as interrupted (to be
// run again on resume) and Run returns ctx's error with the result so far.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	sr := &cfg.Spec.Search
	space, err := Space(sr)
	if err != nil {
		return nil, err
	}
	seed, err := samplerSeed(ctx, sr, cfg.Storage)
	if err != nil {
		return nil, err
	}
	sampler, err := tune.NewSampler(cmp.Or(cfg.Sampler, sr.Sampler, DefaultSampler), seed)
	if err != nil {
		return nil, fmt.Errorf("sampler: %w", err)
	}
	pruner, err := NewPruner(cmp.Or(cfg.Pruner, sr.Pruner.Type, "none"), cfg.Spec)
	if err != nil {
		return nil, err
	}
	study, err := tune.Open(ctx, tune.Config{Space: space, Sampler: sampler, Pruner: pruner,
		Storage: cfg.Storage, Maximize: sr.Maximize(), Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	t := &tuner{cfg: cfg, space: space}
	err = study.Optimize(ctx, t.objective, cmp.Or(cfg.Trials, sr.Trials, DefaultTrials), cmp.Or(cfg.Parallel, sr.Parallel, 1))
	return &Result{Space: space, Maximize: sr.Maximize(), Trials: study.Trials()}, err
}

// samplerSeed is the search's seed plus the number of trials storage
// already holds: a resumed study's sampler then draws new points rather
// than the stream it drew before the interruption again.
func samplerSeed(ctx context.Context, sr *job.Search, storage tune.Storage) (uint64, error) {
	if storage == nil {
		return uint64(sr.Seed), nil
	}
	prior, err := storage.Load(ctx)
	if err != nil {
		return 0, fmt.Errorf("load study: %w", err)
	}
	return uint64(sr.Seed) + uint64(len(prior)), nil
}

// NewPruner returns the pruner called name configured from the spec's
// search.pruner, its resources in training steps.
func NewPruner(name string, spec *job.Spec) (tune.Pruner, error) {
	p := spec.Search.Pruner
	minR := cmp.Or(p.MinResource, spec.Training.EvalEvery)
	switch name {
	case "none":
		return nil, nil
	case "median":
		return &tune.MedianStopping{Startup: p.Startup, Warmup: p.Warmup, Interval: 1}, nil
	case "asha":
		if minR == 0 {
			return nil, errors.New("pruner asha: set search.pruner.min_resource or training.eval_every (steps before the first rung)")
		}
		return &tune.ASHA{MinResource: minR, Eta: p.Eta}, nil
	case "hyperband":
		maxR := cmp.Or(p.MaxResource, spec.Training.Steps)
		if minR == 0 || maxR == 0 {
			return nil, errors.New("pruner hyperband: set search.pruner.min_resource and max_resource (or training.eval_every and training.steps)")
		}
		return &tune.Hyperband{MinResource: minR, MaxResource: maxR, Eta: p.Eta}, nil
	}
	return nil, fmt.Errorf("unknown pruner %q (have asha, hyperband, median, none)", name)
}

// tuner evaluates trials; it is shared by the study's parallel workers and
// holds nothing mutable.
type tuner struct {
	cfg   Config
	space *tune.Space
}

// objective trains one trial and returns its final validation metric.
func (t *tuner) objective(ctx context.Context, r *tune.Run) (float64, error) {
	var sink train.MetricSink = train.Discard
	if t.cfg.Sink != nil {
		s, err := t.cfg.Sink(ctx, r.Number())
		if err != nil {
			return 0, fmt.Errorf("trial %d: tracking: %w", r.Number(), err)
		}
		sink = s
	}
	ts := &trialSink{MetricSink: sink, params: Labels(t.space, r.Params()), trial: r.Number()}
	value, err := t.train(ctx, r, ts)
	if ferr := ts.end(err); ferr != nil && err == nil {
		err = ferr
	}
	return value, err
}

// train applies the trial's parameters and runs the trainer, reporting
// the metric after every evaluation; a Stop from the pruner before the
// last step cancels the run and returns tune.ErrPruned.
func (t *tuner) train(ctx context.Context, r *tune.Run, sink *trialSink) (float64, error) {
	spec, err := Apply(t.cfg.Spec, r.Params())
	if err != nil {
		return 0, err
	}
	metric := spec.Search.Metric
	cfg := t.cfg.TrainConfig(spec, r.Number())
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	last := math.NaN()
	cfg.Progress = func(p train.Progress) {
		v, ok := p.Metrics[metric]
		if !ok {
			return
		}
		last = v
		_, err := r.Report(p.Step, v)
		if errors.Is(err, tune.ErrPruned) && p.Step >= p.TotalSteps {
			return // a trial at its full budget completes whatever the last rung says
		}
		if err != nil {
			sink.pruned.Store(errors.Is(err, tune.ErrPruned))
			cancel(err)
		}
	}
	res, err := train.Run(ctx, cfg, sink)
	if cause := context.Cause(ctx); err != nil && cause != nil && ctx.Err() != nil && !errors.Is(cause, context.Canceled) {
		return last, cause
	}
	if err != nil {
		return 0, err
	}
	v, ok := res.Metrics[metric]
	if !ok {
		return 0, fmt.Errorf("the trainer reported no %q (have %v); is there a validation split?", metric, slices.Sorted(maps.Keys(res.Metrics)))
	}
	return v, nil
}

// trialSink adds the trial's parameters and tags to a trainer's sink and
// makes sure the run is finished once, with the trial's state as a tag.
type trialSink struct {
	train.MetricSink
	params   map[string]string
	trial    int
	pruned   atomic.Bool // set when the pruner stopped the trial
	mu       sync.Mutex
	logged   bool // LogParams was called
	finished bool
}

// LogParams logs the trainer's params with the trial's on top.
func (s *trialSink) LogParams(params map[string]string) error {
	s.mu.Lock()
	s.logged = true
	s.mu.Unlock()
	all := maps.Clone(params)
	maps.Copy(all, s.params)
	return s.MetricSink.LogParams(all)
}

// SetTags adds the trial's number to the trainer's tags.
func (s *trialSink) SetTags(tags map[string]string) error {
	all := maps.Clone(tags)
	all[TagTrial] = fmt.Sprint(s.trial)
	return s.MetricSink.SetTags(all)
}

// Finish records the trial's state and ends the run.
func (s *trialSink) Finish(status train.Status) error {
	s.mu.Lock()
	s.finished = true
	s.mu.Unlock()
	state := map[train.Status]string{train.Finished: "complete", train.Failed: "failed", train.Killed: "interrupted"}[status]
	if status == train.Killed && s.pruned.Load() {
		state = "pruned"
	}
	return errors.Join(s.MetricSink.SetTags(map[string]string{TagState: state}), s.MetricSink.Finish(status))
}

// end finishes a run the trainer never started (the trial's spec or
// config was rejected), logging the trial's parameters first.
func (s *trialSink) end(err error) error {
	s.mu.Lock()
	logged, finished := s.logged, s.finished
	s.mu.Unlock()
	if finished {
		return nil
	}
	var errs []error
	if !logged {
		errs = append(errs, s.LogParams(map[string]string{}), s.SetTags(map[string]string{}))
	}
	status := train.Failed
	if err == nil {
		status = train.Finished
	}
	return errors.Join(append(errs, s.Finish(status))...)
}

// Steps returns the training steps trial t took, up to its last
// evaluation: the largest step it reported.
func Steps(t tune.Trial) int {
	steps := 0
	for s := range t.Intermediate {
		steps = max(steps, s)
	}
	return steps
}
