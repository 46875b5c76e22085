package tensor

import (
	"fmt"

	"github.com/mlenv/mlenv/kernel"
)

// matLayout describes the last two dimensions of a tensor as a BLAS
// operand: rows×cols, stored plainly or transposed with leading dimension ld.
type matLayout struct {
	rows, cols int
	trans      bool
	ld         int
}

// layoutOf returns the GEMM layout of x's last two dimensions, or ok=false
// if they are not a (possibly transposed) dense matrix.
func layoutOf(x *Tensor) (l matLayout, ok bool) {
	r := len(x.shape)
	l.rows, l.cols = x.shape[r-2], x.shape[r-1]
	rs, cs := x.strides[r-2], x.strides[r-1]
	switch {
	case cs == 1 && rs >= l.cols:
		l.ld = max(rs, 1)
		return l, true
	case rs == 1 && cs >= l.rows:
		l.trans, l.ld = true, max(cs, 1)
		return l, true
	}
	return l, false
}

// MatMul returns the matrix product of a and b. a is [..., m, k] and b is
// [..., k, n] with equal leading (batch) dimensions, or b is [k, n] and
// shared by every batch entry. Transposed views (from Transpose) are passed
// to the GEMM kernel without copying.
func MatMul(a, b *Tensor) *Tensor {
	if len(a.shape) < 2 || len(b.shape) < 2 {
		panic(fmt.Sprintf("tensor: MatMul: shapes %v and %v must have rank >= 2", a.shape, b.shape))
	}
	ra, rb := len(a.shape), len(b.shape)
	m, k, k2, n := a.shape[ra-2], a.shape[ra-1], b.shape[rb-2], b.shape[rb-1]
	batchOK := rb == 2 || sameShape(a.shape[:ra-2], b.shape[:rb-2])
	if k != k2 || !batchOK {
		panic(fmt.Sprintf("tensor: MatMul: shapes %v and %v are not compatible", a.shape, b.shape))
	}
	ar := arenaOf(a, b)
	a, b = matrixOperand(a), matrixOperand(b)
	var buf [8]int
	shape := append(append(buf[:0], a.shape[:ra-2]...), m, n)
	out := newOut(ar, shape)
	forBatches(a, b, out, func(ao, bo, co int, la, lb matLayout) {
		kernel.Sgemm(la.trans, lb.trans, m, n, k, 1, a.data[ao:], la.ld, b.data[bo:], lb.ld, 0, out.data[co:], n)
	})
	record(out, opMatMul, a, b)
	return out
}

// matrixOperand returns x, or a contiguous copy when its last two
// dimensions are not a dense (possibly transposed) matrix or its batch
// dimensions are not uniformly strided.
func matrixOperand(x *Tensor) *Tensor {
	if _, ok := layoutOf(x); ok && batchStride(x) >= 0 {
		return x
	}
	return Contiguous(x)
}

// batchStride returns the storage stride between consecutive matrices of
// x, 0 for a single matrix, or -1 if the batch dimensions are not uniform.
func batchStride(x *Tensor) int {
	r := len(x.shape)
	if r == 2 {
		return 0
	}
	s := x.strides[r-3]
	for i := r - 3; i > 0; i-- {
		if x.strides[i-1] != x.strides[i]*x.shape[i] && x.shape[i-1] != 1 {
			return -1
		}
	}
	return s
}

// forBatches calls fn for each batch entry with the storage offsets of a,
// b and c and the layouts of a and b.
func forBatches(a, b, c *Tensor, fn func(ao, bo, co int, la, lb matLayout)) {
	la, _ := layoutOf(a)
	lb, _ := layoutOf(b)
	batches := 1
	for _, d := range c.shape[:len(c.shape)-2] {
		batches *= d
	}
	sa, sb := batchStride(a), batchStride(b)
	mn := la.rows * lb.cols
	for i := 0; i < batches; i++ {
		fn(a.offset+i*sa, b.offset+i*sb, i*mn, la, lb)
	}
}

func backMatMul(t *Tensor) {
	a, b := t.in[0], t.in[1]
	if transposeOf(b, a) && wantsGrad(a) {
		backGram(t)
		return
	}
	g := t.grad.data
	ra := len(a.shape)
	m, k, n := a.shape[ra-2], a.shape[ra-1], t.shape[len(t.shape)-1]
	var da, db []float32
	betaA, betaB := float32(1), float32(1)
	if wantsGrad(a) {
		da, betaA = gradAndBeta(a)
	}
	sb := 0
	if len(b.shape) > 2 {
		sb = k * n
	}
	switch {
	case !wantsGrad(b):
	case sb == 0:
		// A 2-D b sums its gradient over the batches, so only a batched
		// b may have each batch's product written rather than added.
		db = gradData(b)
	default:
		db, betaB = gradAndBeta(b)
	}
	forBatches(a, b, t, func(ao, bo, co int, la, lb matLayout) {
		i := co / (m * n)
		if da != nil {
			// dA = dC · op(B)ᵀ
			kernel.Sgemm(false, !lb.trans, m, k, n, 1, g[co:], n, b.data[bo:], lb.ld, betaA, da[i*m*k:], k)
		}
		if db != nil {
			// dB = op(A)ᵀ · dC
			kernel.Sgemm(!la.trans, false, k, n, m, 1, a.data[ao:], la.ld, g[co:], n, betaB, db[i*sb:], n)
		}
	})
}

// transposeOf reports whether b is Transpose(a, -2, -1): a view of a
// with its last two dimensions swapped.
func transposeOf(b, a *Tensor) bool {
	r := len(a.shape)
	if b.op != opView || b.in[0] != a || len(b.shape) != r || b.offset != a.offset {
		return false
	}
	for d := range r - 2 {
		if b.shape[d] != a.shape[d] || b.strides[d] != a.strides[d] {
			return false
		}
	}
	return b.shape[r-2] == a.shape[r-1] && b.shape[r-1] == a.shape[r-2] &&
		b.strides[r-2] == a.strides[r-1] && b.strides[r-1] == a.strides[r-2]
}

