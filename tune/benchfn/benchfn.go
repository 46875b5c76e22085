// Package benchfn holds the standard test functions that mlenv's tuning
// benchmark minimises, each with its search space and known minimum. The
// same definitions are written in bench/tune/optuna_bench.py and in
// docs/tuning.md; keep the three identical.
package benchfn

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sort"

	"github.com/mlenv/mlenv/tune"
)

// Function is a test function to minimise over Space.
type Function struct {
	Name    string
	Space   *tune.Space
	Minimum float64 // the global minimum value
	Eval    func(r *tune.Run) float64
}

// Get returns the function called name.
func Get(name string) (Function, error) {
	for _, f := range all {
		if f.Name == name {
			return f, nil
		}
	}
	return Function{}, fmt.Errorf("unknown test function %q (have %v)", name, Names())
}

// Names returns the function names, sorted.
func Names() []string {
	var out []string
	for _, f := range all {
		out = append(out, f.Name)
	}
	sort.Strings(out)
	return out
}

var all = []Function{
	{Name: "branin", Space: mustSpace(tune.Uniform("x1", -5, 10), tune.Uniform("x2", 0, 15)),
		Minimum: 0.397887, Eval: func(r *tune.Run) float64 { return Branin(r.Float("x1"), r.Float("x2")) }},
	{Name: "hartmann6", Space: mustSpace(uniforms(6, 0, 1)...), Minimum: -3.32237,
		Eval: func(r *tune.Run) float64 { return Hartmann6(vector(r, 6)) }},
	{Name: "rosenbrock10", Space: mustSpace(uniforms(10, -5, 10)...), Minimum: 0,
		Eval: func(r *tune.Run) float64 { return Rosenbrock(vector(r, 10)) }},
	{Name: "ackley10", Space: mustSpace(uniforms(10, -32.768, 32.768)...), Minimum: 0,
		Eval: func(r *tune.Run) float64 { return Ackley(vector(r, 10)) }},
	{Name: "mixed", Space: mustSpace(
		tune.Choice("kind", "branin", "quad", "flat"),
		tune.Uniform("branin_x1", -5, 10).If("kind", "branin"),
		tune.Uniform("branin_x2", 0, 15).If("kind", "branin"),
		tune.IntRange("quad_n", 1, 20, 1).If("kind", "quad"),
		tune.LogUniform("quad_lr", 1e-4, 1).If("kind", "quad"),
		tune.Choice("offset", "low", "mid", "high"),
	), Minimum: 0.397887, Eval: Mixed},
}

func mustSpace(ps ...tune.Param) *tune.Space {
	s, err := tune.NewSpace(ps...)
	if err != nil {
		panic(err)
	}
	return s
}

// uniforms returns n float parameters x0..x{n-1} on [low, high].
func uniforms(n int, low, high float64) []tune.Param {
	ps := make([]tune.Param, n)
	for i := range ps {
		ps[i] = tune.Uniform(fmt.Sprintf("x%d", i), low, high)
	}
	return ps
}

// vector reads x0..x{n-1}.
func vector(r *tune.Run, n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = r.Float(fmt.Sprintf("x%d", i))
	}
	return x
}

// Branin is the Branin-Hoo function on [-5, 10] x [0, 15]; its minimum
// 0.397887 is reached at three points.
func Branin(x1, x2 float64) float64 {
	const (
		a = 1.0
		b = 5.1 / (4 * math.Pi * math.Pi)
		c = 5 / math.Pi
		r = 6.0
		s = 10.0
		t = 1 / (8 * math.Pi)
	)
	q := x2 - b*x1*x1 + c*x1 - r
	return a*q*q + s*(1-t)*math.Cos(x1) + s
}

