package data

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"sync/atomic"
)

// LoaderOptions configures a Loader.
type LoaderOptions struct {
	// BatchSize is the number of examples per batch; it must be positive.
	BatchSize int
	// ShuffleBuffer is the number of examples held for shuffling; 0 or 1
	// keeps file order. With InMemory, any value above 1 shuffles fully.
	ShuffleBuffer int
	// Seed and the epoch passed to Batches fix the shuffled order: the same
	// pair gives the same order, and each epoch gets its own.
	Seed uint64
	// Rank and Workers shard the rows for data-parallel training: this
	// loader keeps the rows whose index in the source (counting from 0 over
	// all files in order) is Rank modulo Workers. Workers 0 means 1.
	Rank, Workers int
	// Prefetch is the number of batches prepared ahead in the background;
	// 0 means 1.
	Prefetch int
	// SkipBadRows skips and counts malformed rows instead of failing.
	SkipBadRows bool
	// DropRemainder drops a last batch smaller than BatchSize.
	DropRemainder bool
	// InMemory keeps the encoded examples of the shard in memory after the
	// first pass has read them all, so later passes read no file; every pass
	// then emits a full permutation. For data that fits in memory, such as
	// Fashion-MNIST (188 MB of float32 pixels).
	InMemory bool
}

// Loader streams encoded, shuffled batches of one source through fitted
// transforms. Each call of Batches is one pass (an epoch) over the loader's
// shard of the source; passes must not overlap.
type Loader struct {
	t    *Transforms
	src  RowSource
	opt  LoaderOptions
	mem  *Batch // all examples of the shard, once InMemory has read them
	rows atomic.Int64
	skip atomic.Int64
}

// NewLoader returns a loader of src through the fitted transforms t.
func NewLoader(t *Transforms, src RowSource, opt LoaderOptions) (*Loader, error) {
	if opt.Workers == 0 {
		opt.Workers = 1
	}
	if opt.Prefetch == 0 {
		opt.Prefetch = 1
	}
	switch {
	case opt.BatchSize < 1:
		return nil, fmt.Errorf("data: batch size %d must be positive", opt.BatchSize)
	case opt.Workers < 1 || opt.Rank < 0 || opt.Rank >= opt.Workers:
		return nil, fmt.Errorf("data: rank %d is not in [0, %d)", opt.Rank, opt.Workers)
	case opt.ShuffleBuffer < 0 || opt.Prefetch < 0:
		return nil, fmt.Errorf("data: shuffle buffer %d and prefetch %d must not be negative", opt.ShuffleBuffer, opt.Prefetch)
	}
	return &Loader{t: t, src: src, opt: opt}, nil
}

// Stats returns the examples that went into batches (counted as they are
// encoded, or taken from memory) and the malformed rows skipped so far,
// summed over passes. It is safe to call while a pass runs.
func (l *Loader) Stats() Stats {
	return Stats{Rows: l.rows.Load(), Skipped: l.skip.Load()}
}

type result struct {
	b   *Batch
	err error
}

