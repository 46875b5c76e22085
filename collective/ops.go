package collective

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/mlenv/mlenv/kernel"
)

// AllReduceSum replaces buf on every rank with the element-wise sum of buf
// over all ranks. Every rank must pass a buffer of the same length. The
// result is bitwise identical on all ranks.
func (g *Group) AllReduceSum(ctx context.Context, buf []float32) error {
	return g.AllReduceSumAsync(ctx, buf).Wait()
}

// AllReduceMean is AllReduceSum followed by division by Size: the average of
// buf over all ranks, as data-parallel training needs for gradients.
func (g *Group) AllReduceMean(ctx context.Context, buf []float32) error {
	return g.AllReduceMeanAsync(ctx, buf).Wait()
}

// AllReduceSumAsync starts AllReduceSum and returns at once; buf belongs to
// the group until the handle's Wait returns. Collectives started this way
// run in the background in call order, so a trainer can start reducing the
// gradients of the last layers while the backward pass of the first layers
// is still running.
func (g *Group) AllReduceSumAsync(ctx context.Context, buf []float32) *Handle {
	return g.start(ctx, "all-reduce", func(_ context.Context, seq uint32) error {
		return g.allReduce(seq, buf)
	})
}

// AllReduceMeanAsync is the asynchronous form of AllReduceMean.
func (g *Group) AllReduceMeanAsync(ctx context.Context, buf []float32) *Handle {
	return g.start(ctx, "all-reduce", func(_ context.Context, seq uint32) error {
		if err := g.allReduce(seq, buf); err != nil {
			return err
		}
		scale := 1 / float32(g.size)
		for i := range buf {
			buf[i] *= scale
		}
		return nil
	})
}

// allReduce sums buf over all ranks through shared memory when the group
// has it, otherwise over the TCP ring.
func (g *Group) allReduce(seq uint32, buf []float32) error {
	if g.shm != nil {
		return g.shmAllReduce(seq, buf)
	}
	return g.ringAllReduce(seq, buf)
}

// ringAllReduce is the bandwidth-optimal ring algorithm: buf is cut into
// Size segments; in Size-1 reduce-scatter steps each rank sends one segment
// to the next rank and adds the one it receives, after which rank r holds the
// full sum of segment r+1; Size-1 all-gather steps then circulate the summed
// segments. Each rank sends and receives 2*(Size-1)/Size of buf in all.
//
// Each step is one message, one header and its segment, written and read
// in chunks of g.chunk floats (ioChunk bytes). The steps are pipelined by
// those chunks: what a rank sends in step t+1 is the segment it received
// in step t, so a sending goroutine forwards each chunk as soon as it has
// arrived (and been added), and the 2(Size-1) steps flow as one stream
// instead of waiting for each other. Added chunks are read in pieces that
// stay in cache (see recvFloats) while the kernel keeps receiving the rest
// into the socket buffer, so the additions overlap the transfer.
func (g *Group) ringAllReduce(seq uint32, buf []float32) error {
	n, r := g.size, g.rank
	if n == 1 {
		return nil
	}
	p := newRingPlan(n, r, len(buf), g.chunk)
	seg := func(i int) []float32 { return buf[i*len(buf)/n : (i+1)*len(buf)/n] }

	// received carries one token per chunk received, in order; the sender
	// takes the token of chunk c of step t-1 before forwarding it in step
	// t. sentc carries one token per chunk sent; the receiver waits for the
	// last send of a chunk before overwriting it in the all-gather steps.
	received := make(chan struct{}, p.received)
	sentc := make(chan struct{}, p.sent)
	quit := make(chan struct{})
	sent := make(chan error, 1)
	go func() {
		for t := range p.steps {
			s := seg(p.out(t))
			err := g.next.sendHeader(opAllReduce, seq, 4*len(s))
			for c := 0; err == nil && c < p.chunks(p.out(t)); c++ {
				if t > 0 {
					select {
					case <-received:
					case <-quit:
						sent <- nil // the receiver failed and reports why
						return
					}
				}
				if err = g.next.write(floatBytes(p.chunkOf(s, c))); err == nil {
					sentc <- struct{}{}
				}
			}
			if err != nil {
				g.closeConns() // unblock the receiver at once
				sent <- fmt.Errorf("step %d of %d: %w", t+1, p.steps, err)
				return
			}
		}
		sent <- nil
	}()
	err := g.receiveRing(seq, p, seg, received, sentc, sent)
	if err != nil {
		g.closeConns()
		close(quit)
	}
	if sendErr := <-sent; err == nil {
		err = sendErr
	}
	return err
}

