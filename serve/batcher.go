package serve

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// BatchConfig configures how one model version is scheduled, in the manner
// of Triton's dynamic batcher. The zero value runs each request on its own,
// one at a time, with a queue of DefaultQueueSize requests.
type BatchConfig struct {
	// MaxBatchSize is the most rows (first-dimension entries) merged into
	// one Infer call. Values above 1 enable dynamic batching, which needs a
	// variable first dimension on every input and output; a request with
	// more rows than MaxBatchSize is rejected. 0 or 1 disables batching.
	MaxBatchSize int
	// MaxQueueDelay is how long a batch may wait for more requests once its
	// first request is taken from the queue. 0 merges only requests that
	// are already waiting.
	MaxQueueDelay time.Duration
	// QueueSize bounds the requests admitted and waiting to run: those
	// being read and decoded and those queued. A request arriving when
	// QueueSize are waiting fails at once with ErrQueueFull, before its
	// body is read, so that rejecting costs little under overload. 0 means
	// DefaultQueueSize.
	QueueSize int
	// Instances is the number of Infer calls that may run concurrently on
	// the model (each on its own batch). 0 means 1.
	Instances int
}

// DefaultQueueSize is the queue bound used when BatchConfig.QueueSize is 0.
const DefaultQueueSize = 1024

func (c BatchConfig) batched() bool { return c.MaxBatchSize > 1 }

func (c BatchConfig) validate() error {
	if c.MaxBatchSize < 0 || c.MaxQueueDelay < 0 || c.QueueSize < 0 || c.Instances < 0 {
		return fmt.Errorf("batch config %+v: negative value", c)
	}
	return nil
}

// job is one request waiting in a batcher's queue.
type job struct {
	ctx    context.Context
	inputs []Tensor // validated, in signature order
	rows   int64    // first dimension of the inputs when batched
	done   chan jobResult
}

type jobResult struct {
	outputs []Tensor
	err     error
}

// batcher queues the requests of one model version and runs them on the
// model, merging concurrent requests along the first dimension.
type batcher struct {
	model   Model
	meta    Metadata
	cfg     BatchConfig
	metrics *versionMetrics
	log     *slog.Logger
	queue   chan *job    // capacity QueueSize
	waiting atomic.Int64 // places reserved in the queue (see reserve)

	mu      sync.RWMutex // guards closed against sends on a closed queue
	closed  bool
	workers sync.WaitGroup
}

func newBatcher(m Model, meta Metadata, cfg BatchConfig, metrics *versionMetrics, log *slog.Logger) *batcher {
	size := cfg.QueueSize
	if size == 0 {
		size = DefaultQueueSize
	}
	b := &batcher{model: m, meta: meta, cfg: cfg, metrics: metrics, log: log, queue: make(chan *job, size)}
	for range max(cfg.Instances, 1) {
		b.workers.Go(b.work)
	}
	return b
}

// reserve takes a place in the queue for a request about to be decoded and
// submitted. It fails at once with ErrQueueFull when QueueSize places are
// taken. The place is given back by release, or by a worker when it takes
// the submitted job from the queue.
func (b *batcher) reserve() error {
	if b.waiting.Add(1) > int64(cap(b.queue)) {
		b.waiting.Add(-1)
		return fmt.Errorf("%w: model %q version %q has %d requests waiting", ErrQueueFull, b.meta.Name, b.meta.Version, cap(b.queue))
	}
	b.metrics.queueDepth.Inc()
	return nil
}

// release gives back a place reserved for a request that was not queued.
func (b *batcher) release() {
	b.waiting.Add(-1)
	b.metrics.queueDepth.Dec()
}

// submit queues inputs (validated, in signature order), which hold a place
// taken by reserve, and waits for the outputs. When submit fails before
// queueing the job (rows that do not fit, ErrUnavailable after close) it
// releases the place. If ctx ends first, submit returns its error and the
// request is dropped before it runs.
func (b *batcher) submit(ctx context.Context, inputs []Tensor) ([]Tensor, error) {
	j := &job{ctx: ctx, inputs: inputs, done: make(chan jobResult, 1)}
	err := b.checkRows(j)
	if err == nil {
		err = b.enqueue(j)
	}
	if err != nil {
		b.release()
		return nil, err
	}
	select {
	case r := <-j.done:
		return r.outputs, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("model %q waiting for result: %w", b.meta.Name, ctx.Err())
	}
}

