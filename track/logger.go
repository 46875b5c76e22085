package track

import (
	"context"
	"sync"
	"time"

	"github.com/mlenv/mlenv/store"
)

// RunLogger batches the metrics of one run and sends them with log-batch:
// when MaxBatch points are buffered, every FlushEvery, and on Flush and
// Close. It is what a training loop logs through (a metric sink). Its
// methods are safe for concurrent use.
type RunLogger struct {
	c        *Client
	runID    string
	maxBatch int

	mu      sync.Mutex
	pending []store.Metric
	err     error // the first failed send, reported once

	stop chan struct{}
	done chan struct{}
}

// RunLoggerOptions configure a RunLogger; the zero value is valid.
type RunLoggerOptions struct {
	// MaxBatch is how many points one request carries; 0 or more than
	// store.MaxMetricsPerBatch means store.MaxMetricsPerBatch.
	MaxBatch int
	// FlushEvery is the longest a point waits in the buffer; 0 means 1 s.
	FlushEvery time.Duration
}

// NewRunLogger returns a logger for runID; Close it to send the rest.
func (c *Client) NewRunLogger(runID string, opts RunLoggerOptions) *RunLogger {
	if opts.MaxBatch <= 0 || opts.MaxBatch > store.MaxMetricsPerBatch {
		opts.MaxBatch = store.MaxMetricsPerBatch
	}
	if opts.FlushEvery <= 0 {
		opts.FlushEvery = time.Second
	}
	l := &RunLogger{c: c, runID: runID, maxBatch: opts.MaxBatch, stop: make(chan struct{}), done: make(chan struct{})}
	go l.tick(opts.FlushEvery)
	return l
}

func (l *RunLogger) tick(every time.Duration) {
	defer close(l.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := l.Flush(context.Background()); err != nil {
				l.mu.Lock()
				if l.err == nil {
					l.err = err
				}
				l.mu.Unlock()
			}
		case <-l.stop:
			return
		}
	}
}

// LogMetric buffers one point timestamped now, sending a batch when the
// buffer is full. It returns the error of an earlier failed send, once.
func (l *RunLogger) LogMetric(ctx context.Context, key string, value float64, step int64) error {
	l.mu.Lock()
	l.pending = append(l.pending, store.Metric{Key: key, Value: store.Float(value), Timestamp: time.Now().UnixMilli(), Step: step})
	full := len(l.pending) >= l.maxBatch
	err := l.err
	l.err = nil
	l.mu.Unlock()
	if err != nil {
		return err
	}
	if full {
		return l.Flush(ctx)
	}
	return nil
}

// Flush sends the buffered points.
func (l *RunLogger) Flush(ctx context.Context) error {
	l.mu.Lock()
	batch := l.pending
	l.pending = nil
	l.mu.Unlock()
	for len(batch) > 0 {
		n := min(len(batch), l.maxBatch)
		if err := l.c.LogBatch(ctx, store.Batch{RunID: l.runID, Metrics: batch[:n]}); err != nil {
			l.mu.Lock()
			l.pending = append(batch, l.pending...) // keep them for the next try
			l.mu.Unlock()
			return err
		}
		batch = batch[n:]
	}
	return nil
}

// Close stops the background flushing and sends what is buffered. It
// returns the first error of a send that was not reported yet.
func (l *RunLogger) Close(ctx context.Context) error {
	close(l.stop)
	<-l.done
	err := l.Flush(ctx)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil {
		err, l.err = l.err, nil
	}
	return err
}
