package tensor

import (
	"fmt"
	"math"
)

// Reductions and normalisations along one axis. Each views its input as
// [outer, n, inner] with n the reduced axis.

// split returns the sizes before, at and after axis.
func split(shape []int, axis int) (outer, n, inner int) {
	outer, inner = 1, 1
	for _, d := range shape[:axis] {
		outer *= d
	}
	for _, d := range shape[axis+1:] {
		inner *= d
	}
	return outer, shape[axis], inner
}

// forOuter calls fn for every o in [0, outer), each touching size
// elements, on several goroutines when the total is large.
func forOuter(outer, size int, fn func(o int)) {
	ParallelFor(outer, max(1, Grain/max(size, 1)), func(lo, hi int) {
		for o := lo; o < hi; o++ {
			fn(o)
		}
	})
}

// reducedShape returns shape without axis, or with it set to 1 if keepDim.
func reducedShape(ar *Arena, shape []int, axis int, keepDim bool) []int {
	out := ar.ints(len(shape))
	copy(out, shape)
	if keepDim {
		out[axis] = 1
		return out
	}
	return append(out[:axis], shape[axis+1:]...)
}

// Sum returns the sum of x along axis (negative counts from the end),
// dropping the axis unless keepDim.
func Sum(x *Tensor, axis int, keepDim bool) *Tensor {
	ax := x.axisIndex(axis, "Sum")
	ar := arenaOf(x)
	src := x.contiguous(ar)
	outer, n, inner := split(x.shape, ax)
	out := newOut(ar, reducedShape(ar, x.shape, ax, keepDim))
	d := out.data
	forOuter(outer, n*inner, func(o int) {
		if inner == 1 {
			var s float64
			for _, v := range src[o*n : o*n+n] {
				s += float64(v)
			}
			d[o] = float32(s)
			return
		}
		row := d[o*inner : o*inner+inner]
		clear(row)
		for k := 0; k < n; k++ {
			base := (o*n + k) * inner
			for j, v := range src[base : base+inner] {
				row[j] += v
			}
		}
	})
	if record(out, opSum, x, nil) {
		out.axis = ax
	}
	return out
}

// SumAll returns the sum of all elements as a 0-dimensional tensor.
func SumAll(x *Tensor) *Tensor { return Sum(Reshape(x, x.Len()), 0, false) }

// Mean returns the mean of x along axis, dropping it unless keepDim.
func Mean(x *Tensor, axis int, keepDim bool) *Tensor {
	n := x.shape[x.axisIndex(axis, "Mean")]
	return MulScalar(Sum(x, axis, keepDim), 1/float32(n))
}

// MeanAll returns the mean of all elements as a 0-dimensional tensor.
func MeanAll(x *Tensor) *Tensor { return MulScalar(SumAll(x), 1/float32(x.Len())) }

func backSum(t *Tensor) {
	x := t.in[0]
	if !wantsGrad(x) {
		return
	}
	dst := gradData(x)
	outer, n, inner := split(x.shape, t.axis)
	g := t.grad.data
	for o := 0; o < outer; o++ {
		gr := g[o*inner : o*inner+inner]
		for k := 0; k < n; k++ {
			base := (o*n + k) * inner
			for j, v := range gr {
				dst[base+j] += v
			}
		}
	}
}

// Max returns the maximum of x along axis, dropping it unless keepDim. The
// gradient goes to the first maximal element.
func Max(x *Tensor, axis int, keepDim bool) *Tensor {
	ax := x.axisIndex(axis, "Max")
	ar := arenaOf(x)
	out := newOut(ar, reducedShape(ar, x.shape, ax, keepDim))
	arg := argmax(ar, x, ax)
	src := x.contiguous(ar)
	_, n, inner := split(x.shape, ax)
	for i, k := range arg {
		o, j := i/inner, i%inner
		out.data[i] = src[(o*n+k)*inner+j]
	}
	if record(out, opMax, x, nil) {
		out.axis = ax
		out.idx = arg
	}
	return out
}

// Argmax returns, for each position of x without axis, the index along axis
// of the first maximum, in row-major order.
func Argmax(x *Tensor, axis int) []int {
	return argmax(nil, x, x.axisIndex(axis, "Argmax"))
}

func argmax(ar *Arena, x *Tensor, ax int) []int {
	if x.shape[ax] == 0 {
		panic(fmt.Sprintf("tensor: Max: empty axis %d of shape %v", ax, x.shape))
	}
	src := x.contiguous(ar)
	outer, n, inner := split(x.shape, ax)
	arg := ar.ints(outer * inner)
	for o := 0; o < outer; o++ {
		for j := 0; j < inner; j++ {
			best, bi := src[o*n*inner+j], 0
			for k := 1; k < n; k++ {
				if v := src[(o*n+k)*inner+j]; v > best {
					best, bi = v, k
				}
			}
			arg[o*inner+j] = bi
		}
	}
	return arg
}

