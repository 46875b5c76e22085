// Package engine measures mlenv's deep-learning engine the way
// bench/engine/torch_bench.py measures PyTorch, so that `mlenv bench engine`
// and the Python script print comparable figures: training and inference
// throughput of an MLP, a DLRM-style recommender and a small CNN, and
// SGEMM GFLOP/s.
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
var Models = []string{"mlp", "dlrm", "cnn", "gemm"}

// Config selects one benchmark run. Zero fields take the defaults noted.
type Config struct {
	Model    string        // one of Models
	Threads  int           // GOMAXPROCS and GEMM threads; default 1
	Batch    int           // batch size of the model benchmarks; default 512
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
	case "mlp", "dlrm", "cnn":
		res.Batch = cfg.Batch
		err = runModel(ctx, cfg, &res)
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

// model is one benchmark model: a forward pass from a step's arena to the
// logits, its loss, and its parameters.
type model struct {
	forward func(ar *tensor.Arena) *tensor.Tensor
	loss    func(logits *tensor.Tensor) *tensor.Tensor
	opt     optim.Optimizer
}

// runModel trains the configured model on one fixed random batch, then
// runs inference on it, as the PyTorch script does.
func runModel(ctx context.Context, cfg Config, res *Result) error {
	m := newModel(cfg.Model, cfg.Batch)
	ar := tensor.NewArena()
	var loss float32
	rate, err := timeLoop(ctx, cfg, func() { loss = m.trainStep(ar) })
	if err != nil {
		return err
	}
	res.TrainPerSec, res.FinalLoss = rate*float64(cfg.Batch), float64(loss)

	inf := tensor.NewArena()
	inf.SetGrad(false)
	rate, err = timeLoop(ctx, cfg, func() {
		inf.Reset()
		m.forward(inf)
	})
	res.InferPerSec = rate * float64(cfg.Batch)
	return err
}

// newModel builds the named benchmark model with its fixed batch.
func newModel(name string, batch int) model {
	rng := rand.New(rand.NewPCG(1, 2))
	switch name {
	case "mlp":
		return newMLP(rng, batch)
	case "dlrm":
		return newDLRM(rng, batch)
	case "cnn":
		return newCNN(rng, batch)
	}
	panic(fmt.Sprintf("engine bench: no model %q", name))
}

// trainStep runs one training step in ar (reset first) and returns the loss.
func (m model) trainStep(ar *tensor.Arena) float32 {
	ar.Reset()
	m.opt.ZeroGrad()
	l := m.loss(m.forward(ar))
	l.Backward()
	m.opt.Step()
	return l.Item()
}

// newMLP is MLP 256->512->512->1, ReLU, BCE-with-logits, Adam (lr 1e-3);
// the label is the sign of the first feature.
func newMLP(rng *rand.Rand, batch int) model {
	net := nn.NewMLP(rng, nn.ReLU, 256, 512, 512, 1)
	xs := tensor.Normal(rng, 0, 1, batch, 256).Data()
	ys := make([]float32, batch)
	for i := range ys {
		if xs[i*256] > 0 {
			ys[i] = 1
		}
	}
	var labels *tensor.Tensor
	return model{
		forward: func(ar *tensor.Arena) *tensor.Tensor {
			labels = ar.FromSlice(ys, batch, 1)
			return net.Forward(ar.FromSlice(xs, batch, 256))
		},
		loss: func(logits *tensor.Tensor) *tensor.Tensor { return nn.BCEWithLogits(logits, labels) },
		opt:  optim.NewAdam(nn.Tensors(net), optim.AdamConfig{LR: 1e-3}),
	}
}

// DLRM benchmark sizes: 13 dense features, 26 tables of 100k rows, dim 16.
const (
	dlrmDense, dlrmTables, dlrmRows, dlrmDim = 13, 26, 100_000, 16
)

// dlrmNet is a DLRM-style model: bottom MLP 13-512-256-16, one embedding
// lookup per table, dot interaction, top MLP 367-512-256-1.
type dlrmNet struct {
	bottom, top *nn.MLP
	tables      []*nn.Embedding
}

// Parameters names the bottom and top MLPs and the tables emb.<i>.
func (d *dlrmNet) Parameters() []nn.NamedParam {
	ps := append(nn.Prefix("bottom", d.bottom), nn.Prefix("top", d.top)...)
	for i, t := range d.tables {
		ps = append(ps, nn.Prefix(fmt.Sprintf("emb.%d", i), t)...)
	}
	return ps
}

// newDLRM trains with SGD (lr 0.01) and sparse embedding gradients, the
// combination PyTorch supports for sparse tables.
func newDLRM(rng *rand.Rand, batch int) model {
	net := &dlrmNet{
		bottom: nn.NewMLP(rng, nn.ReLU, dlrmDense, 512, 256, dlrmDim),
		top:    nn.NewMLP(rng, nn.ReLU, dlrmDim+dlrmTables*(dlrmTables+1)/2, 512, 256, 1),
	}
	for range dlrmTables {
		net.tables = append(net.tables, nn.NewEmbedding(rng, dlrmRows, dlrmDim, true))
	}
	dense := tensor.Normal(rng, 0, 1, batch, dlrmDense).Data()
	ids := make([][]int, dlrmTables)
	for t := range ids {
		ids[t] = make([]int, batch)
		for i := range ids[t] {
			ids[t][i] = rng.IntN(dlrmRows)
		}
	}
	ys := make([]float32, batch)
	for i := range ys {
		ys[i] = float32(ids[0][i] % 2)
	}
	var labels *tensor.Tensor
	embs := make([]*tensor.Tensor, dlrmTables)
	return model{
		forward: func(ar *tensor.Arena) *tensor.Tensor {
			labels = ar.FromSlice(ys, batch, 1)
			x := tensor.ReLU(net.bottom.Forward(ar.FromSlice(dense, batch, dlrmDense)))
			for t, tab := range net.tables {
				embs[t] = tab.Lookup(ar, ids[t])
			}
			return net.top.Forward(nn.DotInteraction(x, embs...))
		},
		loss: func(logits *tensor.Tensor) *tensor.Tensor { return nn.BCEWithLogits(logits, labels) },
		opt:  optim.NewSGD(nn.Tensors(net), optim.SGDConfig{LR: 0.01}),
	}
}

// newCNN is a small CNN on 28x28 single-channel images: conv 1->32 (3x3,
// pad 1), ReLU, max-pool 2, conv 32->64, ReLU, max-pool 2, Linear 3136->128,
// ReLU, Linear 128->10; softmax cross-entropy and Adam (lr 1e-3).
func newCNN(rng *rand.Rand, batch int) model {
	net := nn.Sequential{
		nn.NewConv2d(rng, 1, 32, 3, 1, 1), nn.ReLU, nn.MaxPool2d{K: 2, Stride: 2},
		nn.NewConv2d(rng, 32, 64, 3, 1, 1), nn.ReLU, nn.MaxPool2d{K: 2, Stride: 2},
		nn.Flatten{}, nn.NewLinear(rng, 64*7*7, 128, true), nn.ReLU, nn.NewLinear(rng, 128, 10, true),
	}
	xs := tensor.Normal(rng, 0, 1, batch, 1, 28, 28).Data()
	labels := make([]int, batch)
	for i := range labels {
		labels[i] = rng.IntN(10)
	}
	return model{
		forward: func(ar *tensor.Arena) *tensor.Tensor { return net.Forward(ar.FromSlice(xs, batch, 1, 28, 28)) },
		loss:    func(logits *tensor.Tensor) *tensor.Tensor { return nn.CrossEntropy(logits, labels, 0) },
		opt:     optim.NewAdam(nn.Tensors(net), optim.AdamConfig{LR: 1e-3}),
	}
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