// checkRows sets a batched job's row count, checking that every input has
// it and that it fits in a batch.
func (b *batcher) checkRows(j *job) error {
	if !b.cfg.batched() {
		return nil
	}
	inputs := j.inputs
	j.rows = inputs[0].Shape[0]
	for _, t := range inputs[1:] {
		if t.Shape[0] != j.rows {
			return fmt.Errorf("%w: input %q has %d rows, input %q has %d", ErrBadRequest, t.Name, t.Shape[0], inputs[0].Name, j.rows)
		}
	}
	if j.rows > int64(b.cfg.MaxBatchSize) {
		return fmt.Errorf("%w: %d rows exceed the max batch size %d of model %q", ErrBadRequest, j.rows, b.cfg.MaxBatchSize, b.meta.Name)
	}
	return nil
}

// enqueue sends j, which holds a reserved place, to the queue. The send
// cannot block: every job in the queue holds one of its cap(queue) places.
func (b *batcher) enqueue(j *job) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return fmt.Errorf("%w: model %q version %q is unloading", ErrUnavailable, b.meta.Name, b.meta.Version)
	}
	b.queue <- j
	return nil
}

// close stops accepting requests, runs every queued request and waits for
// the workers to finish.
func (b *batcher) close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.queue)
	}
	b.mu.Unlock()
	b.workers.Wait()
}

// next takes a job from the queue, preferring a waiting job over wait; ok is
// false once the queue is closed and empty, timedOut is true when wait fired
// first. A nil wait blocks until a job arrives.
func (b *batcher) next(wait <-chan time.Time) (j *job, ok, timedOut bool) {
	select {
	case j, ok = <-b.queue:
	default:
		select {
		case j, ok = <-b.queue:
		case <-wait:
			return nil, true, true
		}
	}
	if ok {
		b.waiting.Add(-1)
		b.metrics.queueDepth.Dec()
	}
	return j, ok, false
}

// work is one instance's loop: take a job, gather a batch, run it.
func (b *batcher) work() {
	var held *job // a job that did not fit the previous batch
	for {
		first := held
		held = nil
		if first == nil {
			j, ok, _ := b.next(nil)
			if !ok {
				return
			}
			first = j
		}
		if b.expired(first) {
			continue
		}
		batch := []*job{first}
		if b.cfg.batched() {
			batch, held = b.gather(batch)
		}
		b.run(batch)
	}
}

// gather adds queued jobs to batch until it is full, the queue delay ends or
// a job does not fit; that job is returned as held for the next batch.
func (b *batcher) gather(batch []*job) (_ []*job, held *job) {
	rows := batch[0].rows
	var wait <-chan time.Time
	if b.cfg.MaxQueueDelay > 0 {
		timer := time.NewTimer(b.cfg.MaxQueueDelay)
		defer timer.Stop()
		wait = timer.C
	} else {
		closed := make(chan time.Time)
		close(closed)
		wait = closed
	}
	for rows < int64(b.cfg.MaxBatchSize) {
		j, ok, timedOut := b.next(wait)
		if timedOut || !ok {
			break
		}
		if b.expired(j) {
			continue
		}
		if rows+j.rows > int64(b.cfg.MaxBatchSize) || !sameRowShapes(batch[0], j) {
			return batch, j
		}
		batch = append(batch, j)
		rows += j.rows
	}
	return batch, nil
}

// expired answers a job whose context has ended instead of running it.
func (b *batcher) expired(j *job) bool {
	if err := j.ctx.Err(); err != nil {
		j.done <- jobResult{err: fmt.Errorf("model %q: request dropped before running: %w", b.meta.Name, err)}
		return true
	}
	return false
}

// sameRowShapes reports whether two jobs' inputs agree beyond the first
// dimension, so that they can be concatenated.
func sameRowShapes(a, b *job) bool {
	for i := range a.inputs {
		if !slices.Equal(a.inputs[i].Shape[1:], b.inputs[i].Shape[1:]) {
			return false
		}
	}
	return true
}

