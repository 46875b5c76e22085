package kernel

import (
	"fmt"
	"math"
)

// AdamParams holds the scalars of one Adam or AdamW step, with the bias
// corrections of step t already folded in by the caller:
//
//	StepSize   = lr / (1 - Beta1^t)
//	InvSqrtBC2 = 1 / sqrt(1 - Beta2^t)
//
// Adam's L2 penalty goes in WeightDecay (added to the gradient); AdamW's
// decoupled decay goes in Decay (1 - lr*weight_decay, multiplying the
// weights), with WeightDecay 0. Plain Adam has Decay 1.
type AdamParams struct {
	Beta1, Beta2 float32
	WeightDecay  float32
	Decay        float32
	StepSize     float32
	InvSqrtBC2   float32
	Eps          float32
}

// AdamStep applies one Adam update in place to the weights w, with
// gradients g and first and second moment estimates m and v:
//
//	g' = g + WeightDecay*w
//	m  = Beta1*m + (1-Beta1)*g'
//	v  = Beta2*v + (1-Beta2)*g'²
//	w  = Decay*w - StepSize*m / (sqrt(v)*InvSqrtBC2 + Eps)
//
// g is not modified. It panics if the four slices differ in length.
// Results may differ from a plain Go loop in the last bit, where the
// assembly fuses a multiply and an add.
func AdamStep(w, g, m, v []float32, p *AdamParams) {
	if len(g) != len(w) || len(m) != len(w) || len(v) != len(w) {
		panic(fmt.Sprintf("kernel: AdamStep of lengths %d, %d, %d and %d", len(w), len(g), len(m), len(v)))
	}
	adamStep(w, g, m, v, p)
}

// adamStepGo is AdamStep in portable Go, for equal lengths.
func adamStepGo(w, g, m, v []float32, p *AdamParams) {
	g, m, v = g[:len(w)], m[:len(w)], v[:len(w)]
	for j, gv := range g {
		gv += p.WeightDecay * w[j]
		m[j] = p.Beta1*m[j] + (1-p.Beta1)*gv
		v[j] = p.Beta2*v[j] + (1-p.Beta2)*gv*gv
		denom := float32(math.Sqrt(float64(v[j])))*p.InvSqrtBC2 + p.Eps
		w[j] = w[j]*p.Decay - p.StepSize*m[j]/denom
	}
}