// receiveRing is the receiving side of ringAllReduce. When it takes the
// sender's result from sent it puts it back for its caller.
func (g *Group) receiveRing(seq uint32, p ringPlan, seg func(int) []float32, received, sentc chan struct{}, sent chan error) error {
	nsent := 0
	senderDone := sent // nil once the sender has finished: all its tokens are in sentc
	for t := range p.steps {
		s := seg(p.in(t))
		if err := g.prev.recvExact(opAllReduce, seq, 4*len(s)); err != nil {
			return fmt.Errorf("step %d of %d: %w", t+1, p.steps, err)
		}
		for c := range p.chunks(p.in(t)) {
			for nsent < p.mustHaveSent(t, c) {
				select {
				case <-sentc:
					nsent++
				case err := <-senderDone:
					sent <- err
					if err != nil {
						return err
					}
					senderDone = nil
				}
			}
			if err := g.recvFloats(p.chunkOf(s, c), t < p.n-1); err != nil {
				return fmt.Errorf("step %d of %d: %w", t+1, p.steps, err)
			}
			received <- struct{}{}
		}
	}
	return nil
}

// ringPlan says which segment a rank sends and receives in each step of
// the ring all-reduce and how the steps are cut into chunks.
type ringPlan struct {
	n, r, length, steps int
	chunk               int   // floats per chunk
	sent, received      int   // chunks sent and received in all
	sentBefore          []int // chunks sent before step t
}

func newRingPlan(n, r, length, chunk int) ringPlan {
	p := ringPlan{n: n, r: r, length: length, steps: 2 * (n - 1), chunk: chunk}
	p.sentBefore = make([]int, p.steps+1)
	for t := range p.steps {
		p.sentBefore[t+1] = p.sentBefore[t] + p.chunks(p.out(t))
		p.received += p.chunks(p.in(t))
	}
	p.sent = p.sentBefore[p.steps]
	return p
}

// out is the segment sent in step t; the one received is out(t+1).
func (p ringPlan) out(t int) int {
	if t < p.n-1 {
		return mod(p.r-t, p.n)
	}
	return mod(p.r+1-(t-(p.n-1)), p.n)
}

func (p ringPlan) in(t int) int { return p.out(t + 1) }

// chunks is the number of messages segment i travels in; an empty segment
// still sends one empty message, so every step is checked.
func (p ringPlan) chunks(i int) int {
	size := (i+1)*p.length/p.n - i*p.length/p.n
	return max(1, (size+p.chunk-1)/p.chunk)
}

// mustHaveSent returns how many chunk sends must be complete before chunk
// c of step t is received: up to the last earlier send of the same chunk,
// whose memory the receive overwrites.
func (p ringPlan) mustHaveSent(t, c int) int {
	for t2 := t; t2 >= 0; t2-- {
		if p.out(t2) == p.in(t) {
			return p.sentBefore[t2] + c + 1
		}
	}
	return 0
}

// chunkOf returns chunk c of s.
func (p ringPlan) chunkOf(s []float32, c int) []float32 {
	return s[min(c*p.chunk, len(s)):min((c+1)*p.chunk, len(s))]
}

// recvFloats reads len(dst) floats from the previous rank into dst, or adds
// them into dst. Added data arrives in pieces of addChunk bytes through
// scratch, small enough to stay in the core's cache between the read and
// the addition.
func (g *Group) recvFloats(dst []float32, add bool) error {
	if !add {
		return g.prev.read(floatBytes(dst))
	}
	if g.scratch == nil {
		g.scratch = make([]float32, addChunk/4)
	}
	for len(dst) > 0 {
		chunk := g.scratch[:min(len(dst), len(g.scratch))]
		if err := g.prev.read(floatBytes(chunk)); err != nil {
			return err
		}
		kernel.Axpy(1, chunk, dst[:len(chunk)])
		dst = dst[len(chunk):]
	}
	return nil
}

// Broadcast copies root's buf into buf on every other rank. Every rank must
// pass a buffer of the same length. The data travels down the ring in
// chunks, so ranks forward one chunk while the next arrives.
func (g *Group) Broadcast(ctx context.Context, root int, buf []float32) error {
	if root < 0 || root >= g.size {
		return fmt.Errorf("collective: broadcast root %d: must be in [0, %d)", root, g.size)
	}
	return g.start(ctx, "broadcast", func(_ context.Context, seq uint32) error {
		if g.size == 1 {
			return nil
		}
		forward := (g.rank+1)%g.size != root
		const chunk = ioChunk / 4
		for lo := 0; lo < len(buf) || lo == 0; lo += chunk {
			part := buf[lo:min(lo+chunk, len(buf))]
			if g.rank != root {
				if err := g.prev.recvExact(opBroadcast, seq, 4*len(part)); err != nil {
					return err
				}
				if err := g.prev.read(floatBytes(part)); err != nil {
					return err
				}
			}
			if g.rank == root || forward {
				if err := g.next.send(opBroadcast, seq, floatBytes(part)); err != nil {
					return err
				}
			}
			if len(buf) == 0 {
				break
			}
		}
		return nil
	}).Wait()
}

