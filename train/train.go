// Package train is mlenv's standard trainer: it fits the feature
// transforms, builds a zoo model, and runs the loop data loader -> batch
// -> model -> loss -> backward -> optimizer step, with a learning-rate
// schedule, gradient clipping, periodic evaluation (loss, AUC, log-loss,
// accuracy, RMSE, recall@k), early stopping, checkpoints with exact resume
// (weights, optimizer state, step and data position), tracking through a
// MetricSink, and data-parallel training over a collective.Group (see
// Config.Group). For a fixed seed and thread count a run is deterministic.
//
// Panics inside model code (shape mismatches are programmer errors in the
// engine) are recovered and returned as errors, so a bad custom model
// fails its run instead of the process.
package train

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"os"
	"time"

	"github.com/mlenv/mlenv/buildinfo"
	"github.com/mlenv/mlenv/data"
	"github.com/mlenv/mlenv/modelfile"
	"github.com/mlenv/mlenv/models"
	"github.com/mlenv/mlenv/nn"
	"github.com/mlenv/mlenv/optim"
	"github.com/mlenv/mlenv/tensor"
)

// Result is the outcome of a finished run.
type Result struct {
	Model *modelfile.Model
	// Steps is the number of optimizer steps taken, Epochs the completed
	// passes over the training data.
	Steps, Epochs int
	// Metrics are the last evaluation's validation metrics, or the final
	// training loss without validation data.
	Metrics map[string]float64
	// StoppedEarly reports that early stopping ended the run.
	StoppedEarly bool
	// SkippedRows counts the malformed rows of the training split that
	// the run skipped in each epoch (with Data.SkipBadRows; without it a
	// malformed row is an error).
	SkippedRows int64
	// Examples is the number of training examples stepped on (by all
	// workers of a data-parallel run) and Timing where this worker's time
	// went, both of this run only (not of the run it resumed).
	Examples int64
	Timing   Timing
}

// Timing splits a run's wall time. Data is the time the loop waited for
// the next training batch (near zero when the prefetching pipeline keeps
// ahead of the model); Step the forward, backward and optimizer time;
// Eval the evaluations; Checkpoint writing checkpoints. Sync, a part of
// Step, is the time a data-parallel worker spent agreeing on the batch
// size and exchanging gradients. A resumed run counts only its own time.
type Timing struct {
	Data, Step, Eval, Checkpoint time.Duration
	Sync                         time.Duration
}

// run is the state of one training run.
type run struct {
	cfg    Config
	sink   MetricSink
	log    *slog.Logger
	t      *data.Transforms
	schema data.Schema
	rows   int64
	bad    int64 // malformed training rows skipped per pass
	net    models.Model
	params []*tensor.Tensor
	opt    optim.Optimizer
	sched  optim.Schedule
	train  *data.Loader
	valid  *data.Loader
	arena  *tensor.Arena
	start  time.Time // when Run began, fitting the transforms included
	// loopStart is when the training loop began: the pace of the steps,
	// for the estimated time left, is measured from it.
	loopStart time.Time
	dp        *parallel // nil when training alone

	pos       position
	saved     position // where the newest checkpoint of this process was written
	startStep int      // the step this run started (resumed) at
	timing    Timing
	examples  int64
	lossSum   float64 // training loss since the last evaluation
	lossN     int
	last      map[string]float64
}

// position is where a run stands; checkpoints save it.
type position struct {
	Step  int `json:"step"`
	Epoch int `json:"epoch"`
	// Batch is the number of batches of Epoch already trained on.
	Batch int `json:"batch"`
	// Best, HasBest and Bad are the early-stopping state: the best metric
	// value so far (negated when larger is better), and the evaluations
	// since it improved.
	Best    float64 `json:"best"`
	HasBest bool    `json:"has_best"`
	Bad     int     `json:"bad"`
	Stopped bool    `json:"stopped"`
	// EvalPending marks an evaluation that was due at Step but did not
	// finish (the run was interrupted during it); a resumed run does it
	// first, so that early stopping sees what an uninterrupted run saw.
	EvalPending bool `json:"eval_pending,omitempty"`
}

