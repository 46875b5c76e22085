// Package optim holds optimizers that update tensors in place from their
// gradients, learning-rate schedules and gradient clipping.
//
// An optimizer is given the parameter tensors once (nn.Tensors(model)) and
// keeps per-parameter state (momentum, moments, accumulators) that it
// allocates on the first Step. Each Step reads the dense Grad of each
// parameter, or, for tensors marked with SetSparseGrad, only the touched
// rows (tensor.RowGrad), and leaves parameters without a gradient alone.
// Optimizers are not safe for concurrent use.
package optim

import (
	"math"

	"github.com/mlenv/mlenv/tensor"
)

// Optimizer updates parameters from their gradients.
type Optimizer interface {
	// Step applies one update using the current gradients.
	Step()
	// ZeroGrad clears every parameter's gradient.
	ZeroGrad()
	// LR returns the current learning rate.
	LR() float64
	// SetLR changes the learning rate; schedules call it before Step.
	SetLR(lr float64)
}

// base holds what every optimizer shares: its parameters and learning rate.
type base struct {
	params []*tensor.Tensor
	lr     float64
}

// ZeroGrad clears the gradients of all parameters.
func (b *base) ZeroGrad() {
	for _, p := range b.params {
		p.ZeroGrad()
	}
}

// LR returns the current learning rate.
func (b *base) LR() float64 { return b.lr }

// SetLR sets the learning rate used by the next Step.
func (b *base) SetLR(lr float64) { b.lr = lr }

func (b *base) parameters() []*tensor.Tensor { return b.params }

// forEachGrad calls update with matching parameter and gradient slices and
// their element offset within the parameter: for a dense gradient over
// the whole tensor (split across goroutines if parallel), for a sparse one
// once per touched row.
func forEachGrad(p *tensor.Tensor, parallel bool, update func(off int, w, g []float32)) {
	w := p.Data()
	if r := p.Rows(); r != nil && len(r.Index) > 0 {
		for k, row := range r.Index {
			off := row * r.Width
			update(off, w[off:off+r.Width], r.Row(k))
		}
		return
	}
	if g := p.Grad(); g != nil {
		gd := g.Data()
		if !parallel {
			update(0, w, gd)
			return
		}
		tensor.ParallelFor(len(w), tensor.Grain, func(lo, hi int) {
			update(lo, w[lo:hi], gd[lo:hi])
		})
	}
}

// ClipGradNorm scales all gradients of params (dense and sparse rows) so
// that their global L2 norm is at most maxNorm, and returns the norm
// before clipping.
func ClipGradNorm(params []*tensor.Tensor, maxNorm float64) float64 {
	var ss float64
	for _, p := range params {
		forEachGrad(p, false, func(_ int, _, g []float32) {
			var s float64
			for _, v := range g {
				s += float64(v) * float64(v)
			}
			ss += s
		})
	}
	norm := math.Sqrt(ss)
	if norm <= maxNorm || norm == 0 {
		return norm
	}
	scale := float32(maxNorm / (norm + 1e-6))
	for _, p := range params {
		forEachGrad(p, true, func(_ int, _, g []float32) {
			for i := range g {
				g[i] *= scale
			}
		})
	}
	return norm
}