func backMax(t *Tensor) {
	x := t.in[0]
	if !wantsGrad(x) {
		return
	}
	dst := gradData(x)
	_, n, inner := split(x.shape, t.axis)
	for i, k := range t.idx {
		o, j := i/inner, i%inner
		dst[(o*n+k)*inner+j] += t.grad.data[i]
	}
}

// LogSumExp returns log(sum(exp(x))) along axis, computed stably, dropping
// the axis unless keepDim.
func LogSumExp(x *Tensor, axis int, keepDim bool) *Tensor {
	ax := x.axisIndex(axis, "LogSumExp")
	ar := arenaOf(x)
	src := x.contiguous(ar)
	outer, n, inner := split(x.shape, ax)
	out := newOut(ar, reducedShape(ar, x.shape, ax, keepDim))
	for o := 0; o < outer; o++ {
		for j := 0; j < inner; j++ {
			out.data[o*inner+j] = lse(src, (o*n)*inner+j, n, inner)
		}
	}
	if record(out, opLogSumExp, x, nil) {
		out.axis = ax
	}
	return out
}

// lse returns log-sum-exp of n values of src starting at base with stride.
func lse(src []float32, base, n, stride int) float32 {
	m := float32(math.Inf(-1))
	for k := 0; k < n; k++ {
		m = max(m, src[base+k*stride])
	}
	if math.IsInf(float64(m), 0) {
		return m
	}
	var s float64
	for k := 0; k < n; k++ {
		s += math.Exp(float64(src[base+k*stride] - m))
	}
	return m + float32(math.Log(s))
}

func backLogSumExp(t *Tensor) {
	x := t.in[0]
	if !wantsGrad(x) {
		return
	}
	src := x.contiguous(t.arena)
	dst := gradData(x)
	outer, n, inner := split(x.shape, t.axis)
	for o := 0; o < outer; o++ {
		for j := 0; j < inner; j++ {
			i := o*inner + j
			g, y := t.grad.data[i], t.data[i]
			for k := 0; k < n; k++ {
				p := (o*n+k)*inner + j
				dst[p] += g * float32(math.Exp(float64(src[p]-y)))
			}
		}
	}
}

// Softmax returns exp(x) normalised to sum to 1 along axis.
func Softmax(x *Tensor, axis int) *Tensor { return softmax(x, axis, false) }

// LogSoftmax returns x - LogSumExp(x) along axis.
func LogSoftmax(x *Tensor, axis int) *Tensor { return softmax(x, axis, true) }

func softmax(x *Tensor, axis int, logOut bool) *Tensor {
	ax := x.axisIndex(axis, "Softmax")
	ar := arenaOf(x)
	src := x.contiguous(ar)
	outer, n, inner := split(x.shape, ax)
	out := newOut(ar, x.shape)
	forOuter(outer, n*inner, func(o int) {
		for j := 0; j < inner; j++ {
			base := o*n*inner + j
			l := lse(src, base, n, inner)
			for k := 0; k < n; k++ {
				p := base + k*inner
				v := src[p] - l
				if !logOut {
					v = float32(math.Exp(float64(v)))
				}
				out.data[p] = v
			}
		}
	})
	op := opSoftmax
	if logOut {
		op = opLogSoftmax
	}
	if record(out, op, x, nil) {
		out.axis = ax
	}
	return out
}

func backSoftmax(t *Tensor)    { softmaxGrad(t, false) }
func backLogSoftmax(t *Tensor) { softmaxGrad(t, true) }

// softmaxGrad adds y*(g - sum(g*y)) for softmax, or g - exp(y)*sum(g) for
// log-softmax, into the input gradient.
func softmaxGrad(t *Tensor, logOut bool) {
	x := t.in[0]
	if !wantsGrad(x) {
		return
	}
	dst := gradData(x)
	g, y := t.grad.data, t.data
	outer, n, inner := split(x.shape, t.axis)
	for o := 0; o < outer; o++ {
		for j := 0; j < inner; j++ {
			base := o*n*inner + j
			var s float32
			for k := 0; k < n; k++ {
				p := base + k*inner
				if logOut {
					s += g[p]
				} else {
					s += g[p] * y[p]
				}
			}
			for k := 0; k < n; k++ {
				p := base + k*inner
				if logOut {
					dst[p] += g[p] - float32(math.Exp(float64(y[p])))*s
				} else {
					dst[p] += y[p] * (g[p] - s)
				}
			}
		}
	}
}
