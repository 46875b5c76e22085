package collective

import (
	"cmp"
	"context"
	"slices"
)

// Coalesce sums rows with the same index and returns them sorted by index,
// so that an optimizer applies each touched row once.
func (r Rows) Coalesce() Rows {
	order := make([]int, len(r.Index))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(r.Index[a], r.Index[b]) })
	out := Rows{Dim: r.Dim}
	for _, i := range order {
		row := r.Values[i*r.Dim : (i+1)*r.Dim]
		if n := len(out.Index); n > 0 && out.Index[n-1] == r.Index[i] {
			last := out.Values[(n-1)*r.Dim:]
			for j, v := range row {
				last[j] += v
			}
			continue
		}
		out.Index = append(out.Index, r.Index[i])
		out.Values = append(out.Values, row...)
	}
	return out
}

// Bucketer averages many gradient slices over a Group in a few large
// all-reduces that overlap the backward pass: Add copies gradients into the
// current bucket as the backward pass produces them and starts an
// asynchronous all-reduce whenever the bucket reaches its size; Wait starts
// the last bucket, waits for all of them and writes the averages back.
//
// Every rank must Add the same sequence of slice lengths between Waits. A
// Bucketer is used by one goroutine at a time; its buffers are reused from
// one Wait to the next.
type Bucketer struct {
	g       *Group
	limit   int // floats per bucket
	buckets []*bucket
	n       int // buckets in use since the last Wait
}

type bucket struct {
	flat  []float32
	parts [][]float32 // the caller's slices, in Add order
	h     *Handle
}

// NewBucketer returns a Bucketer over g that starts an all-reduce every
// bucketFloats floats (25 MB, as in common practice, is 6.5M floats). A
// smaller bucket starts communication earlier; a larger one has less
// per-message overhead.
func NewBucketer(g *Group, bucketFloats int) *Bucketer {
	if bucketFloats < 1 {
		panic("collective: NewBucketer with a bucket size below one float")
	}
	return &Bucketer{g: g, limit: bucketFloats}
}

// Add queues grad for averaging. The Bucketer keeps grad and overwrites it
// with the average over all ranks during Wait; grad's contents are copied at
// Add, so the caller may reuse the memory for other work until Wait.
func (b *Bucketer) Add(ctx context.Context, grad []float32) {
	cur := b.current()
	if len(cur.flat) > 0 && len(cur.flat)+len(grad) > b.limit {
		b.flush(ctx)
		cur = b.current()
	}
	cur.flat = append(cur.flat, grad...)
	cur.parts = append(cur.parts, grad)
	if len(cur.flat) >= b.limit {
		b.flush(ctx)
	}
}

// current returns the bucket being filled, taking a fresh one if needed.
func (b *Bucketer) current() *bucket {
	if b.n == len(b.buckets) {
		b.buckets = append(b.buckets, &bucket{})
	}
	cur := b.buckets[b.n]
	if cur.h != nil { // reused from an earlier step
		cur.flat, cur.parts, cur.h = cur.flat[:0], cur.parts[:0], nil
	}
	return cur
}

// flush starts the all-reduce of the current bucket.
func (b *Bucketer) flush(ctx context.Context) {
	cur := b.buckets[b.n]
	cur.h = b.g.AllReduceMeanAsync(ctx, cur.flat)
	b.n++
}

// Wait starts the partly filled last bucket, waits for every bucket and
// copies the averaged values back into the slices given to Add. It returns
// the first error; the Bucketer is then ready for the next step.
func (b *Bucketer) Wait(ctx context.Context) error {
	if b.n < len(b.buckets) && len(b.buckets[b.n].parts) > 0 && b.buckets[b.n].h == nil {
		b.flush(ctx)
	}
	var first error
	for _, bk := range b.buckets[:b.n] {
		if err := bk.h.Wait(); err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		off := 0
		for _, p := range bk.parts {
			off += copy(p, bk.flat[off:off+len(p)])
		}
	}
	b.n = 0
	return first
}
