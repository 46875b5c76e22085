// Package explain computes feature attributions by integrated gradients
// (Sundararajan et al. 2017): for an input x and a baseline b, the
// attribution of input column i is
//
//	(x_i - b_i) * ∫₀¹ ∂f(b + α(x - b))/∂x_i dα,
//
// and the attributions of an example add up to f(x) - f(b)
// (completeness), which Attribute checks and reports per example.
//
// A model is seen through its Inputs: dense columns (one per numeric
// feature) and embedded features, whose ids have already been turned into
// vectors; integrated gradients runs along the straight path between the
// embedding vectors of the example and of the baseline, and the
// attribution of an embedded feature is the sum over its vector. So any
// differentiable function built with package tensor can be explained: a
// Func receives the interpolated points and returns one output per point.
// FromArtifact adapts the zoo's models (package models) to a Func.
//
// Work is batched: one forward and backward pass covers the interpolation
// steps of several (example, baseline) pairs, at most Options.MaxRows
// points, and Options.Workers goroutines run such chunks in parallel.
// Several baselines per example (a sample of reference rows) give the
// average of their integrated gradients, as expected gradients does
// (Erion et al. 2021).
package explain

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/mlenv/mlenv/tensor"
)

// Field is an embedded feature: Width columns of a point that belong to
// one feature, such as the embedding vector of a categorical id or the
// pooled vector of a multi-hot list.
type Field struct {
	Name  string
	Width int
}

// Inputs describes the points a Func takes: first one column per Dense
// feature, then each embedded field's Width columns, in order.
type Inputs struct {
	Dense    []string
	Embedded []Field
}

// Width is the number of columns of a point.
func (in Inputs) Width() int {
	w := len(in.Dense)
	for _, f := range in.Embedded {
		w += f.Width
	}
	return w
}

// maxWidth is the most columns of one input tensor of a Func: the dense
// features or the widest embedded field.
func (in Inputs) maxWidth() int {
	w := len(in.Dense)
	for _, f := range in.Embedded {
		w = max(w, f.Width)
	}
	return w
}

// Features returns the feature names in column order: dense, then
// embedded.
func (in Inputs) Features() []string {
	names := append([]string(nil), in.Dense...)
	for _, f := range in.Embedded {
		names = append(names, f.Name)
	}
	return names
}

// featureOf maps each column to its feature index.
func (in Inputs) featureOf() []int {
	cols := make([]int, 0, in.Width())
	for i := range in.Dense {
		cols = append(cols, i)
	}
	for k, f := range in.Embedded {
		for range f.Width {
			cols = append(cols, len(in.Dense)+k)
		}
	}
	return cols
}

// Func evaluates a model at n points given as dense [n, len(Dense)] (nil
// without dense features) and one [n, Width] tensor per embedded field,
// and returns the explained output, [n] or [n, 1]. The inputs are leaves
// that require gradients, in a worker's arena; Func must build its result
// from them with tensor ops so that gradients reach them. A Model's
// Forward is called by several workers at once and must be safe for that:
// its parameters must not require gradients (see Freeze).
type Func func(dense *tensor.Tensor, embedded []*tensor.Tensor) *tensor.Tensor

// Model is what Attribute explains: a Func and the Inputs it takes.
type Model struct {
	Inputs Inputs
	// Forward is the model, shared by all workers.
	Forward Func
	// Worker, when set, is used instead of Forward: each worker goroutine
	// calls it once and uses the Func it returns for all its passes, then
	// calls release. It is for models that keep state between a forward
	// pass and its backward pass (Artifact's replicas).
	Worker func() (f Func, release func(), err error)
}

// worker returns the Func of one worker goroutine.
func (m Model) worker() (Func, func(), error) {
	if m.Worker != nil {
		return m.Worker()
	}
	return m.Forward, func() {}, nil
}

// Options configures Attribute. The zero value takes the defaults.
type Options struct {
	// Steps is the number of points on each path (default DefaultSteps).
	Steps int
	// Method is the quadrature rule (default DefaultMethod).
	Method Method
	// Workers bounds the goroutines running chunks (default GOMAXPROCS).
	Workers int
	// MaxRows bounds the points of one forward/backward pass and so the
	// memory of a worker (default 2048); a chunk always holds at least one
	// (example, baseline) pair.
	MaxRows int
	// Tolerance is the completeness error above which an example is
	// recomputed with twice the steps (default DefaultTolerance; negative:
	// never). Models with kinks (ReLU) need more steps on some paths.
	Tolerance float64
	// MaxSteps bounds that refinement (default 32 * Steps).
	MaxSteps int
}

