// Package trainbench measures mlenv's trainer end to end: an MLP on the
// synthetic click-through data, read from Parquet through the streaming
// pipeline, with the time split between waiting for data, training steps
// and evaluation, next to the throughput of the data pipeline alone. It
// answers whether the pipeline keeps ahead of the model.
package trainbench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/mlenv/mlenv/data"
	"github.com/mlenv/mlenv/train"
)

// Config selects a run. Zero fields take the defaults noted.
type Config struct {
	Rows    int    // training rows; default 200000 (validation gets Rows/10)
	Epochs  int    // default 2
	Batch   int    // default 512
	Threads int    // GOMAXPROCS during the run; default 1
	Hidden  []int  // MLP widths; default [256, 128]
	Dir     string // where the data files go; default a temporary directory
}

// Result is one run's figures. Seconds fields are wall-clock time.
type Result struct {
	Rows    int   `json:"rows"`
	Epochs  int   `json:"epochs"`
	Batch   int   `json:"batch"`
	Threads int   `json:"threads"`
	Hidden  []int `json:"hidden"`
	// TrainPerSec is training examples per second of the whole run (fit,
	// data, steps and evaluations); StepPerSec counts only step time.
	TrainPerSec float64 `json:"train_examples_per_s"`
	StepPerSec  float64 `json:"step_examples_per_s"`
	// PipelinePerSec is the data pipeline alone: a loader pass with the
	// same batch size and shuffle buffer and no model.
	PipelinePerSec float64 `json:"pipeline_examples_per_s"`
	TotalSeconds   float64 `json:"total_s"`
	SetupSeconds   float64 `json:"setup_s"` // fitting transforms, building the model
	DataSeconds    float64 `json:"data_wait_s"`
	StepSeconds    float64 `json:"step_s"`
	EvalSeconds    float64 `json:"eval_s"`
	AUC            float64 `json:"validation_auc"`
	BayesAUC       float64 `json:"bayes_auc"`
}

// Run writes the data set and runs the benchmark.
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg = defaults(cfg)
	if cfg.Dir == "" {
		dir, err := os.MkdirTemp("", "mlenv-bench-train")
		if err != nil {
			return Result{}, err
		}
		defer os.RemoveAll(dir)
		cfg.Dir = dir
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(cfg.Threads))
	tc, bayes, err := trainConfig(cfg)
	if err != nil {
		return Result{}, err
	}
	start := time.Now()
	res, err := train.Run(ctx, tc, nil)
	if err != nil {
		return Result{}, err
	}
	total := time.Since(start)
	tm := res.Timing
	out := Result{
		Rows: cfg.Rows, Epochs: cfg.Epochs, Batch: cfg.Batch, Threads: cfg.Threads, Hidden: cfg.Hidden,
		TrainPerSec: float64(res.Examples) / total.Seconds(), StepPerSec: float64(res.Examples) / tm.Step.Seconds(),
		TotalSeconds: total.Seconds(), DataSeconds: tm.Data.Seconds(), StepSeconds: tm.Step.Seconds(), EvalSeconds: tm.Eval.Seconds(),
		SetupSeconds: (total - tm.Data - tm.Step - tm.Eval - tm.Checkpoint).Seconds(),
		AUC:          res.Metrics["auc"], BayesAUC: bayes,
	}
	out.PipelinePerSec, err = pipeline(ctx, res.Model.Meta.Transforms, tc)
	return out, err
}

func defaults(cfg Config) Config {
	if cfg.Rows <= 0 {
		cfg.Rows = 200000
	}
	if cfg.Epochs <= 0 {
		cfg.Epochs = 2
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 512
	}
	if cfg.Threads <= 0 {
		cfg.Threads = 1
	}
	if len(cfg.Hidden) == 0 {
		cfg.Hidden = []int{256, 128}
	}
	return cfg
}

// trainConfig writes the data and returns the run's configuration and the
// validation file's Bayes-optimal AUC.
func trainConfig(cfg Config) (train.Config, float64, error) {
	trainPath, validPath := filepath.Join(cfg.Dir, "train.parquet"), filepath.Join(cfg.Dir, "valid.parquet")
	if _, err := data.WriteSynthetic(trainPath, data.SynthOptions{Rows: cfg.Rows, Seed: 1}); err != nil {
		return train.Config{}, 0, err
	}
	info, err := data.WriteSynthetic(validPath, data.SynthOptions{Rows: max(cfg.Rows/10, 1000), Seed: 2})
	if err != nil {
		return train.Config{}, 0, err
	}
	var feats []data.Feature
	for i := 1; i <= 13; i++ {
		name := "I" + strconv.Itoa(i)
		feats = append(feats, data.Feature{Name: name, Column: name, Type: data.Numeric, Log: true, Normalize: data.NormStandard})
	}
	for i := 1; i <= 26; i++ {
		name := "C" + strconv.Itoa(i)
		feats = append(feats, data.Feature{Name: name, Column: name, Type: data.Categorical, Vocab: data.Vocab{MinCount: 1, OOVBuckets: 1}})
	}
	hidden := make([]any, len(cfg.Hidden))
	for i, h := range cfg.Hidden {
		hidden[i] = h
	}
	return train.Config{
		Name: "bench-mlp", Arch: "mlp", Params: map[string]any{"hidden": hidden, "embedding_dim": 8},
		Data: train.Data{
			Train:      data.Source{Path: trainPath, Format: data.FormatParquet},
			Validation: data.Source{Path: validPath, Format: data.FormatParquet},
			Features:   feats, Label: data.Label{Name: "label", Type: data.Binary}, ShuffleBuffer: 10000, Prefetch: 4,
		},
		Optimizer: "adam", LearningRate: 0.001, BatchSize: cfg.Batch, Epochs: cfg.Epochs, Seed: 1,
	}, info.BayesAUC, nil
}

// pipeline times the training split's passes through the loader alone.
func pipeline(ctx context.Context, t *data.Transforms, tc train.Config) (float64, error) {
	l, err := data.NewLoader(t, tc.Data.Train, data.LoaderOptions{BatchSize: tc.BatchSize,
		ShuffleBuffer: tc.Data.ShuffleBuffer, Seed: tc.Seed, Prefetch: tc.Data.Prefetch})
	if err != nil {
		return 0, err
	}
	start := time.Now()
	var n int
	for epoch := range tc.Epochs {
		for b, err := range l.Batches(ctx, epoch) {
			if err != nil {
				return 0, fmt.Errorf("pipeline pass: %w", err)
			}
			n += b.Size
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
