package tensor

import "fmt"

// Arena hands out the storage, shapes and graph records of intermediate
// tensors and takes all of them back at once on Reset. A training loop
// resets one arena per step: because a fixed model asks for the same sizes
// in the same order every step, every buffer is reused and the heap stops
// growing after the first step.
//
// Ops put their result in the arena of their inputs (the first input that
// has one), so creating the batch tensors in an arena is enough to keep a
// whole forward and backward pass inside it. Parameters stay on the heap.
//
// An arena also carries the grad mode: after SetGrad(false), ops whose
// result lands in the arena record no graph (inference).
//
// Tensors from an arena must not be used after Reset. An Arena is not safe
// for concurrent use; use one per goroutine.
type Arena struct {
	floatPool pool[float32]
	intPool   pool[int]  // int slices too long for a slab
	slabs     [][]Tensor // Tensor structs, in fixed-size chunks
	nt        int        // Tensor structs handed out since Reset
	intBuf    [][]int    // int slabs for shapes and strides
	ni, is    int        // current int slab and position in it
	noGrad    bool

	// Scratch of Backward's topological sort, reused step to step.
	order []*Tensor
	stack []frame
}

const (
	tensorChunk = 256
	intChunk    = 4096
)

// NewArena returns an empty arena with gradients enabled.
func NewArena() *Arena { return &Arena{} }

// pool recycles slices by exact length.
type pool[T any] struct {
	free map[int][][]T // recycled slices by length
	used [][]T         // slices handed out since reset
}

// get returns a slice of length n, not zeroed.
func (p *pool[T]) get(n int) []T {
	var b []T
	if l := p.free[n]; len(l) > 0 {
		b = l[len(l)-1]
		p.free[n] = l[:len(l)-1]
	} else {
		b = make([]T, n)
	}
	p.used = append(p.used, b)
	return b
}

// reset makes every slice handed out available again. They are pushed in
// reverse so that the next step, asking for the same sizes in the same
// order, gets the same slices back.
func (p *pool[T]) reset() {
	if p.free == nil {
		p.free = map[int][][]T{}
	}
	for i := len(p.used) - 1; i >= 0; i-- {
		b := p.used[i]
		p.free[len(b)] = append(p.free[len(b)], b)
	}
	p.used = p.used[:0]
}

// SetGrad enables or disables graph recording for results in this arena.
func (a *Arena) SetGrad(enabled bool) { a.noGrad = !enabled }

// GradEnabled reports whether ops with results in this arena record a graph.
func (a *Arena) GradEnabled() bool { return !a.noGrad }

// Reset makes every tensor handed out since the last Reset invalid and
// recycles its memory.
func (a *Arena) Reset() {
	a.floatPool.reset()
	a.intPool.reset()
	for i := 0; i < a.nt; i++ {
		a.slabs[i/tensorChunk][i%tensorChunk] = Tensor{}
	}
	a.nt = 0
	a.ni, a.is = 0, 0
}

// New returns a zero-filled contiguous tensor of the given shape in the arena.
func (a *Arena) New(shape ...int) *Tensor {
	t := newOut(a, shape)
	clear(t.data)
	return t
}

// FromSlice returns a tensor in the arena holding a copy of data.
func (a *Arena) FromSlice(data []float32, shape ...int) *Tensor {
	if n := numel(shape); n != len(data) {
		panic(fmt.Sprintf("tensor: Arena.FromSlice: %d values for shape %v (%d elements)", len(data), shape, n))
	}
	t := newOut(a, shape)
	copy(t.data, data)
	return t
}

// Ints returns a scratch int slice of length n, valid until Reset; a nil
// arena allocates. Layers use it for per-step index lists (embedding bags)
// that the graph keeps until Backward.
func (a *Arena) Ints(n int) []int { return a.ints(n) }

// floats returns a buffer of length n, not zeroed. A nil arena allocates.
func (a *Arena) floats(n int) []float32 {
	if a == nil {
		return make([]float32, n)
	}
	return a.floatPool.get(n)
}

// zeros returns a zeroed buffer of length n.
func (a *Arena) zeros(n int) []float32 {
	b := a.floats(n)
	if a != nil {
		clear(b)
	}
	return b
}

// ints returns an int slice of length n carved from a slab.
func (a *Arena) ints(n int) []int {
	if a == nil {
		return make([]int, n)
	}
	if n > intChunk {
		return a.intPool.get(n)
	}
	if a.ni < len(a.intBuf) && a.is+n > intChunk {
		a.ni++
		a.is = 0
	}
	if a.ni == len(a.intBuf) {
		a.intBuf = append(a.intBuf, make([]int, intChunk))
		a.is = 0
	}
	s := a.intBuf[a.ni][a.is : a.is+n : a.is+n]
	a.is += n
	return s
}

// tensor returns a zeroed Tensor struct. A nil arena allocates.
func (a *Arena) tensor() *Tensor {
	if a == nil {
		return &Tensor{}
	}
	c := a.nt / tensorChunk
	if c == len(a.slabs) {
		a.slabs = append(a.slabs, make([]Tensor, tensorChunk))
	}
	t := &a.slabs[c][a.nt%tensorChunk]
	a.nt++
	return t
}

// newOut returns a contiguous tensor of the given shape in ar (or on the
// heap) whose storage is not zeroed.
func newOut(ar *Arena, shape []int) *Tensor {
	t := ar.tensor()
	t.initContiguous(ar, shape)
	t.data = ar.floats(numel(shape))
	return t
}

// newZeros is newOut with zeroed storage.
func newZeros(ar *Arena, shape []int) *Tensor {
	t := newOut(ar, shape)
	clear(t.data)
	return t
}

// arenaOf returns the first non-nil arena among ts.
func arenaOf(ts ...*Tensor) *Arena {
	for _, t := range ts {
		if t != nil && t.arena != nil {
			return t.arena
		}
	}
	return nil
}
