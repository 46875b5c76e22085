// Package tensor holds mlenv's dense float32 tensors, their CPU kernels and
// reverse-mode automatic differentiation.
//
// A Tensor is a strided view of a flat []float32: Reshape, Transpose,
// Permute, Slice and Expand return views that share storage. Every op is a
// function or method that returns a new tensor; when an input requires a
// gradient, the result remembers the op that made it, and Backward on a
// scalar walks those records in reverse topological order, adding (+=) each
// input's gradient. Each primitive keeps its forward kernel and its gradient
// rule in the same file; the rules are listed in one table (graph.go).
// Everything else (losses, layers) is composed from the primitives.
//
// Memory: results are allocated from the Arena of their inputs when one of
// them has one, or from the Go heap otherwise. Resetting an arena between
// training steps recycles every intermediate buffer and graph record, so
// a training loop of a fixed model does not allocate tensors step to step.
//
// Shape mismatches are programmer errors: ops panic with a message that
// names the op and both shapes, at the call that builds the graph.
//
// Tensors are not safe for concurrent mutation; kernels themselves may use
// several goroutines (bounded by GOMAXPROCS).
package tensor

import (
	"fmt"
	"strings"
)

// Tensor is an n-dimensional float32 array view with optional autograd state.
// The zero value is not usable; create tensors with New, FromSlice, Scalar,
// the initialisers, the Arena methods, or ops.
type Tensor struct {
	shape   []int
	strides []int
	offset  int
	data    []float32
	arena   *Arena

	requiresGrad bool
	sparseGrad   bool
	grad         *Tensor
	rows         *RowGrad

	// Graph record: the op that produced this tensor and what its
	// gradient rule needs. op is opNone for leaves.
	op    opKind
	in    [3]*Tensor
	more  []*Tensor
	axis  int
	idx   []int
	saved []float32 // per-op saved values (LayerNorm statistics)
	param float32
	mark  uint32
}

// New returns a zero-filled contiguous tensor of the given shape on the heap.
// It panics if a dimension is negative.
func New(shape ...int) *Tensor {
	t := &Tensor{}
	t.initContiguous(nil, shape)
	t.data = make([]float32, numel(shape))
	return t
}

// FromSlice returns a contiguous tensor of the given shape that uses data as
// its storage (no copy; the tensor owns data from now on). It panics if
// len(data) does not match the shape.
func FromSlice(data []float32, shape ...int) *Tensor {
	if n := numel(shape); n != len(data) {
		panic(fmt.Sprintf("tensor: FromSlice: %d values for shape %v (%d elements)", len(data), shape, n))
	}
	t := &Tensor{}
	t.initContiguous(nil, shape)
	t.data = data
	return t
}

// Scalar returns a 0-dimensional tensor holding v.
func Scalar(v float32) *Tensor { return FromSlice([]float32{v}) }

// Full returns a heap tensor of the given shape filled with v.
func Full(v float32, shape ...int) *Tensor {
	t := New(shape...)
	for i := range t.data {
		t.data[i] = v
	}
	return t
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("tensor: negative dimension in shape %v", shape))
		}
		n *= d
	}
	return n
}

// initContiguous sets shape and row-major strides, taking the int slices
// from ar when it is not nil.
func (t *Tensor) initContiguous(ar *Arena, shape []int) {
	t.arena = ar
	t.shape = ar.ints(len(shape))
	copy(t.shape, shape)
	t.strides = ar.ints(len(shape))
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		t.strides[i] = s
		s *= shape[i]
	}
}

// Shape returns the tensor's dimensions. The caller must not modify it.
func (t *Tensor) Shape() []int { return t.shape }

// Dim returns the size of dimension i; negative i counts from the end.
func (t *Tensor) Dim(i int) int { return t.shape[t.axisIndex(i, "Dim")] }

// Rank returns the number of dimensions.
func (t *Tensor) Rank() int { return len(t.shape) }

// Len returns the number of elements.
func (t *Tensor) Len() int { return numel(t.shape) }

// Arena returns the arena the tensor's storage came from, or nil for heap.
func (t *Tensor) Arena() *Arena { return t.arena }