var (
	hartmannAlpha = [4]float64{1.0, 1.2, 3.0, 3.2}
	hartmannA     = [4][6]float64{
		{10, 3, 17, 3.5, 1.7, 8},
		{0.05, 10, 17, 0.1, 8, 14},
		{3, 3.5, 1.7, 10, 17, 8},
		{17, 8, 0.05, 10, 0.1, 14},
	}
	hartmannP = [4][6]float64{
		{1312, 1696, 5569, 124, 8283, 5886},
		{2329, 4135, 8307, 3736, 1004, 9991},
		{2348, 1451, 3522, 2883, 3047, 6650},
		{4047, 8828, 8732, 5743, 1091, 381},
	}
)

// Hartmann6 is the six-dimensional Hartmann function on [0, 1]^6, minimum
// -3.32237.
func Hartmann6(x []float64) float64 {
	sum := 0.0
	for i := range 4 {
		inner := 0.0
		for j := range 6 {
			d := x[j] - hartmannP[i][j]*1e-4
			inner += hartmannA[i][j] * d * d
		}
		sum += hartmannAlpha[i] * math.Exp(-inner)
	}
	return -sum
}

// Rosenbrock is the Rosenbrock valley, minimum 0 at (1, ..., 1).
func Rosenbrock(x []float64) float64 {
	sum := 0.0
	for i := 0; i+1 < len(x); i++ {
		a, b := x[i+1]-x[i]*x[i], 1-x[i]
		sum += 100*a*a + b*b
	}
	return sum
}

// Ackley is the Ackley function with a=20, b=0.2, c=2*pi, minimum 0 at the
// origin.
func Ackley(x []float64) float64 {
	n := float64(len(x))
	sq, cs := 0.0, 0.0
	for _, v := range x {
		sq += v * v
		cs += math.Cos(2 * math.Pi * v)
	}
	return -20*math.Exp(-0.2*math.Sqrt(sq/n)) - math.Exp(cs/n) + 20 + math.E
}

// mixedOffsets are the values added by the "offset" choice of Mixed.
var mixedOffsets = map[string]float64{"low": 0.5, "mid": 0, "high": 1}

// Mixed is a function with categorical and conditional parameters:
//
//	kind = branin: Branin(branin_x1, branin_x2)          (minimum 0.397887)
//	kind = quad:   1 + (log10(quad_lr) + 2)^2 + ((quad_n - 7) / 4)^2   (minimum 1)
//	kind = flat:   1.5
//
// plus 0.5, 0 or 1 for offset low, mid or high. The global minimum is
// 0.397887 (kind branin, offset mid).
func Mixed(r *tune.Run) float64 {
	var v float64
	switch kind := r.Choice("kind"); kind {
	case "branin":
		v = Branin(r.Float("branin_x1"), r.Float("branin_x2"))
	case "quad":
		l, n := math.Log10(r.Float("quad_lr"))+2, (r.Float("quad_n")-7)/4
		v = 1 + l*l + n*n
	case "flat":
		v = 1.5
	default:
		panic(fmt.Sprintf("benchfn: unknown kind %q", kind))
	}
	return v + mixedOffsets[r.Choice("offset")]
}

// Run runs a study of trials trials of f with sampler, one at a time, and
// returns it.
func Run(ctx context.Context, f Function, sampler tune.Sampler, trials int) (*tune.Study, error) {
	study, err := tune.Open(ctx, tune.Config{Space: f.Space, Sampler: sampler, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	obj := func(_ context.Context, r *tune.Run) (float64, error) { return f.Eval(r), nil }
	if err := study.Optimize(ctx, obj, trials, 1); err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	return study, nil
}

// Best runs a study like Run and returns the best value found.
func Best(ctx context.Context, f Function, sampler tune.Sampler, trials int) (float64, error) {
	study, err := Run(ctx, f, sampler, trials)
	if err != nil {
		return 0, err
	}
	best, ok := study.Best()
	if !ok {
		return 0, fmt.Errorf("%s: no trial completed", f.Name)
	}
	return best.Value, nil
}
