package train

import (
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mlenv/mlenv/collective"
	"github.com/mlenv/mlenv/data"
	"github.com/mlenv/mlenv/optim"
	"github.com/mlenv/mlenv/tensor"
)

// Config configures a training run. The CLI fills it from a job spec; the
// zero values of optional fields are documented defaults.
type Config struct {
	// Name names the run and the model artifact.
	Name string
	// Arch and Params select and configure the zoo architecture
	// (models.Build).
	Arch   string
	Params map[string]any
	Data   Data

	// Optimizer is sgd (also when empty), momentum (SGD with momentum
	// 0.9), adam, adamw or adagrad.
	Optimizer    string
	LearningRate float64
	WeightDecay  float64
	Schedule     Schedule
	// ClipNorm, when positive, clips the global gradient norm.
	ClipNorm float64

	BatchSize int
	// Exactly one of Epochs and Steps is positive.
	Epochs, Steps int
	// EvalEvery is the number of steps between evaluations on the
	// validation split; 0 evaluates at the end of each epoch.
	EvalEvery     int
	EarlyStopping EarlyStopping
	// RecallK is the k of recall@k for retrieval models; 0 means 10.
	RecallK int
	// Seed fixes the initial weights and the data order.
	Seed uint64

	// CheckpointDir, when set, receives a checkpoint every CheckpointEvery
	// steps (0: at the end of each epoch) and when the context is
	// cancelled; Resume continues from the newest one there.
	CheckpointDir   string
	CheckpointEvery int
	Resume          bool
	// OnCheckpoint, when set, is called with the directory of each
	// checkpoint once it is complete under CheckpointDir (to copy it
	// elsewhere, such as the tracked run's artifacts), before older ones
	// are pruned. It runs on the training goroutine; an error fails the
	// run.
	OnCheckpoint func(dir string) error

	// ModelDir, when set, receives the model artifact at the end, and the
	// artifact is logged to the sink as "model".
	ModelDir string
	// Tags are added to the run's tags (the trainer adds the mlenv
	// version and the host).
	Tags map[string]string
	// Progress, when set, is called after every evaluation.
	Progress func(Progress)
	// StepProgress, when set, is called after every training step with
	// the run's position and pace (Metrics nil; TrainLoss the mean since
	// the previous evaluation). It runs on the training goroutine between
	// steps, so it should return quickly: a progress bar throttles its
	// redraws.
	StepProgress func(Progress)
	// Logger receives warnings; nil means slog.Default().
	Logger *slog.Logger

	// Group, when it has more than one worker, makes the run
	// data-parallel: every worker calls Run with the same Config (but its
	// own Group) and trains on its shard of the data; only rank 0 uses the
	// sink, Progress, ModelDir and writes to CheckpointDir (see
	// parallel.go). Nil trains alone. Run does not close the Group.
	Group *collective.Group
}

// Data names the splits and the features. Validation may be empty: then
// the trainer reports only the training loss and cannot stop early.
type Data struct {
	Train, Validation data.Source
	Features          []data.Feature
	Label             data.Label
	ShuffleBuffer     int
	Prefetch          int
	SkipBadRows       bool
	// InMemory keeps each split's encoded examples in memory after the
	// first pass (see data.LoaderOptions).
	InMemory bool
}

// Schedule is a learning-rate schedule: a linear warmup over WarmupSteps,
// then Type: constant, linear or cosine decay to MinLearningRate at the
// last step, or step (multiply by Gamma every DecaySteps).
type Schedule struct {
	Type            string
	WarmupSteps     int
	DecaySteps      int
	Gamma           float64
	MinLearningRate float64
}

// EarlyStopping stops when Metric on the validation split has not improved
// by more than MinDelta for Patience evaluations in a row. Mode is min or
// max. An empty Metric disables it.
type EarlyStopping struct {
	Metric   string
	Patience int
	Mode     string
	MinDelta float64
}

// Progress reports the state of a run after an evaluation.
type Progress struct {
	// Step is the number of steps taken, of TotalSteps planned (the
	// steps of Epochs passes, unless early stopping ends the run sooner).
	Step, TotalSteps int
	Epoch            int
	// Examples counts the training examples so far, of all workers in a
	// data-parallel run.
	Examples int64
	Elapsed  time.Duration
	// Remaining estimates the time to the planned last step at the pace
	// of this run's training loop so far (evaluations included, fitting
	// the transforms not).
	Remaining time.Duration
	// TrainLoss is the mean training loss since the previous evaluation
	// (of rank 0's batches in a data-parallel run).
	TrainLoss float64
	// Metrics are the validation metrics (nil without validation data).
	Metrics map[string]float64
}

