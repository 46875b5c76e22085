package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// tx is a write transaction handed to a write function. Its exec and
// query methods take ? placeholders; statements are prepared once per
// transaction, so the writes of one group share them.
type tx struct {
	s     *SQLStore
	w     *writer
	tx    *sql.Tx
	ctx   context.Context
	stmts map[string]*sql.Stmt

	// latest holds the latest metric values the group's successful
	// writes logged, flushed before the commit; pending those noted by
	// the running write.
	latest, pending []latestBatch

	// unstaged holds the runs whose staged history points the group's
	// successful writes moved to metrics, and no later write staged
	// points for again; pendingMoved those the running write moved (see
	// staging.go).
	unstaged     map[int64]bool
	pendingMoved []int64
	// partial counts the points the group moved of runs that keep
	// staged ones.
	partial map[int64]int
}

// stmt returns q prepared in this transaction.
func (t *tx) stmt(q string) (*sql.Stmt, error) {
	if st, ok := t.stmts[q]; ok {
		return st, nil
	}
	st, err := t.tx.PrepareContext(t.ctx, t.s.d.rebind(q))
	if err != nil {
		return nil, fmt.Errorf("prepare %q: %w", firstLine(q), err)
	}
	t.stmts[q] = st
	return st, nil
}

func (t *tx) exec(q string, args ...any) (sql.Result, error) {
	if t.s.d.dollarArgs {
		// pgx caches prepared statements per connection by itself.
		return t.tx.ExecContext(t.ctx, t.s.d.rebind(q), args...)
	}
	st, err := t.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(t.ctx, args...)
}

func (t *tx) queryRow(q string, args ...any) *sql.Row {
	if t.s.d.dollarArgs {
		return t.tx.QueryRowContext(t.ctx, t.s.d.rebind(q), args...)
	}
	st, err := t.stmt(q)
	if err != nil {
		// A failed prepare surfaces as the row's Scan error.
		return t.tx.QueryRowContext(t.ctx, t.s.d.rebind(q), args...)
	}
	return st.QueryRowContext(t.ctx, args...)
}

func (t *tx) query(q string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(t.ctx, t.s.d.rebind(q), args...)
}

// writeOp is one queued write: fn runs inside the group's transaction and
// done receives its outcome after the transaction committed.
type writeOp struct {
	ctx  context.Context
	fn   func(*tx) error
	done chan error
}

// writer owns the write connection. One goroutine takes queued writes,
// runs all those pending at one moment in one transaction, each inside a
// savepoint so a failing write leaves the others intact, commits once (one
// fsync) and acknowledges each write only after that commit.
type writer struct {
	s        *SQLStore
	ops      chan *writeOp
	stopped  chan struct{}
	maxBatch int

	mu     sync.RWMutex // held for reading while queueing, for writing by close
	closed bool

	// runs caches run id -> key and lifecycle stage for the writes, which
	// all run on the writer goroutine. Writes that change a stage clear
	// it, and so does every transaction that does not commit, so it never
	// holds uncommitted state.
	runs map[string]runState
}

type runState struct {
	key   int64
	stage string
}

func newWriter(s *SQLStore, maxBatch int) *writer {
	if maxBatch <= 0 {
		maxBatch = 256
	}
	w := &writer{s: s, ops: make(chan *writeOp, 4*maxBatch), stopped: make(chan struct{}), maxBatch: maxBatch,
		runs: map[string]runState{}}
	go w.run()
	return w
}

// errClosed is returned for writes submitted after Close.
var errClosed = Errorf(TemporarilyUnavailable, "store is closed")

// write queues fn and waits until it committed or failed. If ctx ends
// before fn starts, fn is dropped and ctx's error returned; once started,
// fn runs to its end so that the group is not disturbed.
func (s *SQLStore) write(ctx context.Context, fn func(*tx) error) error {
	op := &writeOp{ctx: ctx, fn: fn, done: make(chan error, 1)}
	if err := s.w.enqueue(op); err != nil {
		return err
	}
	return <-op.done
}

func (w *writer) enqueue(op *writeOp) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return errClosed
	}
	select {
	case w.ops <- op:
		return nil
	case <-op.ctx.Done():
		return op.ctx.Err()
	}
}