// backGram is MatMul's rule for C = A·Aᵀ (DLRM's dot interaction): both
// operands' gradients go to A, dA = dC·A + dCᵀ·A = (dC + dCᵀ)·A, one GEMM
// per batch entry instead of two, and none for the transposed view.
func backGram(t *Tensor) {
	a := t.in[0]
	ra := len(a.shape)
	m, k := a.shape[ra-2], a.shape[ra-1]
	g := t.grad.data
	da, beta := gradAndBeta(a)
	sym := t.arena.floats(m * m)
	forBatches(a, t.in[1], t, func(ao, _, co int, la, _ matLayout) {
		gc := g[co : co+m*m]
		for i := range m {
			for j := range i + 1 {
				s := gc[i*m+j] + gc[j*m+i]
				sym[i*m+j], sym[j*m+i] = s, s
			}
		}
		kernel.Sgemm(false, la.trans, m, k, m, 1, sym, m, a.data[ao:], la.ld, beta, da[co/m*k:], k)
	})
}

// gradAndBeta returns x's gradient storage for a GEMM that writes every
// element, with the GEMM beta to use: 0 (overwrite) for fresh storage, 1
// (accumulate) otherwise.
func gradAndBeta(x *Tensor) ([]float32, float32) {
	g, fresh := gradDest(x)
	if fresh {
		return g, 0
	}
	return g, 1
}

// Activation selects the elementwise function fused into Linear.
type Activation uint8

// Activations that Linear can fuse. Their derivatives are computed from the
// output, so the pre-activation need not be kept.
const (
	ActNone Activation = iota
	ActReLU
	ActSigmoid
	ActTanh
)

// Linear returns act(x · wᵀ + bias) in one fused pass: x is [n, in], w is
// [out, in] (PyTorch's layout) and bias is [out] or nil. Leading
// dimensions of x beyond the last are flattened into n.
func Linear(x, w, bias *Tensor, act Activation) *Tensor {
	in := x.shape[len(x.shape)-1]
	if len(w.shape) != 2 || w.shape[1] != in || (bias != nil && (len(bias.shape) != 1 || bias.shape[0] != w.shape[0])) {
		bs := []int(nil)
		if bias != nil {
			bs = bias.shape
		}
		panic(fmt.Sprintf("tensor: Linear: input %v, weight %v and bias %v are not compatible", x.shape, w.shape, bs))
	}
	ar := arenaOf(x, w, bias)
	xs, ws := x.contiguous(ar), w.contiguous(ar)
	n, out := x.Len()/in, w.shape[0]
	var buf [8]int
	shape := append(append(buf[:0], x.shape[:len(x.shape)-1]...), out)
	y := newOut(ar, shape)
	kernel.Sgemm(false, true, n, out, in, 1, xs, in, ws, in, 0, y.data, out)
	var bd []float32
	if bias != nil {
		bd = bias.contiguous(ar)
	}
	ParallelFor(n, max(1, Grain/max(out, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			biasAct(y.data[r*out:(r+1)*out], bd, act)
		}
	})
	if record(y, opLinear, x, w, bias) {
		y.axis = int(act)
	}
	return y
}

// biasAct computes row = act(row + bias) in place; bias may be nil.
func biasAct(row, bias []float32, act Activation) {
	if act == ActReLU && bias != nil {
		kernel.AddReLU(row, bias[:len(row)])
		return
	}
	if bias != nil {
		bias = bias[:len(row)]
		for i := range row {
			row[i] += bias[i]
		}
	}
	switch act {
	case ActReLU:
		kernel.ReLU(row, row)
	case ActSigmoid:
		for i, v := range row {
			row[i] = sigmoid(v)
		}
	case ActTanh:
		unaryRow(uTanh, 0, row, row)
	}
}

func backLinear(t *Tensor) {
	x, w, bias := t.in[0], t.in[1], t.in[2]
	in, out := w.shape[1], w.shape[0]
	n := x.Len() / in
	g := t.grad.data
	if act := Activation(t.axis); act != ActNone {
		pre := t.arena.floats(len(g))
		ParallelFor(n, max(1, Grain/max(out, 1)), func(lo, hi int) {
			actGrad(pre[lo*out:hi*out], g[lo*out:hi*out], t.data[lo*out:hi*out], act)
		})
		g = pre
	}
	if wantsGrad(x) {
		dx, beta := gradAndBeta(x)
		kernel.Sgemm(false, false, n, in, out, 1, g, out, w.contiguous(t.arena), in, beta, dx, in)
	}
	if wantsGrad(w) {
		kernel.Sgemm(true, false, out, in, n, 1, g, out, x.contiguous(t.arena), in, 1, gradData(w), in)
	}
	if wantsGrad(bias) {
		db := gradData(bias)
		for r := 0; r < n; r++ {
			kernel.Axpy(1, g[r*out:(r+1)*out], db)
		}
	}
}

// actGrad writes g * act'(y) into dst, where y is the activation's output.
func actGrad(dst, g, y []float32, act Activation) {
	g, y = g[:len(dst)], y[:len(dst)]
	switch act {
	case ActReLU:
		kernel.ReLUGrad(dst, g, y)
	case ActSigmoid:
		for i := range dst {
			dst[i] = g[i] * y[i] * (1 - y[i])
		}
	case ActTanh:
		for i := range dst {
			dst[i] = g[i] * (1 - y[i]*y[i])
		}
	}
}
