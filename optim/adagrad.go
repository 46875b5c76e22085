package optim

import (
	"math"

	"github.com/mlenv/mlenv/tensor"
)

// AdagradConfig configures Adagrad and RowWiseAdagrad. Zero Eps takes
// PyTorch's default 1e-10.
type AdagradConfig struct {
	LR                 float64
	Eps                float64
	WeightDecay        float64 // L2 added to the gradient
	InitialAccumulator float64
}

func (c *AdagradConfig) defaults() {
	if c.Eps == 0 {
		c.Eps = 1e-10
	}
}

// Adagrad keeps a running sum of squared gradients per element
// (torch.optim.Adagrad without lr decay). With sparse row gradients only
// the touched rows and their accumulators change.
type Adagrad struct {
	base
	cfg AdagradConfig
	acc [][]float32
}

// NewAdagrad returns Adagrad over params.
func NewAdagrad(params []*tensor.Tensor, cfg AdagradConfig) *Adagrad {
	cfg.defaults()
	return &Adagrad{base: base{params: params, lr: cfg.LR}, cfg: cfg, acc: make([][]float32, len(params))}
}

// Step applies one update.
func (o *Adagrad) Step() {
	lr, eps, wd := float32(o.lr), float32(o.cfg.Eps), float32(o.cfg.WeightDecay)
	for i, p := range o.params {
		if o.acc[i] == nil {
			o.acc[i] = make([]float32, p.Len())
			for j := range o.acc[i] {
				o.acc[i][j] = float32(o.cfg.InitialAccumulator)
			}
		}
		acc := o.acc[i]
		forEachGrad(p, true, func(off int, w, g []float32) {
			a := acc[off : off+len(w)]
			for j, gv := range g[:len(w)] {
				gv += wd * w[j]
				a[j] += gv * gv
				w[j] -= lr * gv / (float32(math.Sqrt(float64(a[j]))) + eps)
			}
		})
	}
}

// RowWiseAdagrad keeps one accumulator per row (the mean squared gradient
// of the row), the memory-saving variant used for large embedding tables
// (FBGEMM's row-wise Adagrad). Parameters are treated as [rows, width]
// along their first dimension; with sparse row gradients only touched rows
// are updated.
type RowWiseAdagrad struct {
	base
	cfg AdagradConfig
	acc [][]float32
}

// NewRowWiseAdagrad returns row-wise Adagrad over params.
func NewRowWiseAdagrad(params []*tensor.Tensor, cfg AdagradConfig) *RowWiseAdagrad {
	cfg.defaults()
	return &RowWiseAdagrad{base: base{params: params, lr: cfg.LR}, cfg: cfg, acc: make([][]float32, len(params))}
}

// Step applies one update.
func (o *RowWiseAdagrad) Step() {
	lr, eps, wd := float32(o.lr), float32(o.cfg.Eps), float32(o.cfg.WeightDecay)
	for i, p := range o.params {
		rows := 1
		if p.Rank() > 0 {
			rows = p.Dim(0)
		}
		width := p.Len() / max(rows, 1)
		if o.acc[i] == nil {
			o.acc[i] = make([]float32, rows)
			for j := range o.acc[i] {
				o.acc[i][j] = float32(o.cfg.InitialAccumulator)
			}
		}
		acc := o.acc[i]
		forEachGrad(p, false, func(off int, w, g []float32) {
			for r := 0; r < len(w)/width; r++ {
				wr, gr := w[r*width:(r+1)*width], g[r*width:(r+1)*width]
				var ss float32
				for j, gv := range gr {
					gv += wd * wr[j]
					ss += gv * gv
				}
				row := off/width + r
				acc[row] += ss / float32(width)
				scale := lr / (float32(math.Sqrt(float64(acc[row]))) + eps)
				for j, gv := range gr {
					wr[j] -= scale * (gv + wd*wr[j])
				}
			}
		})
	}
}
