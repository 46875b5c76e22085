package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// GradCheck compares the gradients that Backward computes for f with
// central finite differences, for every element of every input. The
// scalar checked is Σ f(inputs)·w for a fixed random w, accumulated in
// float64; each input is perturbed by ±eps. An element fails when
// |analytic - numeric| > tol * (1 + |numeric|). GradCheck marks the inputs
// as requiring gradients, replaces their gradients, and returns an error
// naming the first failing input and element. It is meant for tests of new
// ops and layers; f must be deterministic.
func GradCheck(f func(in []*Tensor) *Tensor, inputs []*Tensor, eps, tol float64) error {
	for _, x := range inputs {
		x.RequiresGrad()
		x.grad = nil
	}
	out := f(inputs)
	w := Normal(rand.New(rand.NewPCG(7, 7)), 0, 1, out.shape...)
	SumAll(Mul(out, w)).Backward()
	value := func() float64 {
		var s float64
		for i, v := range f(inputs).Data() {
			s += float64(v) * float64(w.data[i])
		}
		return s
	}
	for k, x := range inputs {
		if x.grad == nil {
			return fmt.Errorf("input %d (shape %v) got no gradient", k, x.shape)
		}
		if !x.IsContiguous() {
			return fmt.Errorf("input %d (shape %v) is a view; pass contiguous inputs", k, x.shape)
		}
		d := x.Data()
		for i := range d {
			orig := d[i]
			d[i] = orig + float32(eps)
			up := value()
			d[i] = orig - float32(eps)
			down := value()
			d[i] = orig
			num := (up - down) / (2 * eps)
			got := float64(x.grad.data[i])
			if math.Abs(got-num) > tol*(1+math.Abs(num)) {
				return fmt.Errorf("input %d (shape %v) element %d: gradient %.6g, finite difference %.6g", k, x.shape, i, got, num)
			}
		}
	}
	return nil
}