// Barrier returns when every rank has called it (or with an error when a
// rank failed): Size-1 rounds of small messages around the ring.
func (g *Group) Barrier(ctx context.Context) error {
	return g.start(ctx, "barrier", func(_ context.Context, seq uint32) error {
		return g.syncRing(opBarrier, seq, 0)
	}).Wait()
}

// Rows is a sparse set of embedding-table rows, for example the gradient of
// an embedding lookup: Values holds len(Index) rows of Dim floats each, row i
// belonging to table row Index[i]. Index may repeat.
type Rows struct {
	Dim    int
	Index  []int // the engine's row-gradient index type; 64 bits on the wire
	Values []float32
}

// Validate reports whether r's lengths are consistent.
func (r Rows) Validate() error {
	if r.Dim < 1 {
		return fmt.Errorf("collective: rows dim %d: must be at least 1", r.Dim)
	}
	if len(r.Values) != len(r.Index)*r.Dim {
		return fmt.Errorf("collective: rows: %d values for %d indices of dim %d, want %d", len(r.Values), len(r.Index), r.Dim, len(r.Index)*r.Dim)
	}
	return nil
}

// AllGatherRows gathers every rank's rows without densifying them: the
// result, the same on every rank, is the concatenation of all ranks' rows in
// rank order (duplicates kept; see Coalesce). Ranks may pass different
// numbers of rows but must agree on Dim. Only the rows travel, so the cost is
// proportional to the rows touched, not to the table size.
func (g *Group) AllGatherRows(ctx context.Context, rows Rows) (Rows, error) {
	if err := rows.Validate(); err != nil {
		return Rows{}, err
	}
	blocks := make([]Rows, g.size)
	blocks[g.rank] = rows
	err := g.start(ctx, "all-gather-rows", func(_ context.Context, seq uint32) error {
		for s := range g.size - 1 {
			out, in := mod(g.rank-s, g.size), mod(g.rank-s-1, g.size)
			sent := make(chan error, 1)
			go func() { sent <- g.next.send(opGatherRows, seq, encodeRows(blocks[out])) }()
			got, err := g.recvRows(seq, rows.Dim)
			if err != nil {
				g.closeConns()
			}
			if sendErr := <-sent; err == nil {
				err = sendErr
			}
			if err != nil {
				return fmt.Errorf("step %d of %d: %w", s+1, g.size-1, err)
			}
			blocks[in] = got
		}
		return nil
	}).Wait()
	if err != nil {
		return Rows{}, err
	}
	all := Rows{Dim: rows.Dim}
	for _, b := range blocks {
		all.Index = append(all.Index, b.Index...)
		all.Values = append(all.Values, b.Values...)
	}
	return all, nil
}

// encodeRows lays out r as count, dim and the indices as little-endian
// 64-bit integers, then the values in native byte order.
func encodeRows(r Rows) []byte {
	b := make([]byte, 0, 16+8*len(r.Index)+4*len(r.Values))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(r.Index)))
	b = binary.LittleEndian.AppendUint64(b, uint64(r.Dim))
	for _, i := range r.Index {
		b = binary.LittleEndian.AppendUint64(b, uint64(i))
	}
	return append(b, floatBytes(r.Values)...)
}

// recvRows reads one encoded Rows block from the previous rank.
func (g *Group) recvRows(seq uint32, dim int) (Rows, error) {
	n, err := g.prev.recvHeader(opGatherRows, seq)
	if err != nil {
		return Rows{}, err
	}
	var meta [16]byte
	if n < len(meta) {
		return Rows{}, fmt.Errorf("rank %d sent a %d-byte rows message", g.prev.rank, n)
	}
	if err := g.prev.read(meta[:]); err != nil {
		return Rows{}, err
	}
	count, gotDim := int(binary.LittleEndian.Uint64(meta[:8])), int(binary.LittleEndian.Uint64(meta[8:]))
	if gotDim != dim {
		return Rows{}, fmt.Errorf("rank %d gathers rows of dim %d, this rank of dim %d", g.prev.rank, gotDim, dim)
	}
	if want := 16 + count*(8+4*dim); n != want {
		return Rows{}, fmt.Errorf("rank %d sent %d bytes for %d rows of dim %d, want %d", g.prev.rank, n, count, dim, want)
	}
	index := make([]byte, 8*count)
	if err := g.prev.read(index); err != nil {
		return Rows{}, err
	}
	r := Rows{Dim: dim, Index: make([]int, count), Values: make([]float32, count*dim)}
	for i := range r.Index {
		r.Index[i] = int(binary.LittleEndian.Uint64(index[8*i:]))
	}
	return r, g.prev.read(floatBytes(r.Values))
}

func mod(i, n int) int { return ((i % n) + n) % n }