// Run trains the model cfg describes and records the run in sink (nil:
// Discard). When ctx is cancelled it writes a checkpoint (if CheckpointDir
// is set), finishes the run as Killed and returns ctx's error; a later Run
// with Resume continues where it stopped.
func Run(ctx context.Context, cfg Config, sink MetricSink) (res *Result, err error) {
	if sink == nil || (cfg.Group != nil && cfg.Group.Rank() != 0) {
		sink = Discard // only rank 0 of a data-parallel group tracks
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	defer func() {
		status := Finished
		switch {
		case ctx.Err() != nil && errors.Is(err, ctx.Err()):
			status = Killed
		case err != nil:
			status = Failed
		}
		if ferr := sink.Finish(status); ferr != nil && err == nil {
			err = fmt.Errorf("train: finish run: %w", ferr)
		}
	}()
	r, err := start(ctx, cfg, sink)
	if err != nil {
		return nil, err
	}
	if err := r.loop(ctx); err != nil {
		return nil, err
	}
	return r.finish(ctx)
}

// start fits the transforms (or restores them from a checkpoint), builds
// the model, optimizer and loaders, and logs the run's params and tags.
func start(ctx context.Context, cfg Config, sink MetricSink) (*run, error) {
	r := &run{cfg: cfg, sink: sink, log: cfg.Logger, arena: tensor.NewArena(), start: time.Now()}
	if r.log == nil {
		r.log = slog.Default()
	}
	var ck *checkpoint
	if cfg.Resume {
		var err error
		if ck, err = latestCheckpoint(cfg.CheckpointDir); err != nil {
			return nil, err
		}
	}
	if ck != nil {
		r.t, r.rows, r.bad = ck.Transforms, ck.Rows, ck.Skipped
	} else {
		t, stats, err := data.Fit(ctx, cfg.Data.Train, cfg.Data.Features, cfg.Data.Label, data.FitOptions{SkipBadRows: cfg.Data.SkipBadRows, Seed: cfg.Seed})
		if err != nil {
			return nil, fmt.Errorf("train: fit transforms: %w", err)
		}
		r.t, r.rows, r.bad = t, stats.Rows, stats.Skipped
		if r.bad > 0 {
			r.log.Warn("skipping malformed training rows", "path", cfg.Data.Train.Path, "rows", r.bad)
		}
	}
	r.schema = r.t.Schema()
	net, err := models.Build(cfg.Arch, cfg.Params, r.schema, cfg.Seed)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	r.net, r.params = net, nn.Tensors(net)
	if r.dp = newParallel(cfg.Group, r.params); !r.leader() {
		r.cfg.Progress, r.cfg.StepProgress, r.cfg.ModelDir = nil, nil, ""
	}
	if r.opt, err = cfg.newOptimizer(r.params); err != nil {
		return nil, err
	}
	if r.sched, err = cfg.schedule(r.totalSteps()); err != nil {
		return nil, err
	}
	if err := r.checkMetric(); err != nil {
		return nil, err
	}
	if err := r.openLoaders(); err != nil {
		return nil, err
	}
	if ck != nil {
		if err := r.restore(ck); err != nil {
			return nil, err
		}
	}
	if r.dp != nil {
		if err := r.dp.checkStep(ctx, r.pos.Step); err != nil {
			return nil, err
		}
		if err := r.dp.broadcastParameters(ctx); err != nil {
			return nil, err
		}
	}
	if err := sink.LogParams(cfg.params()); err != nil {
		return nil, fmt.Errorf("train: log params: %w", err)
	}
	if err := sink.SetTags(r.tags()); err != nil {
		return nil, fmt.Errorf("train: set tags: %w", err)
	}
	return r, nil
}

func (r *run) openLoaders() error {
	d := r.cfg.Data
	rank, workers := 0, 1
	if r.dp != nil {
		rank, workers = r.dp.g.Rank(), r.dp.g.Size()
	}
	var err error
	r.train, err = data.NewLoader(r.t, d.Train, data.LoaderOptions{
		BatchSize: r.cfg.BatchSize, ShuffleBuffer: d.ShuffleBuffer, Seed: r.cfg.Seed,
		Prefetch: d.Prefetch, SkipBadRows: d.SkipBadRows, InMemory: d.InMemory, Rank: rank, Workers: workers,
	})
	if err != nil {
		return fmt.Errorf("train: training data: %w", err)
	}
	if d.Validation.Path == "" {
		return nil
	}
	r.valid, err = data.NewLoader(r.t, d.Validation, data.LoaderOptions{
		BatchSize: r.cfg.BatchSize, Prefetch: d.Prefetch, SkipBadRows: d.SkipBadRows, InMemory: d.InMemory,
	})
	if err != nil {
		return fmt.Errorf("train: validation data: %w", err)
	}
	return nil
}

// totalSteps is the planned number of optimizer steps; a step of a
// data-parallel run takes a batch from every worker.
func (r *run) totalSteps() int {
	if r.cfg.Steps > 0 {
		return r.cfg.Steps
	}
	batch := r.cfg.BatchSize
	if r.dp != nil {
		batch *= r.dp.g.Size()
	}
	perEpoch := (int(r.rows) + batch - 1) / batch
	return max(1, perEpoch*r.cfg.Epochs)
}

func (r *run) tags() map[string]string {
	info := buildinfo.Read()
	tags := map[string]string{"mlenv.version": info.Version, "mlenv.arch": r.cfg.Arch}
	if info.Commit != "" {
		tags["mlenv.commit"] = info.Commit
	}
	if host, err := os.Hostname(); err == nil {
		tags["host"] = host
	}
	for k, v := range r.cfg.Tags {
		tags[k] = v
	}
	return tags
}

// done reports whether the run has reached its end.
func (r *run) done() bool {
	if r.pos.Stopped {
		return true
	}
	if r.cfg.Steps > 0 {
		return r.pos.Step >= r.cfg.Steps
	}
	return r.pos.Epoch >= r.cfg.Epochs
}

// loop trains until done, evaluating and checkpointing on schedule. A run
// resumed from a checkpoint written during an evaluation does that
// evaluation first.
func (r *run) loop(ctx context.Context) error {
	r.loopStart = time.Now()
	if r.pos.EvalPending {
		if err := r.evaluate(ctx); err != nil {
			return r.interrupted(ctx, err)
		}
	}
	for !r.done() {
		next, stop := iter.Pull2(r.train.Batches(ctx, r.pos.Epoch))
		finished, err := r.epoch(ctx, next)
		stop()
		if err != nil || finished {
			return err
		}
		if err := ctx.Err(); err != nil {
			return r.interrupted(ctx, err)
		}
		r.pos.Epoch++
		r.pos.Batch = 0
		if err := r.afterEpoch(ctx); err != nil {
			return err
		}
	}
	return nil
}

// epoch trains on the batches of the current epoch that next yields,
// skipping those trained on before the checkpoint the run resumed from. It
// reports whether the run ended before the epoch did.
func (r *run) epoch(ctx context.Context, next func() (*data.Batch, error, bool)) (bool, error) {
	skip := r.pos.Batch
	waitFrom := time.Now()
	for {
		b, err, ok := next()
		if err != nil {
			return false, r.interrupted(ctx, fmt.Errorf("train: epoch %d: %w", r.pos.Epoch, err))
		}
		if ok && skip > 0 {
			skip--
			continue
		}
		if !ok {
			b = nil
		}
		stepFrom := time.Now()
		r.timing.Data += stepFrom.Sub(waitFrom)
		total, err := r.globalBatch(ctx, b)
		if err != nil || total == 0 {
			r.timing.Step += time.Since(stepFrom)
			return false, err
		}
		if err := r.step(ctx, b, total); err != nil {
			return false, err
		}
		r.timing.Step += time.Since(stepFrom)
		r.pos.Batch++
		if err := r.afterStep(ctx); err != nil {
			return false, err
		}
		if r.done() {
			return true, nil
		}
		waitFrom = time.Now()
	}
}

// globalBatch returns the number of examples the next step trains on over
// all workers; 0 ends the epoch. b is this worker's batch, nil when its
// shard is used up.
func (r *run) globalBatch(ctx context.Context, b *data.Batch) (int, error) {
	size := 0
	if b != nil {
		size = b.Size
	}
	if r.dp == nil {
		return size, nil
	}
	defer r.timed(&r.timing.Sync)()
	return r.dp.globalBatch(ctx, size)
}

func (r *run) afterStep(ctx context.Context) error {
	if r.cfg.StepProgress != nil {
		p := r.progress(time.Now())
		if r.lossN > 0 {
			p.TrainLoss = r.lossSum / float64(r.lossN)
		}
		r.cfg.StepProgress(p)
	}
	if every := r.cfg.EvalEvery; every > 0 && r.pos.Step%every == 0 {
		if err := r.evaluate(ctx); err != nil {
			return r.interrupted(ctx, err)
		}
	}
	if every := r.cfg.CheckpointEvery; every > 0 && r.pos.Step%every == 0 {
		if err := r.checkpoint(); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return r.interrupted(ctx, err)
	}
	return nil
}

func (r *run) afterEpoch(ctx context.Context) error {
	if r.cfg.EvalEvery == 0 {
		if err := r.evaluate(ctx); err != nil {
			return r.interrupted(ctx, err)
		}
	}
	if r.cfg.CheckpointEvery == 0 {
		return r.checkpoint()
	}
	return nil
}

// interrupted saves a checkpoint when the context was cancelled (during
// a step, an evaluation or between them) and returns err.
func (r *run) interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		if cerr := r.checkpoint(); cerr != nil {
			return errors.Join(err, cerr)
		}
	}
	return err
}