// DefaultTolerance is the default completeness tolerance: 1%.
const DefaultTolerance = 0.01

func (o Options) withDefaults() Options {
	if o.Steps == 0 {
		o.Steps = DefaultSteps
	}
	if o.Method == "" {
		o.Method = DefaultMethod
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.MaxRows <= 0 {
		o.MaxRows = 2048
	}
	if o.Tolerance == 0 {
		o.Tolerance = DefaultTolerance
	}
	if o.MaxSteps == 0 {
		o.MaxSteps = 32 * o.Steps
	}
	return o
}

// Result holds the attributions of a set of examples.
type Result struct {
	// Features names the attributed features (Inputs.Features).
	Features []string
	// Attributions is [example][feature]: the integrated gradients,
	// averaged over the baselines.
	Attributions [][]float64
	// Outputs is f(x) per example; BaselineOutputs the mean of f over the
	// baselines.
	Outputs, BaselineOutputs []float64
	// AbsErrors is the completeness error per example: |Σ attributions -
	// (f(x) - f(b))|.
	AbsErrors []float64
	// Errors is the relative completeness error per example: AbsErrors
	// divided by max(|f(x) - f(b)|, FloorShare * the mean of |f(x) - f(b)|
	// over the examples).
	Errors []float64
	// Steps is the number of path points each example's attributions
	// were finally computed with (more than Options.Steps if refined).
	Steps []int
}

// FloorShare sets the smallest denominator of the relative completeness
// error: FloorShare times the mean |f(x) - f(b)| of the examples
// explained together. An example whose output barely moves from the
// baseline would otherwise report a huge relative error for an absolute
// error that is negligible on the scale of the model's outputs (float32
// rounding, or the kinks of a ReLU network along the path).
const FloorShare = 0.1

// Attribute computes integrated gradients of m for each point of xs
// against every baseline (one point or more; several are averaged). Each
// point has m.Inputs.Width() values. Examples whose completeness error
// exceeds Options.Tolerance are recomputed with twice the steps, up to
// Options.MaxSteps. It returns an error naming the bad point, option or
// failed chunk (a panic in Forward is returned as an error), or ctx's
// error when cancelled.
func Attribute(ctx context.Context, m Model, xs, baselines [][]float32, opt Options) (*Result, error) {
	opt = opt.withDefaults()
	if len(baselines) == 0 {
		return nil, fmt.Errorf("explain: no baseline")
	}
	width := m.Inputs.Width()
	if err := checkWidths("example", xs, width); err != nil {
		return nil, err
	}
	if err := checkWidths("baseline", baselines, width); err != nil {
		return nil, err
	}
	res, err := attribute(ctx, m, xs, baselines, opt)
	if err != nil {
		return nil, err
	}
	meanDelta := res.meanDelta()
	for steps := opt.Steps * 2; opt.Tolerance > 0 && steps <= opt.MaxSteps; steps *= 2 {
		var redo []int
		for i, e := range res.Errors {
			if e > opt.Tolerance {
				redo = append(redo, i)
			}
		}
		if len(redo) == 0 {
			break
		}
		sub := make([][]float32, len(redo))
		for k, i := range redo {
			sub[k] = xs[i]
		}
		o := opt
		o.Steps = steps
		fine, err := attribute(ctx, m, sub, baselines, o)
		if err != nil {
			return nil, err
		}
		for k, i := range redo {
			res.Attributions[i], res.AbsErrors[i], res.Steps[i] = fine.Attributions[k], fine.AbsErrors[k], steps
			res.Errors[i] = relError(res.AbsErrors[i], res.Outputs[i]-res.BaselineOutputs[i], meanDelta)
		}
	}
	return res, nil
}

// attribute computes integrated gradients with opt.Steps steps for every
// example, in parallel chunks.
func attribute(parent context.Context, m Model, xs, baselines [][]float32, opt Options) (*Result, error) {
	alphas, weights, err := Nodes(opt.Method, opt.Steps)
	if err != nil {
		return nil, err
	}
	r := newRun(m, xs, baselines, alphas, weights)
	pairs := len(xs) * len(baselines)
	per := max(opt.MaxRows/r.rowsPerPair(), 1)
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	chunks := make(chan [2]int)
	errs := make(chan error, opt.Workers)
	var wg sync.WaitGroup
	for range min(opt.Workers, (pairs+per-1)/per) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, release, err := m.worker()
			if err != nil {
				errs <- err
				cancel()
				return
			}
			defer release()
			ar := tensor.NewArena()
			for c := range chunks {
				if err := r.chunk(ar, f, c[0], c[1]); err != nil {
					errs <- err
					cancel()
					return
				}
			}
		}()
	}
	go func() {
		defer close(chunks)
		for lo := 0; lo < pairs; lo += per {
			select {
			case chunks <- [2]int{lo, min(lo+per, pairs)}:
			case <-ctx.Done():
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	if err := parent.Err(); err != nil {
		return nil, fmt.Errorf("explain: %w", err)
	}
	return r.result(opt.Steps), nil
}

func checkWidths(what string, rows [][]float32, width int) error {
	for i, row := range rows {
		if len(row) != width {
			return fmt.Errorf("explain: %s %d has %d values, the model takes %d", what, i, len(row), width)
		}
	}
	return nil
}

// run is the state of one Attribute call. Workers write disjoint entries
// of attr and fb (one pair each) and fx (one example each, from its pair
// with the first baseline).
type run struct {
	m                Model
	xs, bs           [][]float32
	alphas, weights  []float64
	featureOf        []int
	attr             [][]float64 // [pair][feature]
	fx, fb           []float64   // [example], [pair]
	nDense, features int
}

func newRun(m Model, xs, bs [][]float32, alphas, weights []float64) *run {
	r := &run{m: m, xs: xs, bs: bs, alphas: alphas, weights: weights,
		featureOf: m.Inputs.featureOf(), nDense: len(m.Inputs.Dense), features: len(m.Inputs.Features())}
	r.attr = make([][]float64, len(xs)*len(bs))
	for p := range r.attr {
		r.attr[p] = make([]float64, r.features)
	}
	r.fx = make([]float64, len(xs))
	r.fb = make([]float64, len(xs)*len(bs))
	return r
}

// rowsPerPair is the points of one pair in a pass: the path, then x and b
// themselves for the completeness check.
func (r *run) rowsPerPair() int { return len(r.alphas) + 2 }

// chunk runs one forward and backward pass over pairs [lo, hi); pair p is
// example p/len(bs) against baseline p%len(bs).
func (r *run) chunk(ar *tensor.Arena, f Func, lo, hi int) (err error) {
	defer ar.Reset()
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("explain: model failed on examples %d to %d: %v", lo/len(r.bs), (hi-1)/len(r.bs), v)
		}
	}()
	rows := (hi - lo) * r.rowsPerPair()
	dense, embs := r.leaves(ar, rows)
	for p := lo; p < hi; p++ {
		r.fill(dense, embs, (p-lo)*r.rowsPerPair(), r.xs[p/len(r.bs)], r.bs[p%len(r.bs)])
	}
	out := f(dense, embs)
	if out.Len() != rows {
		return fmt.Errorf("explain: model returned shape %v for %d points (want [%d] or [%d 1])", out.Shape(), rows, rows, rows)
	}
	if out.NeedsGrad() { // else no input reaches the output: zero gradients
		tensor.SumAll(out).Backward()
	}
	y := tensor.Contiguous(out).Data()
	sums := make([]float64, r.m.Inputs.maxWidth())
	for p := lo; p < hi; p++ {
		base := (p - lo) * r.rowsPerPair()
		r.integrate(p, dense, embs, base, sums)
		if p%len(r.bs) == 0 { // the example's pairs may be in other chunks
			r.fx[p/len(r.bs)] = float64(y[base+len(r.alphas)])
		}
		r.fb[p] = float64(y[base+len(r.alphas)+1])
	}
	return nil
}

