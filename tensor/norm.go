package tensor

import (
	"fmt"
	"math"
)

// LayerNorm normalises x over its last dimension to zero mean and unit
// variance (biased, plus eps) and applies weight and bias ([dim] each, or
// nil), in one pass per row; the per-row mean and reciprocal standard
// deviation are kept for the gradient. It matches torch's layer_norm over
// the last dimension.
func LayerNorm(x, weight, bias *Tensor, eps float32) *Tensor {
	d := x.shape[len(x.shape)-1]
	for _, p := range []*Tensor{weight, bias} {
		if p != nil && (p.Rank() != 1 || p.shape[0] != d) {
			panic(fmt.Sprintf("tensor: LayerNorm: input %v and parameter %v are not compatible", x.shape, p.shape))
		}
	}
	ar := arenaOf(x, weight, bias)
	xs := x.contiguous(ar)
	var w, b []float32
	if weight != nil {
		w = weight.contiguous(ar)
	}
	if bias != nil {
		b = bias.contiguous(ar)
	}
	rows := x.Len() / max(d, 1)
	out := newOut(ar, x.shape)
	stats := ar.floats(2 * rows) // mean, then rstd, per row
	ParallelFor(rows, max(1, Grain/max(d, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row, o := xs[r*d:(r+1)*d], out.data[r*d:(r+1)*d]
			var s float64
			for _, v := range row {
				s += float64(v)
			}
			mean := float32(s / float64(d))
			var ss float64
			for _, v := range row {
				ss += float64(v-mean) * float64(v-mean)
			}
			rstd := float32(1 / math.Sqrt(ss/float64(d)+float64(eps)))
			stats[2*r], stats[2*r+1] = mean, rstd
			for i, v := range row {
				y := (v - mean) * rstd
				if w != nil {
					y *= w[i]
				}
				if b != nil {
					y += b[i]
				}
				o[i] = y
			}
		}
	})
	if record(out, opLayerNorm, x, weight, bias) {
		out.saved = stats
	}
	return out
}

func backLayerNorm(t *Tensor) {
	x, weight, bias := t.in[0], t.in[1], t.in[2]
	d := x.shape[len(x.shape)-1]
	rows := x.Len() / max(d, 1)
	xs, g := x.contiguous(t.arena), t.grad.data
	var w []float32
	if weight != nil {
		w = weight.contiguous(t.arena)
	}
	dx, dw, db := gradIfWanted(x), gradIfWanted(weight), gradIfWanted(bias)
	for r := 0; r < rows; r++ {
		mean, rstd := t.saved[2*r], t.saved[2*r+1]
		row, gr := xs[r*d:(r+1)*d], g[r*d:(r+1)*d]
		// With x̂ = (x-mean)*rstd and gy = g*w:
		// dx = rstd * (gy - mean(gy) - x̂ * mean(gy*x̂)).
		var sg, sgx float32
		for i, v := range row {
			xh, gy := (v-mean)*rstd, gr[i]
			if dw != nil {
				dw[i] += gy * xh
			}
			if db != nil {
				db[i] += gy
			}
			if w != nil {
				gy *= w[i]
			}
			sg += gy
			sgx += gy * xh
		}
		if dx == nil {
			continue
		}
		sg, sgx = sg/float32(d), sgx/float32(d)
		for i, v := range row {
			gy := gr[i]
			if w != nil {
				gy *= w[i]
			}
			dx[r*d+i] += rstd * (gy - sg - (v-mean)*rstd*sgx)
		}
	}
}