// step trains on one batch b (nil: this worker's shard is used up and it
// only joins the gradient exchange) of a global batch of total examples.
func (r *run) step(ctx context.Context, b *data.Batch, total int) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("train: step %d: panic in model %s: %v", r.pos.Step+1, r.cfg.Arch, p)
		}
	}()
	r.opt.ZeroGrad()
	size := 0
	if b != nil {
		size = b.Size
		r.arena.Reset()
		in := models.NewInput(r.arena, b, r.schema)
		nn.SetTraining(r.net, true)
		loss := r.loss(in)
		loss.Backward()
		r.lossSum += float64(loss.Item())
		r.lossN++
	}
	if r.dp != nil {
		from := time.Now()
		err := r.dp.reduce(ctx, size, total)
		r.timing.Sync += time.Since(from)
		if err != nil {
			return fmt.Errorf("train: step %d: %w", r.pos.Step+1, err)
		}
	}
	if r.cfg.ClipNorm > 0 {
		optim.ClipGradNorm(r.params, r.cfg.ClipNorm)
	}
	r.opt.SetLR(r.sched.LR(r.pos.Step))
	r.opt.Step()
	r.pos.Step++
	r.examples += int64(total)
	return nil
}

// loss is the model's own loss (Losser) or the one of the label type.
func (r *run) loss(in *models.Input) *tensor.Tensor {
	if l, ok := r.net.(models.Losser); ok {
		return l.Loss(in)
	}
	return labelLoss(r.t.Label, r.net.Forward(in), in)
}

