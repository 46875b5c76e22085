package tensor

import (
	"fmt"
	"slices"

	"github.com/mlenv/mlenv/kernel"
)

// View ops share storage with their input. Their one gradient rule (opView)
// maps each element of the view back to its input position through
// "gradient strides" saved at construction: the view's strides expressed in
// the input's contiguous layout (0 along broadcast dimensions, so that
// Expand sums its gradient).

// view returns a tensor over x's storage with the given shape, strides and
// offset; gStrides and gOffset describe the same view over a contiguous
// tensor of x's shape, for the gradient.
func view(x *Tensor, shape, strides []int, offset int, gStrides []int, gOffset int) *Tensor {
	ar := x.arena
	out := ar.tensor()
	out.arena = ar
	out.shape = ar.ints(len(shape))
	copy(out.shape, shape)
	out.strides = ar.ints(len(strides))
	copy(out.strides, strides)
	out.offset = offset
	out.data = x.data
	if record(out, opView, x, nil) {
		out.idx = ar.ints(len(gStrides))
		copy(out.idx, gStrides)
		out.axis = gOffset
	}
	return out
}

func backView(t *Tensor) {
	x := t.in[0]
	if !wantsGrad(x) {
		return
	}
	dst := gradData(x)
	g := t.grad.data
	i := 0
	forEachRow(t.shape, t.idx, t.axis, func(off, n, stride int) {
		for j := 0; j < n; j++ {
			dst[off+j*stride] += g[i+j]
		}
		i += n
	})
}

// Reshape returns x with a new shape holding the same number of elements.
// One dimension may be -1 and is inferred. The result is a view when x is
// contiguous and a copy otherwise.
func Reshape(x *Tensor, shape ...int) *Tensor {
	shape = inferShape(x, shape)
	if !x.IsContiguous() {
		x = Contiguous(x)
	}
	s := contiguousStrides(shape)
	return view(x, shape, s, x.offset, s, 0)
}

func inferShape(x *Tensor, shape []int) []int {
	n, infer := 1, -1
	for i, d := range shape {
		if d == -1 && infer < 0 {
			infer = i
			continue
		}
		if d < 0 {
			panic(fmt.Sprintf("tensor: Reshape: bad shape %v for %v", shape, x.shape))
		}
		n *= d
	}
	if infer >= 0 {
		if n == 0 || x.Len()%n != 0 {
			panic(fmt.Sprintf("tensor: Reshape: cannot reshape %v into %v", x.shape, shape))
		}
		shape = slices.Clone(shape)
		shape[infer] = x.Len() / n
		n *= shape[infer]
	}
	if n != x.Len() {
		panic(fmt.Sprintf("tensor: Reshape: cannot reshape %v into %v", x.shape, shape))
	}
	return shape
}

// Contiguous returns x itself if it is contiguous and a dense copy otherwise.
func Contiguous(x *Tensor) *Tensor {
	if x.IsContiguous() {
		return x
	}
	out := newOut(x.arena, x.shape)
	copyStrided(out.data, x)
	if record(out, opView, x, nil) {
		out.idx = out.strides
	}
	return out
}

// Transpose returns a view of x with axes a and b swapped.
func Transpose(x *Tensor, a, b int) *Tensor {
	perm := make([]int, len(x.shape))
	for i := range perm {
		perm[i] = i
	}
	a, b = x.axisIndex(a, "Transpose"), x.axisIndex(b, "Transpose")
	perm[a], perm[b] = perm[b], perm[a]
	return Permute(x, perm...)
}

// Permute returns a view of x whose dimension i is x's dimension perm[i].
func Permute(x *Tensor, perm ...int) *Tensor {
	r := len(x.shape)
	if len(perm) != r {
		panic(fmt.Sprintf("tensor: Permute: permutation %v for shape %v", perm, x.shape))
	}
	seen := make([]bool, r)
	shape, strides, gs := make([]int, r), make([]int, r), make([]int, r)
	cs := contiguousStrides(x.shape)
	for i, p := range perm {
		if p < 0 || p >= r || seen[p] {
			panic(fmt.Sprintf("tensor: Permute: permutation %v for shape %v", perm, x.shape))
		}
		seen[p] = true
		shape[i], strides[i], gs[i] = x.shape[p], x.strides[p], cs[p]
	}
	return view(x, shape, strides, x.offset, gs, 0)
}