// Batches runs pass number epoch (from 0). Batches are prepared by a
// background goroutine up to Prefetch ahead. The sequence ends after the
// last batch, at the first error (a *RowError for a malformed row unless
// SkipBadRows is set), or with ctx's error when ctx is cancelled. Leaving
// the loop early stops and waits for the goroutine, so nothing leaks.
func (l *Loader) Batches(ctx context.Context, epoch int) iter.Seq2[*Batch, error] {
	return func(yield func(*Batch, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		ch := make(chan result, l.opt.Prefetch)
		go func() {
			defer close(ch)
			if err := l.produce(ctx, epoch, ch); err != nil && !errors.Is(err, errStopped) {
				select {
				case ch <- result{err: err}:
				case <-ctx.Done():
				}
			}
		}()
		defer func() {
			cancel()
			for range ch {
			}
		}()
		for {
			select {
			case r, ok := <-ch:
				if !ok {
					// The producer also stops when ctx is cancelled.
					if err := ctx.Err(); err != nil {
						yield(nil, err)
					}
					return
				}
				if !yield(r.b, r.err) || r.err != nil {
					return
				}
			case <-ctx.Done():
				yield(nil, ctx.Err())
				return
			}
		}
	}
}

// errStopped ends produce when the consumer has gone.
var errStopped = errors.New("data: loader stopped")

// batcher fills batches and sends each full one on ch.
type batcher struct {
	ctx   context.Context
	t     *Transforms
	size  int
	batch *Batch
	ch    chan<- result
}

// flush sends the batch when it is full, or when final is set and it is
// not empty; it returns errStopped when the consumer has gone.
func (b *batcher) flush(final bool) error {
	if b.batch.Size < b.size && (!final || b.batch.Size == 0) {
		return nil
	}
	select {
	case b.ch <- result{b: b.batch}:
		b.batch = b.t.NewBatch(b.size)
		return nil
	case <-b.ctx.Done():
		return errStopped
	}
}

// produce reads, encodes, shuffles and batches, sending batches on ch.
func (l *Loader) produce(ctx context.Context, epoch int, ch chan<- result) error {
	b := &batcher{ctx: ctx, t: l.t, size: l.opt.BatchSize, batch: l.t.NewBatch(l.opt.BatchSize), ch: ch}
	var err error
	if l.opt.InMemory {
		err = l.fromMemory(ctx, epoch, b)
	} else {
		var shuffle *shuffleBuffer[*Example]
		if l.opt.ShuffleBuffer > 1 {
			shuffle = newShuffleBuffer[*Example](l.opt.ShuffleBuffer, l.opt.Seed, uint64(epoch))
		}
		err = l.examples(ctx, shuffle, func(ex *Example) error {
			b.batch.Append(ex)
			return b.flush(false)
		})
	}
	if err != nil {
		return err
	}
	if l.opt.DropRemainder {
		return nil
	}
	return b.flush(true)
}

// fromMemory reads the shard into memory on the first pass, then batches
// a permutation of it fixed by the seed and epoch.
func (l *Loader) fromMemory(ctx context.Context, epoch int, b *batcher) error {
	if l.mem == nil {
		mem := l.t.NewBatch(0)
		err := l.examples(ctx, nil, func(ex *Example) error {
			mem.Append(ex)
			return nil
		})
		if err != nil {
			return err
		}
		l.mem = mem
		l.rows.Add(-int64(mem.Size)) // counted below, as they are delivered
	}
	n := l.mem.Size
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	if l.opt.ShuffleBuffer > 1 {
		rng := rand.New(rand.NewPCG(l.opt.Seed, uint64(epoch)))
		rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	for k, i := range order {
		if k%1024 == 0 && ctx.Err() != nil {
			return errStopped
		}
		b.batch.addRow(l.mem, i)
		l.rows.Add(1)
		if err := b.flush(false); err != nil {
			return err
		}
	}
	return nil
}

// examples calls add for each example of this shard, in file order or,
// with a shuffle buffer, shuffled. Examples passed to add are reused once
// add returns.
func (l *Loader) examples(ctx context.Context, shuffle *shuffleBuffer[*Example], add func(*Example) error) error {
	spare := l.t.newExample()
	var index int64
	for rec, err := range l.src.Records(l.t.layout.columns) {
		index++
		if (index-1)%int64(l.opt.Workers) != int64(l.opt.Rank) {
			if err != nil && !IsRowError(err) {
				return err
			}
			continue
		}
		if index%1024 == 0 && ctx.Err() != nil {
			return errStopped
		}
		if err == nil {
			err = l.t.Encode(rec, spare)
		}
		if err != nil {
			if l.opt.SkipBadRows && IsRowError(err) {
				l.skip.Add(1)
				continue
			}
			return err
		}
		l.rows.Add(1)
		ex := spare
		if shuffle != nil {
			out, ok := shuffle.swap(spare)
			if !ok {
				spare = l.t.newExample()
				continue
			}
			ex, spare = out, out
		}
		if err := add(ex); err != nil {
			return err
		}
	}
	if shuffle != nil {
		for _, ex := range shuffle.drain() {
			if err := add(ex); err != nil {
				return err
			}
		}
	}
	return nil
}
