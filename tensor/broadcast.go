package tensor

import (
	"fmt"

	"github.com/mlenv/mlenv/kernel"
)

// broadcastShape returns the NumPy-style broadcast of shapes a and b, or
// panics naming op and both shapes.
func broadcastShape(op string, a, b []int) []int {
	r := max(len(a), len(b))
	out := make([]int, r)
	for i := 0; i < r; i++ {
		da, db := 1, 1
		if j := i - (r - len(a)); j >= 0 {
			da = a[j]
		}
		if j := i - (r - len(b)); j >= 0 {
			db = b[j]
		}
		switch {
		case da == db, db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			panic(fmt.Sprintf("tensor: %s: shapes %v and %v do not broadcast", op, a, b))
		}
	}
	return out
}

// broadcastStrides returns, for each dimension of out, the stride of a view
// with the given shape and strides broadcast to out (0 on broadcast dims).
func broadcastStrides(shape, strides, out []int) []int {
	s := make([]int, len(out))
	lead := len(out) - len(shape)
	for i := range out {
		j := i - lead
		if j >= 0 && shape[j] != 1 {
			s[i] = strides[j]
		}
	}
	return s
}

// contiguousStrides returns row-major strides for shape.
func contiguousStrides(shape []int) []int {
	s := make([]int, len(shape))
	n := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = n
		n *= shape[i]
	}
	return s
}

// multiIter walks up to four strided operands over one shape together.
type multiIter struct {
	off [4]int
	st  [4][]int
}

// rows calls fn once per innermost row with each operand's offset and inner
// stride and the row length.
func (it *multiIter) rows(shape []int, fn func(off, st [4]int, n int)) {
	r := len(shape)
	for _, d := range shape {
		if d == 0 {
			return
		}
	}
	if r == 0 {
		fn(it.off, [4]int{}, 1)
		return
	}
	var inner [4]int
	for k := range it.st {
		if it.st[k] != nil {
			inner[k] = it.st[k][r-1]
		}
	}
	idx := make([]int, r)
	off := it.off
	for {
		fn(off, inner, shape[r-1])
		d := r - 2
		for ; d >= 0; d-- {
			idx[d]++
			for k := range it.st {
				if it.st[k] != nil {
					off[k] += it.st[k][d]
				}
			}
			if idx[d] < shape[d] {
				break
			}
			for k := range it.st {
				if it.st[k] != nil {
					off[k] -= idx[d] * it.st[k][d]
				}
			}
			idx[d] = 0
		}
		if d < 0 {
			return
		}
	}
}

// accumulateInto adds g (contiguous, shape gShape) into t's gradient,
// summing over the dimensions along which t was broadcast to gShape.
func accumulateInto(t *Tensor, g []float32, gShape []int) {
	dst := gradData(t)
	if sameShape(t.shape, gShape) {
		addTo(dst, g)
		return
	}
	it := multiIter{}
	it.st[0] = contiguousStrides(gShape)
	it.st[1] = broadcastStrides(t.shape, contiguousStrides(t.shape), gShape)
	it.rows(gShape, func(off, st [4]int, n int) {
		src, d := off[0], off[1]
		for j := 0; j < n; j++ {
			dst[d+j*st[1]] += g[src+j]
		}
	})
}

// addTo computes dst[i] += src[i], in parallel for long slices.
func addTo(dst, src []float32) {
	src = src[:len(dst)]
	ParallelFor(len(dst), Grain, func(lo, hi int) {
		kernel.Axpy(1, src[lo:hi], dst[lo:hi])
	})
}