// close refuses new writes, lets the writer commit the queued ones and
// waits for it to stop.
func (w *writer) close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.ops)
	}
	w.mu.Unlock()
	<-w.stopped
}

func (w *writer) run() {
	defer close(w.stopped)
	batch := make([]*writeOp, 0, w.maxBatch)
	for op := range w.ops {
		batch = append(batch[:0], op)
	drain:
		for len(batch) < w.maxBatch {
			select {
			case op, ok := <-w.ops:
				if !ok {
					break drain
				}
				batch = append(batch, op)
			default:
				break drain
			}
		}
		w.commit(batch)
	}
}

// commit runs a group of writes in one transaction and reports to each.
func (w *writer) commit(batch []*writeOp) {
	start := time.Now()
	results := make([]error, len(batch))
	err := w.runGroup(batch, results)
	for i, op := range batch {
		if err != nil && results[i] == nil {
			results[i] = err
		}
		op.done <- results[i]
	}
	if err != nil {
		w.s.log.Error("write transaction failed", "writes", len(batch), "err", err)
	} else if d := time.Since(start); d > time.Second {
		w.s.log.Warn("slow write transaction", "writes", len(batch), "duration", d)
	}
}

// runGroup runs the writes of batch in one transaction, storing each
// one's own failure in results, and returns the error that failed the
// whole transaction. The fast path runs all writes plainly; only if one
// of them fails is the group run again with a savepoint per write, so
// that the failing write is rolled back alone.
func (w *writer) runGroup(batch []*writeOp, results []error) error {
	for i, op := range batch {
		results[i] = op.ctx.Err() // dropped: its caller gave up before it ran
	}
	ok, err := w.attempt(batch, results, false)
	if err != nil || ok || len(batch) == 1 {
		return err
	}
	for i, op := range batch {
		results[i] = op.ctx.Err()
	}
	_, err = w.attempt(batch, results, true)
	return err
}

// attempt runs the writes of batch not failed yet in one transaction and
// commits it. Without savepoints it gives up, rolling back, at the first
// failing write and reports ok=false; with them it rolls back just that
// write and goes on.
func (w *writer) attempt(batch []*writeOp, results []error, savepoints bool) (ok bool, err error) {
	defer func() {
		if !ok || err != nil {
			clear(w.runs)
		}
	}()
	ctx := context.Background()
	sqlTx, err := w.s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return false, unavailable(err)
	}
	t := &tx{s: w.s, w: w, tx: sqlTx, ctx: ctx, stmts: map[string]*sql.Stmt{}}
	exec := func(q string) error {
		_, err := sqlTx.ExecContext(ctx, q)
		return err
	}
	ran := 0
	for i, op := range batch {
		if results[i] != nil {
			continue
		}
		if !savepoints {
			if results[i] = op.fn(t); results[i] != nil {
				sqlTx.Rollback()
				return false, nil
			}
			t.keep()
			ran++
			continue
		}
		if err := exec("SAVEPOINT w"); err != nil {
			sqlTx.Rollback()
			return false, unavailable(err)
		}
		if results[i] = op.fn(t); results[i] != nil {
			t.drop()
			err = exec("ROLLBACK TO SAVEPOINT w")
		} else {
			t.keep()
			ran++
		}
		if err == nil {
			err = exec("RELEASE SAVEPOINT w")
		}
		if err != nil {
			sqlTx.Rollback()
			return false, unavailable(err)
		}
	}
	if ran == 0 {
		sqlTx.Rollback()
		return true, nil
	}
	if err := t.finish(); err != nil {
		sqlTx.Rollback()
		return false, unavailable(err)
	}
	if err := sqlTx.Commit(); err != nil {
		return false, unavailable(fmt.Errorf("commit: %w", err))
	}
	t.committed()
	return true, nil
}

// unavailable marks database connectivity errors TEMPORARILY_UNAVAILABLE
// so clients retry; other errors pass unchanged.
func unavailable(err error) error {
	if err == nil || CodeOf(err) != InternalError {
		return err
	}
	if errors.Is(err, sql.ErrConnDone) || errors.Is(err, os.ErrDeadlineExceeded) || isConnError(err) {
		return &Error{Code: TemporarilyUnavailable, Message: "database unavailable: " + err.Error()}
	}
	return err
}