// IsContiguous reports whether the elements are stored densely in
// row-major order.
func (t *Tensor) IsContiguous() bool {
	s := 1
	for i := len(t.shape) - 1; i >= 0; i-- {
		if t.shape[i] != 1 && t.strides[i] != s {
			return false
		}
		s *= t.shape[i]
	}
	return true
}

// Data returns the elements in row-major order. For a contiguous tensor it
// is the storage itself (writes are visible to the tensor and its views);
// otherwise it is a fresh copy.
func (t *Tensor) Data() []float32 {
	if t.IsContiguous() {
		return t.data[t.offset : t.offset+t.Len()]
	}
	out := make([]float32, t.Len())
	copyStrided(out, t)
	return out
}

// Item returns the value of a tensor with exactly one element.
func (t *Tensor) Item() float32 {
	if t.Len() != 1 {
		panic(fmt.Sprintf("tensor: Item of tensor with shape %v", t.shape))
	}
	return t.data[t.offset]
}

// At returns the element at the given index (one entry per dimension).
func (t *Tensor) At(index ...int) float32 {
	if len(index) != len(t.shape) {
		panic(fmt.Sprintf("tensor: At: %d indices for shape %v", len(index), t.shape))
	}
	off := t.offset
	for i, x := range index {
		if x < 0 || x >= t.shape[i] {
			panic(fmt.Sprintf("tensor: At: index %v out of range for shape %v", index, t.shape))
		}
		off += x * t.strides[i]
	}
	return t.data[off]
}

// String formats the shape and up to the first 8 values, for debugging.
func (t *Tensor) String() string {
	vals := t.Data()
	var b strings.Builder
	fmt.Fprintf(&b, "Tensor%v[", t.shape)
	for i, v := range vals {
		if i == 8 {
			b.WriteString(" ...")
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%g", v)
	}
	b.WriteByte(']')
	return b.String()
}

// axisIndex normalises a possibly negative axis and panics if out of range.
func (t *Tensor) axisIndex(axis int, op string) int {
	r := len(t.shape)
	a := axis
	if a < 0 {
		a += r
	}
	if a < 0 || a >= r {
		panic(fmt.Sprintf("tensor: %s: axis %d out of range for shape %v", op, axis, t.shape))
	}
	return a
}

// contiguous returns t's elements as one dense row-major slice, copying into
// an arena (or heap) buffer only when t is a non-contiguous view. The result
// must be treated as read-only.
func (t *Tensor) contiguous(ar *Arena) []float32 {
	if t.IsContiguous() {
		return t.data[t.offset : t.offset+t.Len()]
	}
	out := ar.floats(t.Len())
	copyStrided(out, t)
	return out
}

// copyStrided writes the elements of t in row-major order into dst.
func copyStrided(dst []float32, t *Tensor) {
	i := 0
	forEachRow(t.shape, t.strides, t.offset, func(off, n, stride int) {
		for j := 0; j < n; j++ {
			dst[i+j] = t.data[off+j*stride]
		}
		i += n
	})
}

// forEachRow calls fn for every innermost row of a strided view with the
// row's storage offset, its length and its element stride.
func forEachRow(shape, strides []int, offset int, fn func(off, n, stride int)) {
	r := len(shape)
	if r == 0 {
		fn(offset, 1, 1)
		return
	}
	for _, d := range shape {
		if d == 0 {
			return
		}
	}
	var idxBuf [8]int
	idx := idxBuf[:0]
	if r-1 > len(idxBuf) {
		idx = make([]int, r-1)
	} else {
		idx = idxBuf[:r-1]
	}
	n, st := shape[r-1], strides[r-1]
	off := offset
	for {
		fn(off, n, st)
		k := r - 2
		for ; k >= 0; k-- {
			idx[k]++
			off += strides[k]
			if idx[k] < shape[k] {
				break
			}
			off -= idx[k] * strides[k]
			idx[k] = 0
		}
		if k < 0 {
			return
		}
	}
}

// sameShape reports whether a and b have identical dimensions.
func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Copy returns a contiguous copy of t with the same arena, not connected to
// the graph.
func (t *Tensor) Copy() *Tensor {
	out := newOut(t.arena, t.shape)
	copyStrided(out.data, t)
	return out
}