// leaves returns the input tensors of a pass: dense [rows, nDense] (nil
// without dense features) and one [rows, Width] per embedded field.
func (r *run) leaves(ar *tensor.Arena, rows int) (*tensor.Tensor, []*tensor.Tensor) {
	var dense *tensor.Tensor
	if r.nDense > 0 {
		dense = ar.New(rows, r.nDense).RequiresGrad()
	}
	embs := make([]*tensor.Tensor, len(r.m.Inputs.Embedded))
	for k, f := range r.m.Inputs.Embedded {
		embs[k] = ar.New(rows, f.Width).RequiresGrad()
	}
	return dense, embs
}

// parts calls fn for each input tensor with the columns of a point it
// holds, [start, end).
func (r *run) parts(dense *tensor.Tensor, embs []*tensor.Tensor, fn func(t *tensor.Tensor, start, end int)) {
	col := 0
	if dense != nil {
		fn(dense, 0, r.nDense)
		col = r.nDense
	}
	for _, e := range embs {
		w := e.Dim(1)
		fn(e, col, col+w)
		col += w
	}
}

// fill writes the path points of x against b from row base on, then x and
// b themselves.
func (r *run) fill(dense *tensor.Tensor, embs []*tensor.Tensor, base int, x, b []float32) {
	r.parts(dense, embs, func(t *tensor.Tensor, start, end int) {
		w := end - start
		d := t.Data()
		xs, bs := x[start:end], b[start:end]
		for s, a := range r.alphas {
			row, af := d[(base+s)*w:][:w], float32(a)
			for j, bj := range bs {
				row[j] = bj + af*(xs[j]-bj)
			}
		}
		copy(d[(base+len(r.alphas))*w:], xs)
		copy(d[(base+len(r.alphas)+1)*w:], bs)
	})
}

