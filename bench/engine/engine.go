// Package engine measures mlenv's deep-learning engine the way
// bench/engine/torch_bench.py measures PyTorch, so that `mlenv bench engine`
// and the Python script print comparable figures: MLP training and
// inference throughput, and SGEMM GFLOP/s.
package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/mlenv/mlenv/kernel"
	"github.com/mlenv/mlenv/nn"
	"github.com/mlenv/mlenv/optim"
	"github.com/mlenv/mlenv/tensor"
)

// Models lists the benchmarks Run knows.
var Models = []string{"mlp", "gemm"}

// Config selects one benchmark run. Zero fields take the defaults noted.
type Config struct {
	Model    string        // "mlp" or "gemm"
	Threads  int           // GOMAXPROCS and GEMM threads; default 1
	Batch    int           // MLP batch size; default 512
	Duration time.Duration // measured time per figure; default 3s
	Warmup   time.Duration // unmeasured time before each figure; default Duration/5
}

// Result is one run's figures. Fields that do not apply are zero.
type Result struct {
	Engine          string             `json:"engine"`
	Model           string             `json:"model"`
	Threads         int                `json:"threads"`
	Batch           int                `json:"batch,omitempty"`
	Kernel          string             `json:"kernel"`
	TrainPerSec     float64            `json:"train_examples_per_s,omitempty"`
	InferPerSec     float64            `json:"infer_examples_per_s,omitempty"`
	FinalLoss       float64            `json:"final_loss,omitempty"`
	GFLOPS          map[string]float64 `json:"gflops,omitempty"`
	DurationSeconds float64            `json:"seconds"`
}

// Run performs the benchmark cfg describes. It changes GOMAXPROCS and the
// kernel thread count for the duration of the run and restores them after.
// It returns early with ctx's error if ctx is cancelled.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Threads <= 0 {
		cfg.Threads = 1
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 512
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 3 * time.Second
	}
	if cfg.Warmup <= 0 {
		cfg.Warmup = cfg.Duration / 5
	}
	prevProcs, prevThreads := runtime.GOMAXPROCS(cfg.Threads), kernel.Threads()
	kernel.SetThreads(cfg.Threads)
	defer func() {
		runtime.GOMAXPROCS(prevProcs)
		kernel.SetThreads(prevThreads)
	}()
	res := Result{Engine: "mlenv", Model: cfg.Model, Threads: cfg.Threads, Kernel: kernel.Name(), DurationSeconds: cfg.Duration.Seconds()}
	var err error
	switch cfg.Model {
	case "mlp":
		res.Batch = cfg.Batch
		err = runMLP(ctx, cfg, &res)
	case "gemm":
		res.GFLOPS = map[string]float64{}
		for _, n := range []int{512, 2048} {
			var g float64
			g, err = gemm(ctx, cfg, n)
			if err != nil {
				break
			}
			res.GFLOPS[fmt.Sprint(n)] = g
		}
	default:
		return res, fmt.Errorf("engine bench: unknown model %q (want one of %v)", cfg.Model, Models)
	}
	return res, err
}

// timeLoop calls step repeatedly, first for cfg.Warmup unmeasured, then
// for cfg.Duration, and returns the measured steps per second.
func timeLoop(ctx context.Context, cfg Config, step func()) (float64, error) {
	if _, err := repeat(ctx, cfg.Warmup, step); err != nil {
		return 0, err
	}
	return repeat(ctx, cfg.Duration, step)
}

// repeat calls step until d has passed and returns calls per second.
func repeat(ctx context.Context, d time.Duration, step func()) (float64, error) {
	start := time.Now()
	n := 0
	for time.Since(start) < d {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		step()
		n++
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// runMLP trains and then runs inference on an MLP 256->512->512->1 with
// ReLU, BCE-with-logits and Adam on one fixed random batch, as the PyTorch
// script does.
func runMLP(ctx context.Context, cfg Config, res *Result) error {
	rng := rand.New(rand.NewPCG(1, 2))
	model := nn.NewMLP(rng, nn.ReLU, 256, 512, 512, 1)
	opt := optim.NewAdam(nn.Tensors(model), optim.AdamConfig{LR: 1e-3})
	xs := tensor.Normal(rng, 0, 1, cfg.Batch, 256).Data()
	ys := make([]float32, cfg.Batch)
	for i := range ys {
		if xs[i*256] > 0 {
			ys[i] = 1
		}
	}
	ar := tensor.NewArena()
	var loss float32
	rate, err := timeLoop(ctx, cfg, func() {
		ar.Reset()
		x, y := ar.FromSlice(xs, cfg.Batch, 256), ar.FromSlice(ys, cfg.Batch, 1)
		opt.ZeroGrad()
		l := nn.BCEWithLogits(model.Forward(x), y)
		l.Backward()
		opt.Step()
		loss = l.Item()
	})
	if err != nil {
		return err
	}
	res.TrainPerSec, res.FinalLoss = rate*float64(cfg.Batch), float64(loss)

	inf := tensor.NewArena()
	inf.SetGrad(false)
	rate, err = timeLoop(ctx, cfg, func() {
		inf.Reset()
		model.Forward(inf.FromSlice(xs, cfg.Batch, 256))
	})
	res.InferPerSec = rate * float64(cfg.Batch)
	return err
}

// gemm returns the GFLOP/s of C = A·B for n×n×n float32 matrices.
func gemm(ctx context.Context, cfg Config, n int) (float64, error) {
	rng := rand.New(rand.NewPCG(3, 4))
	a := tensor.Normal(rng, 0, 1, n, n).Data()
	b := tensor.Normal(rng, 0, 1, n, n).Data()
	c := make([]float32, n*n)
	rate, err := timeLoop(ctx, cfg, func() {
		kernel.Sgemm(false, false, n, n, n, 1, a, n, b, n, 0, c, n)
	})
	return rate * 2 * float64(n) * float64(n) * float64(n) / 1e9, err
}
