package tensor

import (
	"fmt"
	"slices"
)

// Index ops: IndexSelect, Gather and ScatterAdd. Index slices are retained
// by the graph until Backward; callers must not modify them before then.

// RowGrad is the sparse gradient of a tensor marked with SetSparseGrad:
// the distinct rows (indices along axis 0) that IndexSelect touched, in
// first-touch order, and their summed gradient rows.
type RowGrad struct {
	Index  []int     // touched rows
	Values []float32 // len(Index) rows of Width values, row-major
	Width  int       // elements per row
	pos    map[int]int
}

// Row returns the gradient values of the k-th touched row.
func (r *RowGrad) Row(k int) []float32 { return r.Values[k*r.Width : (k+1)*r.Width] }

func (r *RowGrad) reset() {
	r.Index = r.Index[:0]
	r.Values = r.Values[:0]
	clear(r.pos)
}

// add adds g into the gradient of row.
func (r *RowGrad) add(row int, g []float32) {
	k, ok := r.pos[row]
	if !ok {
		k = len(r.Index)
		r.pos[row] = k
		r.Index = append(r.Index, row)
		r.Values = append(r.Values, g...)
		return
	}
	dst := r.Row(k)
	for j, v := range g {
		dst[j] += v
	}
}

func checkIndex(op string, i, n int, shape []int, axis int) {
	if i < 0 || i >= n {
		panic(fmt.Sprintf("tensor: %s: index %d out of range [0, %d) for axis %d of shape %v", op, i, n, axis, shape))
	}
}

// IndexSelect returns the entries of x at positions idx along axis: the
// result has x's shape with that dimension replaced by len(idx). With axis
// 0 on a [rows, dim] table this is an embedding lookup; if x is marked with
// SetSparseGrad its gradient is delivered as RowGrad.
func IndexSelect(x *Tensor, axis int, idx []int) *Tensor {
	return indexSelect(arenaOf(x), x, x.axisIndex(axis, "IndexSelect"), idx)
}

// Lookup returns the rows of table [rows, ...] at ids, placing the result
// in ar (nil for the heap). It is IndexSelect along axis 0 for embedding
// tables, which live on the heap while their lookups belong to a step's
// arena.
func Lookup(ar *Arena, table *Tensor, ids []int) *Tensor {
	if table.Rank() == 0 {
		panic("tensor: Lookup in a 0-dimensional table")
	}
	return indexSelect(ar, table, 0, ids)
}

func indexSelect(ar *Arena, x *Tensor, ax int, idx []int) *Tensor {
	src := x.contiguous(ar)
	outer, n, inner := split(x.shape, ax)
	shape := slices.Clone(x.shape)
	shape[ax] = len(idx)
	out := newOut(ar, shape)
	m := len(idx)
	for _, k := range idx {
		checkIndex("IndexSelect", k, n, x.shape, ax)
	}
	for o := 0; o < outer; o++ {
		if inner == 1 { // single elements: no copy call per element
			dst, row := out.data[o*m:][:m], src[o*n:][:n]
			for i, k := range idx {
				dst[i] = row[k]
			}
			continue
		}
		for i, k := range idx {
			copy(out.data[(o*m+i)*inner:(o*m+i+1)*inner], src[(o*n+k)*inner:])
		}
	}
	if record(out, opIndexSelect, x, nil) {
		out.axis = ax
		out.idx = idx
	}
	return out
}

func backIndexSelect(t *Tensor) {
	x := t.in[0]
	if !wantsGrad(x) {
		return
	}
	outer, n, inner := split(x.shape, t.axis)
	m := len(t.idx)
	g := t.grad.data
	if x.sparseGrad && t.axis == 0 {
		if x.rows == nil {
			x.rows = &RowGrad{Width: inner, pos: map[int]int{}}
		}
		for i, k := range t.idx {
			x.rows.add(k, g[i*inner:(i+1)*inner])
		}
		return
	}
	dst := gradData(passView(x))
	for o := 0; o < outer; o++ {
		if inner == 1 {
			d, gr := dst[o*n:][:n], g[o*m:][:m]
			for i, k := range t.idx {
				d[k] += gr[i]
			}
			continue
		}
		for i, k := range t.idx {
			d := dst[(o*n+k)*inner : (o*n+k+1)*inner]
			for j, v := range g[(o*m+i)*inner : (o*m+i+1)*inner] {
				d[j] += v
			}
		}
	}
}

// Gather returns out with out[o, i, j] = x[o, idx[o, i, j], j] where o runs
// over the dimensions before axis and j over those after (torch.gather).
// idx is row-major with x's shape except that dimension axis has size
// len(idx) / (outer*inner).
func Gather(x *Tensor, axis int, idx []int) *Tensor {
	ax := x.axisIndex(axis, "Gather")
	ar := arenaOf(x)
	src := x.contiguous(ar)
	outer, n, inner := split(x.shape, ax)
	if len(idx)%(outer*inner) != 0 {
		panic(fmt.Sprintf("tensor: Gather: %d indices do not fit shape %v along axis %d", len(idx), x.shape, ax))
	}
	m := len(idx) / (outer * inner)
	shape := slices.Clone(x.shape)
	shape[ax] = m
	out := newOut(ar, shape)
	for o := 0; o < outer; o++ {
		for i := 0; i < m; i++ {
			for j := 0; j < inner; j++ {
				p := (o*m+i)*inner + j
				k := idx[p]
				checkIndex("Gather", k, n, x.shape, ax)
				out.data[p] = src[(o*n+k)*inner+j]
			}
		}
	}
	if record(out, opGather, x, nil) {
		out.axis = ax
		out.idx = idx
	}
	return out
}

