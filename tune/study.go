package tune

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"
)

// ErrPruned is returned by Run.Report when the pruner stops the trial; an
// objective returns it (possibly wrapped) to end the trial as Pruned.
var ErrPruned = errors.New("trial pruned")

// ErrExhausted is returned by a sampler that has no new point left (a grid
// that has been enumerated); Optimize then stops without error.
var ErrExhausted = errors.New("search space exhausted")

// History is what samplers and pruners see of a study: the space and every
// trial, oriented so that lower values are better (a maximised study's
// values are negated). It must not be modified.
type History struct {
	Space  *Space
	Trials []Trial
}

// Sampler proposes the parameters of a new trial. The study calls Sample
// with its lock held, so a sampler is never called concurrently by one
// study; the running trials in h are those asked and not yet told. The
// returned point must satisfy h.Space.Check.
type Sampler interface {
	Sample(h History) (Params, error)
}

// Decision is a pruner's verdict on a trial after a report.
type Decision int

// The decisions. Promote means the trial reached a rung of a successive
// halving schedule and was among the best there; it goes on like Continue.
const (
	Continue Decision = iota
	Promote
	Stop
)

// Pruner decides whether a running trial goes on after it reports an
// intermediate value at step. t is in h.Trials as well and already holds the
// new report. Called with the study's lock held.
type Pruner interface {
	Decide(h History, t *Trial, step int) Decision
}

// Objective evaluates one trial. It reads parameters from r, may report
// intermediate values with r.Report (returning ErrPruned when told to stop),
// and returns the value to minimise (or maximise). It must return promptly
// once ctx is cancelled; a trial cut short that way is recorded as
// Interrupted and retried when the study resumes.
type Objective func(ctx context.Context, r *Run) (float64, error)

// Config configures a study. Space is required; the zero value of every
// other field has a documented default.
type Config struct {
	Space    *Space
	Sampler  Sampler      // nil: TPE with default settings and seed 0
	Pruner   Pruner       // nil: trials are never pruned
	Storage  Storage      // nil: a MemoryStorage
	Maximize bool         // false: lower values are better
	Logger   *slog.Logger // nil: slog.Default()
}

// Study runs trials of one search and keeps their records. All methods are
// safe for concurrent use.
type Study struct {
	cfg    Config
	mu     sync.Mutex
	trials []Trial  // indexed by number
	queue  []queued // points to evaluate before sampling new ones
}

// queued is a point waiting in a study's queue: one passed to Enqueue, or
// the point of an interrupted trial (retryOf >= 0) to run again.
type queued struct {
	params  Params
	retryOf int
}

