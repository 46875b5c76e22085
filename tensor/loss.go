package tensor

import (
	"fmt"
	"math"
)

// BCEWithLogits returns the mean binary cross-entropy between
// sigmoid(logits) and targets in {0, 1} (or probabilities), computed from
// the logits in one stable pass: max(z, 0) - z*y + log(1 + e^-|z|). Both
// tensors must have the same shape. Gradients flow to logits only.
func BCEWithLogits(logits, targets *Tensor) *Tensor {
	if !sameShape(logits.shape, targets.shape) {
		panic(fmt.Sprintf("tensor: BCEWithLogits: logits shape %v and targets shape %v differ", logits.shape, targets.shape))
	}
	ar := arenaOf(logits, targets)
	z, y := logits.contiguous(ar), targets.contiguous(ar)
	var s float64
	for i, v := range z {
		zv := float64(v)
		s += max(zv, 0) - zv*float64(y[i]) + math.Log1p(math.Exp(-math.Abs(zv)))
	}
	out := newOut(ar, nil)
	out.data[0] = float32(s / float64(len(z)))
	record(out, opBCEWithLogits, logits, targets)
	return out
}

func backBCEWithLogits(t *Tensor) {
	x := t.in[0]
	if !wantsGrad(x) {
		return
	}
	z, y := x.contiguous(t.arena), t.in[1].contiguous(t.arena)
	dst := gradData(x)
	scale := t.grad.data[0] / float32(len(z))
	for i, v := range z {
		dst[i] += scale * (sigmoid(v) - y[i])
	}
}