// Slice returns a view of x restricted to [start, end) along axis.
func Slice(x *Tensor, axis, start, end int) *Tensor {
	ax := x.axisIndex(axis, "Slice")
	if start < 0 || end > x.shape[ax] || start > end {
		panic(fmt.Sprintf("tensor: Slice: range [%d, %d) out of bounds for axis %d of shape %v", start, end, ax, x.shape))
	}
	shape := slices.Clone(x.shape)
	shape[ax] = end - start
	cs := contiguousStrides(x.shape)
	return view(x, shape, x.strides, x.offset+start*x.strides[ax], cs, start*cs[ax])
}

// Expand returns a view of x broadcast to shape (NumPy rules) without
// copying; its gradient sums over the broadcast dimensions.
func Expand(x *Tensor, shape ...int) *Tensor {
	if !sameShape(broadcastShape("Expand", x.shape, shape), shape) {
		panic(fmt.Sprintf("tensor: Expand: cannot expand %v to %v", x.shape, shape))
	}
	return view(x, shape, broadcastStrides(x.shape, x.strides, shape), x.offset,
		broadcastStrides(x.shape, contiguousStrides(x.shape), shape), 0)
}

// Unsqueeze returns a view of x with a dimension of size 1 inserted at axis
// (0 <= axis <= rank).
func Unsqueeze(x *Tensor, axis int) *Tensor {
	if axis < 0 || axis > len(x.shape) {
		panic(fmt.Sprintf("tensor: Unsqueeze: axis %d for shape %v", axis, x.shape))
	}
	return Reshape(x, slices.Insert(slices.Clone(x.shape), axis, 1)...)
}

// Concat joins tensors along axis; all other dimensions must match.
func Concat(axis int, ts ...*Tensor) *Tensor {
	if len(ts) == 0 {
		panic("tensor: Concat of no tensors")
	}
	ax := ts[0].axisIndex(axis, "Concat")
	shape := slices.Clone(ts[0].shape)
	shape[ax] = 0
	for _, t := range ts {
		if len(t.shape) != len(shape) {
			panic(fmt.Sprintf("tensor: Concat: shapes %v and %v differ in rank", ts[0].shape, t.shape))
		}
		for i := range shape {
			if i != ax && t.shape[i] != shape[i] {
				panic(fmt.Sprintf("tensor: Concat along axis %d: shapes %v and %v differ", ax, ts[0].shape, t.shape))
			}
		}
		shape[ax] += t.shape[ax]
	}
	ar := arenaOf(ts...)
	out := newOut(ar, shape)
	outer, n, inner := split(shape, ax)
	at := 0
	for _, t := range ts {
		src := t.contiguous(ar)
		w := t.shape[ax] * inner
		for o := 0; o < outer; o++ {
			copy(out.data[o*n*inner+at*inner:], src[o*w:o*w+w])
		}
		at += t.shape[ax]
	}
	if recordMany(out, opConcat, slices.Clone(ts)) {
		out.axis = ax
	}
	return out
}

func backConcat(t *Tensor) {
	outer, n, inner := split(t.shape, t.axis)
	at := 0
	for _, x := range t.more {
		w := x.shape[t.axis] * inner
		if wantsGrad(x) {
			dst, fresh := gradDest(passView(x))
			g := t.grad.data[at*inner:]
			ParallelFor(outer, max(1, Grain/max(w, 1)), func(lo, hi int) {
				for o := lo; o < hi; o++ {
					if fresh {
						copy(dst[o*w:o*w+w], g[o*n*inner:])
					} else {
						kernel.Axpy(1, g[o*n*inner:o*n*inner+w], dst[o*w:o*w+w])
					}
				}
			})
		}
		at += x.shape[t.axis]
	}
}

// Stack joins tensors of identical shape along a new axis.
func Stack(axis int, ts ...*Tensor) *Tensor {
	us := make([]*Tensor, len(ts))
	for i, t := range ts {
		if !sameShape(t.shape, ts[0].shape) {
			panic(fmt.Sprintf("tensor: Stack: shapes %v and %v differ", ts[0].shape, t.shape))
		}
		us[i] = Unsqueeze(t, axis)
	}
	return Concat(axis, us...)
}
