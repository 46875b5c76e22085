package optim

import "github.com/mlenv/mlenv/tensor"

// SGDConfig configures SGD. The zero value is plain SGD with LR 0; set LR.
type SGDConfig struct {
	LR          float64
	Momentum    float64 // 0 disables momentum
	Nesterov    bool    // Nesterov momentum; needs Momentum > 0
	WeightDecay float64 // L2 penalty added to the gradient
}

// SGD is stochastic gradient descent with optional momentum, Nesterov
// momentum and weight decay, following torch.optim.SGD (dampening 0).
type SGD struct {
	base
	cfg SGDConfig
	buf [][]float32 // momentum buffers, per parameter
}

// NewSGD returns an SGD optimizer over params.
func NewSGD(params []*tensor.Tensor, cfg SGDConfig) *SGD {
	return &SGD{base: base{params: params, lr: cfg.LR}, cfg: cfg, buf: make([][]float32, len(params))}
}

// Step applies one update.
func (o *SGD) Step() {
	lr, mom, wd := float32(o.lr), float32(o.cfg.Momentum), float32(o.cfg.WeightDecay)
	for i, p := range o.params {
		if mom != 0 && o.buf[i] == nil {
			o.buf[i] = make([]float32, p.Len())
		}
		buf := o.buf[i]
		forEachGrad(p, true, func(off int, w, g []float32) {
			for j, gv := range g {
				gv += wd * w[j]
				if mom != 0 {
					b := &buf[off+j]
					*b = mom*(*b) + gv
					if o.cfg.Nesterov {
						gv += mom * (*b)
					} else {
						gv = *b
					}
				}
				w[j] -= lr * gv
			}
		})
	}
}