// Open loads the study's trials from cfg.Storage. Trials found Running were
// cut short by a crash: they are saved as Interrupted. The parameters of
// every interrupted trial not yet retried are queued to run again, so that
// no finished trial is lost or repeated.
func Open(ctx context.Context, cfg Config) (*Study, error) {
	if cfg.Space == nil {
		return nil, errors.New("tune: study config has no space")
	}
	if cfg.Sampler == nil {
		cfg.Sampler = &TPE{}
	}
	if cfg.Storage == nil {
		cfg.Storage = &MemoryStorage{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	trials, err := cfg.Storage.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("tune: load study: %w", err)
	}
	s := &Study{cfg: cfg}
	retried := map[int]bool{}
	for _, t := range trials {
		if t.RetryOf != nil {
			retried[*t.RetryOf] = true
		}
	}
	for i, t := range trials {
		if t.Number != i {
			return nil, fmt.Errorf("tune: load study: trial numbers skip from %d to %d", i-1, t.Number)
		}
		if err := cfg.Space.Check(t.Params); err != nil {
			return nil, fmt.Errorf("tune: load study: trial %d does not fit the space: %w", t.Number, err)
		}
		if t.State == Running {
			t.State, t.Error, t.End = Interrupted, "the study stopped while the trial ran", time.Now()
			if err := cfg.Storage.Save(ctx, t); err != nil {
				return nil, fmt.Errorf("tune: mark trial %d interrupted: %w", t.Number, err)
			}
		}
		if t.State == Interrupted && !retried[t.Number] {
			s.queue = append(s.queue, queued{t.Params, t.Number})
		}
		s.trials = append(s.trials, t)
	}
	return s, nil
}

// Enqueue makes params the next point to evaluate, ahead of the sampler.
func (s *Study) Enqueue(params Params) error {
	if err := s.cfg.Space.Check(params); err != nil {
		return fmt.Errorf("tune: enqueue: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, queued{params, -1})
	return nil
}

// Trials returns a copy of every trial, ordered by number.
func (s *Study) Trials() []Trial {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Trial, len(s.trials))
	for i, t := range s.trials {
		out[i] = t.clone()
	}
	return out
}

// Best returns the best complete trial; ok is false when none is complete.
func (s *Study) Best() (best Trial, ok bool) {
	r := Ranked(s.Trials(), s.cfg.Maximize)
	if len(r) == 0 {
		return Trial{}, false
	}
	return r[0], true
}

// history returns the minimised view of the trials; s.mu must be held.
func (s *Study) history() History {
	if !s.cfg.Maximize {
		return History{Space: s.cfg.Space, Trials: s.trials}
	}
	ts := make([]Trial, len(s.trials))
	for i, t := range s.trials {
		ts[i] = t.negated()
	}
	return History{Space: s.cfg.Space, Trials: ts}
}

// Ask starts a new trial: queued parameters first, then the sampler's
// proposal. The trial is saved as Running before Ask returns.
func (s *Study) Ask(ctx context.Context) (*Run, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := Trial{Number: len(s.trials), State: Running, Start: time.Now()}
	if len(s.queue) > 0 {
		q := s.queue[0]
		s.queue = s.queue[1:]
		t.Params = q.params
		if q.retryOf >= 0 {
			t.RetryOf = &q.retryOf
		}
	} else {
		p, err := s.cfg.Sampler.Sample(s.history())
		if err != nil {
			return nil, fmt.Errorf("tune: sample trial %d: %w", len(s.trials), err)
		}
		t.Params = p
	}
	params := t.Params
	if err := s.cfg.Storage.Save(ctx, t); err != nil {
		return nil, fmt.Errorf("tune: save trial %d: %w", t.Number, err)
	}
	s.trials = append(s.trials, t)
	return &Run{study: s, number: t.Number, params: params.clone()}, nil
}

// Tell ends trial number with the objective's result: err == nil completes
// it with value, ErrPruned prunes it, a context error interrupts it and any
// other error (or a non-finite value) fails it.
func (s *Study) Tell(ctx context.Context, number int, value float64, err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if number < 0 || number >= len(s.trials) || s.trials[number].State != Running {
		return fmt.Errorf("tune: tell: trial %d is not running", number)
	}
	t := s.trials[number].clone()
	t.End = time.Now()
	switch {
	case err == nil && (math.IsNaN(value) || math.IsInf(value, 0)):
		t.State, t.Error = Failed, fmt.Sprintf("objective returned %g", value)
	case err == nil:
		t.State, t.Value = Complete, value
	case errors.Is(err, ErrPruned):
		t.State = Pruned
		if _, v := t.lastStep(); !math.IsNaN(v) {
			t.Value = v
		}
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		t.State, t.Error = Interrupted, err.Error()
	default:
		t.State, t.Error = Failed, err.Error()
	}
	// The record must be written even when ctx was cancelled.
	if serr := s.cfg.Storage.Save(context.WithoutCancel(ctx), t); serr != nil {
		return fmt.Errorf("tune: save trial %d: %w", number, serr)
	}
	s.trials[number] = t
	if t.State == Interrupted {
		s.queue = append(s.queue, queued{t.Params, t.Number})
	}
	if t.State == Failed {
		s.cfg.Logger.Warn("trial failed", "trial", number, "error", t.Error)
	}
	return nil
}

// report records an intermediate value and asks the pruner.
func (s *Study) report(number, step int, value float64) (Decision, error) {
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return Continue, fmt.Errorf("tune: trial %d step %d: value %g is not finite", number, step, value)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &s.trials[number]
	if t.State != Running {
		return Continue, fmt.Errorf("tune: trial %d is %s, not running", number, t.State)
	}
	if t.Intermediate == nil {
		t.Intermediate = map[int]float64{}
	}
	t.Intermediate[step] = value
	if s.cfg.Pruner == nil {
		return Continue, nil
	}
	h := s.history()
	return s.cfg.Pruner.Decide(h, &h.Trials[number], step), nil
}

// Run is the handle of one running trial given to an objective.
type Run struct {
	study  *Study
	number int
	params Params
}

// Number returns the trial's number (0-based, in order of Ask).
func (r *Run) Number() int { return r.number }

// Params returns a copy of the trial's parameters.
func (r *Run) Params() Params { return r.params.clone() }

// Has reports whether parameter name is active in this trial.
func (r *Run) Has(name string) bool { _, ok := r.params[name]; return ok }

// Float returns the value of a Float or Int parameter; it panics if the
// parameter is inactive, a programmer error in the objective.
func (r *Run) Float(name string) float64 {
	v, ok := r.params[name]
	if !ok {
		panic(fmt.Sprintf("tune: parameter %q is not active in trial %d", name, r.number))
	}
	return v
}

// Int returns the value of an Int parameter (panics like Float).
func (r *Run) Int(name string) int { return int(r.Float(name)) }

// Choice returns the chosen value of a Categorical parameter (panics like
// Float).
func (r *Run) Choice(name string) string {
	p, _ := r.study.cfg.Space.Param(name)
	return p.Choices[int(r.Float(name))]
}

// Report records the objective's value after step (an epoch, a number of
// examples) and consults the pruner. It returns ErrPruned when the trial
// should stop, and the pruner's decision either way.
func (r *Run) Report(step int, value float64) (Decision, error) {
	d, err := r.study.report(r.number, step, value)
	if err == nil && d == Stop {
		err = ErrPruned
	}
	return d, err
}

// clone returns a copy of p.
func (p Params) clone() Params {
	out := make(Params, len(p))
	for k, v := range p {
		out[k] = v
	}
	return out
}

// ended counts the trials that used up budget; s.mu must be held.
func (s *Study) ended() (ended, running int) {
	for _, t := range s.trials {
		switch {
		case t.State.ended():
			ended++
		case t.State == Running:
			running++
		}
	}
	return ended, running
}

// Optimize runs trials until the study holds nTrials ended trials
// (complete, pruned or failed; interrupted ones do not count), running at
// most parallelism at once. A failing objective fails only its trial. It
// returns early without error when the sampler is exhausted, and with
// ctx.Err() when ctx is cancelled, after recording the running trials as
// Interrupted.
func (s *Study) Optimize(ctx context.Context, objective Objective, nTrials, parallelism int) error {
	if parallelism < 1 {
		return fmt.Errorf("tune: parallelism %d must be at least 1", parallelism)
	}
	var (
		wg       sync.WaitGroup
		errMu    sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		errMu.Lock()
		defer errMu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}
	slots := make(chan struct{}, parallelism)
	for {
		slots <- struct{}{}
		errMu.Lock()
		stop := firstErr != nil
		errMu.Unlock()
		s.mu.Lock()
		ended, running := s.ended()
		s.mu.Unlock()
		if stop || ctx.Err() != nil || ended+running >= nTrials {
			<-slots
			if ended+running >= nTrials && running > 0 && !stop && ctx.Err() == nil {
				// Wait for a running trial: it may fail or be interrupted
				// and leave budget for another.
				wg.Wait()
				continue
			}
			break
		}
		run, err := s.Ask(ctx)
		if err != nil {
			<-slots
			if !errors.Is(err, ErrExhausted) {
				fail(err)
			}
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			value, oerr := evaluate(ctx, objective, run)
			if terr := s.Tell(ctx, run.number, value, oerr); terr != nil {
				fail(terr)
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// evaluate calls the objective, turning a panic into an error and a result
// obtained after cancellation into an interruption.
func evaluate(ctx context.Context, objective Objective, r *Run) (value float64, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("objective panicked: %v", p)
		}
	}()
	value, err = objective(ctx, r)
	if err != nil && ctx.Err() != nil && !errors.Is(err, ErrPruned) {
		err = ctx.Err()
	}
	return value, err
}