// integrate adds (x - b) times the weighted path gradients of pair p into
// its feature attributions; sums is scratch with room for the widest
// input tensor's row.
func (r *run) integrate(p int, dense *tensor.Tensor, embs []*tensor.Tensor, base int, sums []float64) {
	x, b, attr := r.xs[p/len(r.bs)], r.bs[p%len(r.bs)], r.attr[p]
	r.parts(dense, embs, func(t *tensor.Tensor, start, end int) {
		if t.Grad() == nil { // the model does not use these columns
			return
		}
		w := end - start
		g := t.Grad().Data()
		sums := sums[:w]
		clear(sums)
		for s, wt := range r.weights { // row by row, in storage order
			for j, v := range g[(base+s)*w:][:w] {
				sums[j] += wt * float64(v)
			}
		}
		for j, sum := range sums {
			attr[r.featureOf[start+j]] += sum * float64(x[start+j]-b[start+j])
		}
	})
}

// result averages each example's attributions over its baselines and
// computes the completeness errors.
func (r *run) result(steps int) *Result {
	nb := len(r.bs)
	res := &Result{Features: r.m.Inputs.Features(), Outputs: r.fx}
	var meanDelta float64
	for i := range r.xs {
		a := make([]float64, r.features)
		var fb, sum float64
		for k := range nb {
			for f, v := range r.attr[i*nb+k] {
				a[f] += v / float64(nb)
			}
			fb += r.fb[i*nb+k] / float64(nb)
		}
		for _, v := range a {
			sum += v
		}
		res.Attributions = append(res.Attributions, a)
		res.BaselineOutputs = append(res.BaselineOutputs, fb)
		res.AbsErrors = append(res.AbsErrors, math.Abs(sum-(r.fx[i]-fb)))
		res.Steps = append(res.Steps, steps)
		meanDelta += math.Abs(r.fx[i]-fb) / float64(len(r.xs))
	}
	for i, e := range res.AbsErrors {
		res.Errors = append(res.Errors, relError(e, r.fx[i]-res.BaselineOutputs[i], meanDelta))
	}
	return res
}

// relError is abs relative to delta, with the floor FloorShare*meanDelta.
func relError(abs, delta, meanDelta float64) float64 {
	d := math.Max(math.Abs(delta), FloorShare*meanDelta)
	if d == 0 {
		return abs
	}
	return abs / d
}

// meanDelta is the mean |f(x) - f(b)| over the examples.
func (r *Result) meanDelta() float64 {
	var s float64
	for i, y := range r.Outputs {
		s += math.Abs(y-r.BaselineOutputs[i]) / float64(len(r.Outputs))
	}
	return s
}

// MaxError returns the largest completeness error, 0 for no examples.
func (r *Result) MaxError() float64 {
	var m float64
	for _, e := range r.Errors {
		m = math.Max(m, e)
	}
	return m
}

// MeanError returns the mean completeness error, 0 for no examples.
func (r *Result) MeanError() float64 {
	if len(r.Errors) == 0 {
		return 0
	}
	var s float64
	for _, e := range r.Errors {
		s += e
	}
	return s / float64(len(r.Errors))
}