// labelLoss returns the mean loss of outputs y [n, k] for the label type:
// binary cross-entropy, softmax cross-entropy or squared error.
func labelLoss(l data.Label, y *tensor.Tensor, in *models.Input) *tensor.Tensor {
	switch l.Type {
	case data.Multiclass:
		classes := make([]int, in.Size)
		for i, v := range in.Labels {
			classes[i] = int(v)
		}
		return nn.CrossEntropy(y, classes, 0)
	case data.Binary:
		return nn.BCEWithLogits(y, labelTensor(in))
	}
	return nn.MSE(y, labelTensor(in))
}

func labelTensor(in *models.Input) *tensor.Tensor {
	if ar := in.Arena(); ar != nil {
		return ar.FromSlice(in.Labels, in.Size, 1)
	}
	return tensor.FromSlice(append([]float32(nil), in.Labels...), in.Size, 1)
}

// finish evaluates once more if the last step was not evaluated, writes a
// last checkpoint (so that resuming a finished run takes no step), and
// writes and logs the model artifact.
func (r *run) finish(ctx context.Context) (*Result, error) {
	if r.last == nil || r.lossN > 0 {
		if err := r.evaluate(ctx); err != nil {
			return nil, r.interrupted(ctx, err)
		}
	}
	if err := r.checkpoint(); err != nil {
		return nil, err
	}
	res := &Result{
		Model: modelfile.New(r.cfg.Name, r.cfg.Arch, r.cfg.Params, r.t, r.net),
		Steps: r.pos.Step, Epochs: r.pos.Epoch, Metrics: r.last, StoppedEarly: r.pos.Stopped,
		SkippedRows: r.bad, Examples: r.examples, Timing: r.timing,
	}
	if dir := r.cfg.ModelDir; dir != "" { // empty on ranks other than 0
		if err := res.Model.Save(dir); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
		if err := r.sink.LogArtifact(dir, "model"); err != nil {
			return nil, fmt.Errorf("train: log model artifact: %w", err)
		}
	}
	return res, nil
}

// timed returns a function that adds the time since timed was called to d:
// defer r.timed(&d)().
func (r *run) timed(d *time.Duration) func() {
	from := time.Now()
	return func() { *d += time.Since(from) }
}