func backGather(t *Tensor) {
	x := t.in[0]
	if wantsGrad(x) {
		scatterAddRaw(gradData(x), x.shape, t.axis, t.idx, t.grad.data, t.shape[t.axis])
	}
}

// scatterAddRaw adds src[o, i, j] into dst[o, idx[o, i, j], j].
func scatterAddRaw(dst []float32, shape []int, ax int, idx []int, src []float32, m int) {
	outer, n, inner := split(shape, ax)
	for o := 0; o < outer; o++ {
		for i := 0; i < m; i++ {
			for j := 0; j < inner; j++ {
				p := (o*m+i)*inner + j
				k := idx[p]
				checkIndex("ScatterAdd", k, n, shape, ax)
				dst[(o*n+k)*inner+j] += src[p]
			}
		}
	}
}

// ScatterAdd returns a copy of x with src[o, i, j] added at
// [o, idx[o, i, j], j] (torch.scatter_add). src and idx have x's shape
// except along axis.
func ScatterAdd(x *Tensor, axis int, idx []int, src *Tensor) *Tensor {
	ax := x.axisIndex(axis, "ScatterAdd")
	if len(src.shape) != len(x.shape) || len(idx) != src.Len() {
		panic(fmt.Sprintf("tensor: ScatterAdd: src shape %v, %d indices, for x shape %v", src.shape, len(idx), x.shape))
	}
	for i := range x.shape {
		if i != ax && src.shape[i] != x.shape[i] {
			panic(fmt.Sprintf("tensor: ScatterAdd along axis %d: src shape %v does not match x shape %v", ax, src.shape, x.shape))
		}
	}
	m := src.shape[ax]
	return addAt(opScatterAdd, x, src, ax, idx, func(out, s []float32) {
		scatterAddRaw(out, x.shape, ax, idx, s, m)
	})
}

// addAt returns a copy of x into which add has added src's values, recorded
// as op with axis ax and indices idx; it is the forward of ScatterAdd and
// IndexAdd.
func addAt(op opKind, x, src *Tensor, ax int, idx []int, add func(out, src []float32)) *Tensor {
	ar := arenaOf(x, src)
	out := newOut(ar, x.shape)
	copyStrided(out.data, x)
	add(out.data, src.contiguous(ar))
	if record(out, op, x, src) {
		out.axis = ax
		out.idx = idx
	}
	return out
}

// backAddAt is the gradient of addAt: x gets t's gradient unchanged and src
// gets pick(gradient of src, t's gradient), which gathers the gradient
// from the positions src was added to.
func backAddAt(t *Tensor, pick func(dst, g []float32)) {
	x, src := t.in[0], t.in[1]
	if wantsGrad(x) {
		addTo(gradData(x), t.grad.data)
	}
	if wantsGrad(src) {
		pick(gradData(src), t.grad.data)
	}
}

func backScatterAdd(t *Tensor) {
	outer, n, inner := split(t.shape, t.axis)
	m := t.in[1].shape[t.axis]
	backAddAt(t, func(dst, g []float32) {
		for o := 0; o < outer; o++ {
			for i := 0; i < m; i++ {
				for j := 0; j < inner; j++ {
					p := (o*m+i)*inner + j
					dst[p] += g[(o*n+t.idx[p])*inner+j]
				}
			}
		}
	})
}

// IndexAdd returns a copy of x with src's entries added at positions idx
// along axis (torch.index_add): out[o, idx[i], j] += src[o, i, j]. src has
// x's shape except that dimension axis has size len(idx). Summing looked-up
// embedding rows into bags is IndexAdd of a zero tensor.
func IndexAdd(x *Tensor, axis int, idx []int, src *Tensor) *Tensor {
	ax := x.axisIndex(axis, "IndexAdd")
	if len(src.shape) != len(x.shape) || src.shape[ax] != len(idx) {
		panic(fmt.Sprintf("tensor: IndexAdd: src shape %v with %d indices for x shape %v", src.shape, len(idx), x.shape))
	}
	for i := range x.shape {
		if i != ax && src.shape[i] != x.shape[i] {
			panic(fmt.Sprintf("tensor: IndexAdd along axis %d: src shape %v does not match x shape %v", ax, src.shape, x.shape))
		}
	}
	outer, n, inner := split(x.shape, ax)
	m := len(idx)
	return addAt(opIndexAdd, x, src, ax, idx, func(out, s []float32) {
		for o := 0; o < outer; o++ {
			for i, k := range idx {
				checkIndex("IndexAdd", k, n, x.shape, ax)
				addTo(out[(o*n+k)*inner:(o*n+k+1)*inner], s[(o*m+i)*inner:])
			}
		}
	})
}

func backIndexAdd(t *Tensor) {
	outer, n, inner := split(t.shape, t.axis)
	m := len(t.idx)
	backAddAt(t, func(dst, g []float32) {
		for o := 0; o < outer; o++ {
			for i, k := range t.idx {
				addTo(dst[(o*m+i)*inner:(o*m+i+1)*inner], g[(o*n+k)*inner:])
			}
		}
	})
}
