// Package explainbench measures integrated gradients (package explain) on
// a DLRM-style model: attributions per second for a set of examples at a
// fixed number of steps. bench/explain/torch_ig_bench.py performs the same
// computation with PyTorch and bench/explain/run.sh prints the ratio.
package explainbench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/mlenv/mlenv/explain"
	"github.com/mlenv/mlenv/internal/cputime"
	"github.com/mlenv/mlenv/kernel"
	"github.com/mlenv/mlenv/nn"
	"github.com/mlenv/mlenv/tensor"
)

// Model sizes: 13 dense features, 26 tables of 100k rows of width 16,
// bottom MLP 13-512-256-16, dot interaction of the 27 vectors, top MLP
// 367-512-256-1, as in bench/engine's DLRM.
const (
	Dense, Tables, Rows, Dim = 13, 26, 100_000, 16
)

// Config selects a run. Zero fields take the defaults noted.
type Config struct {
	Examples int            // examples explained; default 10,000
	Steps    int            // path points per example; default 50
	Method   explain.Method // quadrature rule; default Gauss-Legendre
	Threads  int            // GOMAXPROCS and GEMM threads; default 1
	Workers  int            // explain workers; default Threads
	MaxRows  int            // points per pass; default explain's
}

// Result is one run's figures.
type Result struct {
	Engine         string  `json:"engine"`
	Examples       int     `json:"examples"`
	Steps          int     `json:"steps"`
	Method         string  `json:"method"`
	Threads        int     `json:"threads"`
	Workers        int     `json:"workers"`
	Kernel         string  `json:"kernel"`
	Seconds        float64 `json:"seconds"`
	ExamplesPerSec float64 `json:"examples_per_s"`
	// CPUSeconds is the process's CPU time during the run; on a shared
	// machine examples per CPU-second move less with other load than
	// examples per second. Zero where CPU time is not read.
	CPUSeconds        float64 `json:"cpu_seconds"`
	ExamplesPerCPUSec float64 `json:"examples_per_cpu_s,omitempty"`
	// MeanError is the mean relative completeness error.
	MeanError float64 `json:"completeness_mean_error"`
}

// net is the DLRM-style model; its parameters do not require gradients.
type net struct {
	bottom, top *nn.MLP
	tables      []*nn.Embedding
}

func newNet(rng *rand.Rand) *net {
	n := &net{
		bottom: nn.NewMLP(rng, nn.ReLU, Dense, 512, 256, Dim),
		top:    nn.NewMLP(rng, nn.ReLU, Dim+Tables*(Tables+1)/2, 512, 256, 1),
	}
	for range Tables {
		e := nn.NewEmbedding(rng, Rows, Dim, false)
		w := e.Weight.Data()
		for i := range w {
			w[i] *= 0.1
		}
		n.tables = append(n.tables, e)
	}
	return n
}

func (n *net) Parameters() []nn.NamedParam {
	ps := append(nn.Prefix("bottom", n.bottom), nn.Prefix("top", n.top)...)
	for i, t := range n.tables {
		ps = append(ps, nn.Prefix(fmt.Sprint("emb.", i), t)...)
	}
	return ps
}

// forward is the explained function: the logit.
func (n *net) forward(dense *tensor.Tensor, embs []*tensor.Tensor) *tensor.Tensor {
	x := tensor.ReLU(n.bottom.Forward(dense))
	return n.top.Forward(nn.DotInteraction(x, embs...))
}

func (n *net) model() explain.Model {
	m := explain.Model{Forward: n.forward}
	for i := range Dense {
		m.Inputs.Dense = append(m.Inputs.Dense, fmt.Sprint("dense", i))
	}
	for i := range Tables {
		m.Inputs.Embedded = append(m.Inputs.Embedded, explain.Field{Name: fmt.Sprint("cat", i), Width: Dim})
	}
	return m
}

// points draws count examples (normal dense values, uniform ids) and
// returns their points.
func (n *net) points(rng *rand.Rand, count int) [][]float32 {
	xs := make([][]float32, count)
	for i := range xs {
		p := make([]float32, 0, Dense+Tables*Dim)
		for range Dense {
			p = append(p, float32(rng.NormFloat64()))
		}
		for _, t := range n.tables {
			id := rng.IntN(Rows)
			p = append(p, t.Weight.Data()[id*Dim:(id+1)*Dim]...)
		}
		xs[i] = p
	}
	return xs
}

// Run explains cfg.Examples random examples against the zero baseline
// once (after a warm-up on a few examples) and reports the time taken.
// Step refinement is off, so that the work is exactly Examples x Steps
// points, as on the PyTorch side. It changes GOMAXPROCS and the kernel
// thread count for the run and restores them after.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Examples <= 0 {
		cfg.Examples = 10_000
	}
	if cfg.Steps <= 0 {
		cfg.Steps = explain.DefaultSteps
	}
	if cfg.Method == "" {
		cfg.Method = explain.DefaultMethod
	}
	if cfg.Threads <= 0 {
		cfg.Threads = 1
	}
	if cfg.Workers <= 0 {
		cfg.Workers = cfg.Threads
	}
	prevProcs, prevThreads := runtime.GOMAXPROCS(cfg.Threads), kernel.Threads()
	kernel.SetThreads(cfg.Threads)
	defer func() {
		runtime.GOMAXPROCS(prevProcs)
		kernel.SetThreads(prevThreads)
	}()
	rng := rand.New(rand.NewPCG(1, 2))
	n := newNet(rng)
	explain.Freeze(n)
	xs := n.points(rng, cfg.Examples)
	zero := [][]float32{make([]float32, Dense+Tables*Dim)}
	opt := explain.Options{Steps: cfg.Steps, Method: cfg.Method, Workers: cfg.Workers, MaxRows: cfg.MaxRows, Tolerance: -1}
	if _, err := explain.Attribute(ctx, n.model(), xs[:min(len(xs), 4*cfg.Workers)], zero, opt); err != nil {
		return Result{}, err
	}
	start, cpu := time.Now(), cputime.Process()
	res, err := explain.Attribute(ctx, n.model(), xs, zero, opt)
	if err != nil {
		return Result{}, err
	}
	secs, cpuSecs := time.Since(start).Seconds(), (cputime.Process() - cpu).Seconds()
	out := Result{Engine: "mlenv", Examples: cfg.Examples, Steps: cfg.Steps, Method: string(cfg.Method),
		Threads: cfg.Threads, Workers: cfg.Workers, Kernel: kernel.Name(), Seconds: secs,
		ExamplesPerSec: float64(cfg.Examples) / secs, CPUSeconds: cpuSecs, MeanError: res.MeanError()}
	if cpuSecs > 0 {
		out.ExamplesPerCPUSec = float64(cfg.Examples) / cpuSecs
	}
	return out, nil
}