// run calls the model on the batch and hands each job its outputs.
func (b *batcher) run(batch []*job) {
	inputs, rows := batch[0].inputs, batch[0].rows
	if len(batch) > 1 {
		inputs, rows = concatRows(batch)
	}
	batchRows := int64(-1)
	if b.cfg.batched() {
		batchRows = rows
		b.metrics.batchSize.Observe(float64(rows))
	} else {
		b.metrics.batchSize.Observe(float64(firstDim(inputs)))
	}
	outputs, err := b.infer(inputs)
	if err == nil {
		outputs, err = b.meta.checkOutputs(outputs, batchRows)
		if err != nil {
			err = fmt.Errorf("%w: %w", ErrModelFailed, err)
		}
	}
	if err != nil {
		for _, j := range batch {
			j.done <- jobResult{err: err}
		}
		return
	}
	if len(batch) == 1 {
		batch[0].done <- jobResult{outputs: outputs}
		return
	}
	start := int64(0)
	for _, j := range batch {
		j.done <- jobResult{outputs: sliceRows(outputs, start, start+j.rows)}
		start += j.rows
	}
}

// infer calls the model, turning an error or a panic into ErrModelFailed.
func (b *batcher) infer(inputs []Tensor) (outputs []Tensor, err error) {
	defer func() {
		if p := recover(); p != nil {
			b.log.Error("model panicked", "model", b.meta.Name, "version", b.meta.Version, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("%w: model %q version %q panicked: %v", ErrModelFailed, b.meta.Name, b.meta.Version, p)
		}
	}()
	outputs, err = b.model.Infer(context.Background(), inputs)
	if err != nil {
		return nil, fmt.Errorf("%w: model %q version %q: %w", ErrModelFailed, b.meta.Name, b.meta.Version, err)
	}
	return outputs, nil
}

// firstDim returns the first dimension of the first input (1 for scalars),
// the batch size reported for unbatched models.
func firstDim(inputs []Tensor) int64 {
	if len(inputs[0].Shape) == 0 {
		return 1
	}
	return inputs[0].Shape[0]
}

// concatRows concatenates the jobs' inputs along the first dimension.
func concatRows(batch []*job) ([]Tensor, int64) {
	var rows int64
	for _, j := range batch {
		rows += j.rows
	}
	merged := make([]Tensor, len(batch[0].inputs))
	parts := make([]any, len(batch))
	for i, t := range batch[0].inputs {
		for k, j := range batch {
			parts[k] = j.inputs[i].Data
		}
		shape := slices.Clone(t.Shape)
		shape[0] = rows
		merged[i] = Tensor{Name: t.Name, Datatype: t.Datatype, Shape: shape, Data: concatData(parts)}
	}
	return merged, rows
}

// concatData concatenates slices of one Go slice type. The datatypes of
// raw features (FP32, BYTES, INT64) are concatenated without reflection.
func concatData(parts []any) any {
	switch parts[0].(type) {
	case []float32:
		return concatOf[float32](parts)
	case [][]byte:
		return concatOf[[]byte](parts)
	case []int64:
		return concatOf[int64](parts)
	}
	n := 0
	for _, p := range parts {
		n += reflect.ValueOf(p).Len()
	}
	data := reflect.MakeSlice(reflect.TypeOf(parts[0]), 0, n)
	for _, p := range parts {
		data = reflect.AppendSlice(data, reflect.ValueOf(p))
	}
	return data.Interface()
}

// concatOf concatenates parts, each a []T.
func concatOf[T any](parts []any) []T {
	n := 0
	for _, p := range parts {
		n += len(p.([]T))
	}
	out := make([]T, 0, n)
	for _, p := range parts {
		out = append(out, p.([]T)...)
	}
	return out
}

// sliceRows returns rows [from, to) of each tensor, sharing its data.
func sliceRows(ts []Tensor, from, to int64) []Tensor {
	out := make([]Tensor, len(ts))
	for i, t := range ts {
		rowLen := int64(0)
		if t.Shape[0] > 0 {
			rowLen = int64(t.Len()) / t.Shape[0]
		}
		shape := slices.Clone(t.Shape)
		shape[0] = to - from
		lo, hi := int(from*rowLen), int(to*rowLen)
		var data any
		if v, ok := t.Data.([]float32); ok { // the usual output, without reflection
			data = v[lo:hi:hi]
		} else {
			data = reflect.ValueOf(t.Data).Slice3(lo, hi, hi).Interface()
		}
		out[i] = Tensor{Name: t.Name, Datatype: t.Datatype, Shape: shape, Data: data}
	}
	return out
}
