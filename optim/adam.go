package optim

import (
	"math"

	"github.com/mlenv/mlenv/kernel"
	"github.com/mlenv/mlenv/tensor"
)

// AdamConfig configures Adam and AdamW. Zero Beta1, Beta2 and Eps take
// PyTorch's defaults 0.9, 0.999 and 1e-8.
type AdamConfig struct {
	LR          float64
	Beta1       float64
	Beta2       float64
	Eps         float64
	WeightDecay float64 // Adam: L2 added to the gradient; AdamW: decoupled decay
}

// Adam is the Adam optimizer (torch.optim.Adam), or AdamW (decoupled
// weight decay, torch.optim.AdamW) when made by NewAdamW. For parameters
// with sparse row gradients only the touched rows are updated ("lazy"
// Adam), with the bias correction of the global step.
type Adam struct {
	base
	cfg       AdamConfig
	decoupled bool
	step      int
	m, v      [][]float32
}

// NewAdam returns Adam over params.
func NewAdam(params []*tensor.Tensor, cfg AdamConfig) *Adam {
	return newAdam(params, cfg, false)
}

// NewAdamW returns AdamW over params.
func NewAdamW(params []*tensor.Tensor, cfg AdamConfig) *Adam {
	return newAdam(params, cfg, true)
}

func newAdam(params []*tensor.Tensor, cfg AdamConfig, decoupled bool) *Adam {
	if cfg.Beta1 == 0 {
		cfg.Beta1 = 0.9
	}
	if cfg.Beta2 == 0 {
		cfg.Beta2 = 0.999
	}
	if cfg.Eps == 0 {
		cfg.Eps = 1e-8
	}
	return &Adam{base: base{params: params, lr: cfg.LR}, cfg: cfg, decoupled: decoupled,
		m: make([][]float32, len(params)), v: make([][]float32, len(params))}
}

// Step applies one update, through the fused kernel.AdamStep.
func (o *Adam) Step() {
	o.step++
	bc1 := 1 - math.Pow(o.cfg.Beta1, float64(o.step))
	bc2 := 1 - math.Pow(o.cfg.Beta2, float64(o.step))
	kp := kernel.AdamParams{
		Beta1:       float32(o.cfg.Beta1),
		Beta2:       float32(o.cfg.Beta2),
		WeightDecay: float32(o.cfg.WeightDecay),
		Decay:       1,
		StepSize:    float32(o.lr / bc1),
		InvSqrtBC2:  float32(1 / math.Sqrt(bc2)),
		Eps:         float32(o.cfg.Eps),
	}
	if o.decoupled {
		kp.Decay = float32(1 - o.lr*o.cfg.WeightDecay)
		kp.WeightDecay = 0
	}
	for i, p := range o.params {
		if o.m[i] == nil {
			o.m[i] = make([]float32, p.Len())
			o.v[i] = make([]float32, p.Len())
		}
		ms, vs := o.m[i], o.v[i]
		forEachGrad(p, true, func(off int, w, g []float32) {
			kernel.AdamStep(w, g[:len(w)], ms[off:off+len(w)], vs[off:off+len(w)], &kp)
		})
	}
}
