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

// Adagrad keeps a running sum of squared gradients per element
// (torch.optim.Adagrad without lr decay). With sparse row gradients only
// the touched rows and their accumulators change.
type Adagrad struct{ adagradState }

// adagradState is what Adagrad and RowWiseAdagrad share: parameters,
// configuration and one accumulator slice per parameter.
type adagradState struct {
	base
	cfg AdagradConfig
	acc [][]float32
}

func newAdagradState(params []*tensor.Tensor, cfg AdagradConfig) adagradState {
	if cfg.Eps == 0 {
		cfg.Eps = 1e-10
	}
	return adagradState{base: base{params: params, lr: cfg.LR}, cfg: cfg, acc: make([][]float32, len(params))}
}

// accumulator returns parameter i's accumulator of length n, creating it
// filled with InitialAccumulator on first use.
func (s *adagradState) accumulator(i, n int) []float32 {
	if s.acc[i] == nil {
		s.acc[i] = make([]float32, n)
		for j := range s.acc[i] {
			s.acc[i][j] = float32(s.cfg.InitialAccumulator)
		}
	}
	return s.acc[i]
}

// NewAdagrad returns Adagrad over params.
func NewAdagrad(params []*tensor.Tensor, cfg AdagradConfig) *Adagrad {
	return &Adagrad{newAdagradState(params, cfg)}
}

// Step applies one update.
func (o *Adagrad) Step() {
	lr, eps, wd := float32(o.lr), float32(o.cfg.Eps), float32(o.cfg.WeightDecay)
	for i, p := range o.params {
		acc := o.accumulator(i, p.Len())
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
type RowWiseAdagrad struct{ adagradState }

// NewRowWiseAdagrad returns row-wise Adagrad over params.
func NewRowWiseAdagrad(params []*tensor.Tensor, cfg AdagradConfig) *RowWiseAdagrad {
	return &RowWiseAdagrad{newAdagradState(params, cfg)}
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
		acc := o.accumulator(i, rows)
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