// ExamplesPerSecond is the training throughput so far.
func (p Progress) ExamplesPerSecond() float64 {
	return float64(p.Examples) / max(p.Elapsed.Seconds(), 1e-9)
}

func (c *Config) validate() error {
	switch {
	case c.Name == "":
		return fmt.Errorf("train: Name is empty")
	case c.BatchSize <= 0:
		return fmt.Errorf("train: BatchSize %d must be positive", c.BatchSize)
	case (c.Epochs > 0) == (c.Steps > 0):
		return fmt.Errorf("train: exactly one of Epochs (%d) and Steps (%d) must be positive", c.Epochs, c.Steps)
	case c.LearningRate <= 0:
		return fmt.Errorf("train: LearningRate %g must be positive", c.LearningRate)
	case c.EarlyStopping.Metric != "" && c.Data.Validation.Path == "":
		return fmt.Errorf("train: early stopping on %q needs a validation split", c.EarlyStopping.Metric)
	case c.EarlyStopping.Metric != "" && !slices.Contains([]string{"min", "max"}, c.EarlyStopping.Mode):
		return fmt.Errorf("train: early stopping mode %q (allowed: min, max)", c.EarlyStopping.Mode)
	}
	return nil
}

// newOptimizer makes the optimizer named in c over params.
func (c *Config) newOptimizer(params []*tensor.Tensor) (optim.Optimizer, error) {
	switch c.Optimizer {
	case "sgd", "":
		return optim.NewSGD(params, optim.SGDConfig{LR: c.LearningRate, WeightDecay: c.WeightDecay}), nil
	case "momentum":
		return optim.NewSGD(params, optim.SGDConfig{LR: c.LearningRate, Momentum: 0.9, WeightDecay: c.WeightDecay}), nil
	case "adam":
		return optim.NewAdam(params, optim.AdamConfig{LR: c.LearningRate, WeightDecay: c.WeightDecay}), nil
	case "adamw":
		return optim.NewAdamW(params, optim.AdamConfig{LR: c.LearningRate, WeightDecay: c.WeightDecay}), nil
	case "adagrad":
		return optim.NewAdagrad(params, optim.AdagradConfig{LR: c.LearningRate, WeightDecay: c.WeightDecay}), nil
	}
	return nil, fmt.Errorf("train: optimizer %q (allowed: adagrad, adam, adamw, momentum, sgd)", c.Optimizer)
}

// schedule returns the learning rate schedule over total steps.
func (c *Config) schedule(total int) (optim.Schedule, error) {
	s, base := c.Schedule, c.LearningRate
	var sched optim.Schedule
	switch s.Type {
	case "constant", "":
		sched = optim.StepLR{Base: base, StepSize: 1, Gamma: 1}
	case "linear":
		sched = linearDecay{Base: base, Min: s.MinLearningRate, Steps: total}
	case "cosine":
		sched = optim.Cosine{Base: base, Min: s.MinLearningRate, Steps: total}
	case "step":
		if s.DecaySteps <= 0 {
			return nil, fmt.Errorf("train: step schedule needs positive DecaySteps, got %d", s.DecaySteps)
		}
		sched = optim.StepLR{Base: base, StepSize: s.DecaySteps, Gamma: s.Gamma}
	default:
		return nil, fmt.Errorf("train: schedule %q (allowed: constant, cosine, linear, step)", s.Type)
	}
	if s.WarmupSteps > 0 {
		sched = optim.Warmup{Steps: s.WarmupSteps, Then: sched}
	}
	return sched, nil
}

// linearDecay falls linearly from Base at step 0 to Min at step Steps-1
// and stays there.
type linearDecay struct {
	Base, Min float64
	Steps     int
}

// LR returns the decayed rate.
func (s linearDecay) LR(step int) float64 {
	if s.Steps <= 1 || step >= s.Steps-1 {
		return s.Min
	}
	f := float64(step) / float64(s.Steps-1)
	return s.Base + (s.Min-s.Base)*f
}

// params flattens the configuration for the tracking sink.
func (c *Config) params() map[string]string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	p := map[string]string{
		"arch": c.Arch, "optimizer": c.Optimizer, "learning_rate": f(c.LearningRate),
		"weight_decay": f(c.WeightDecay), "batch_size": strconv.Itoa(c.BatchSize),
		"epochs": strconv.Itoa(c.Epochs), "steps": strconv.Itoa(c.Steps),
		"seed": strconv.FormatUint(c.Seed, 10), "schedule": c.Schedule.Type,
		"features": strconv.Itoa(len(c.Data.Features)), "label": c.Data.Label.Name,
	}
	if c.Group != nil {
		p["workers"] = strconv.Itoa(c.Group.Size())
	}
	for k, v := range c.Params {
		p["model."+k] = strings.Trim(fmt.Sprint(v), "[]")
	}
	return p
}
