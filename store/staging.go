package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"sync"
)

// Staged metric history (SQLite only). The metrics table is clustered by
// run, key and step, so that reading one metric's history is one range
// scan; but a log-batch of many keys then inserts into as many leaf pages,
// and each commit writes every page it dirtied to the write-ahead log
// again: about 3 KB of log per 40-byte point once histories are longer
// than a page. So new points are appended to metric_staging instead,
// which is clustered by run and a sequence number the writer assigns (so
// a commit appends to one page per run, and a run's points, or its
// oldest, are one range to move), and moved to metrics in large sorted
// groups, where many points of one (run, key) share each page written.
// The move also updates latest_metrics, once per (run, key) rather than
// once per logged point: the writer keeps the latest staged point per
// (run, key) in memory, and rebuilds that from the staging table at open,
// so it is as durable as the staged points. Points move:
//
//   - at the end of a group commit once 200,000 points are staged, about
//     20,000 of them: those of the runs with the most staged points (see
//     moveSome);
//   - before a read of a run's history or latest metrics (settle), that
//     run's points; before a search that filters or orders by a metric
//     (settleAll), all of them. So a read sees every point acknowledged
//     before it started.
//
// Moving drops exact duplicates, as inserting into metrics directly does
// (a retried request logs no point twice). PostgreSQL keeps inserting
// into metrics: its heap appends anyway.

// stagingMigration is the SQLite migration that adds metric_staging.
const stagingMigration = 4

// defaultStagingLimit is how many staged points make the writer move
// some; about 10 MB of staging table. The more points wait, the more of
// them share each history page a move writes.
const defaultStagingLimit = 200_000

// defaultStagingSlice is about how many points one group commit moves at
// the limit, so that the writes queued behind the move wait tens of
// milliseconds rather than the 0.4 s a move of 200,000 points takes.
const defaultStagingSlice = 20_000

// staging tracks the runs with points in metric_staging. The writer adds
// a run when it stages points for it (before the write is acknowledged)
// and removes runs only after a commit that moved their points, so a
// reader that does not find a run here may read metrics alone. The counts
// are upper bounds: a rolled-back write leaves its points counted.
type staging struct {
	mu    sync.Mutex
	runs  map[int64]int // run key -> points staged
	total int
	limit int // points staged that make the writer move some
	slice int // about how many points one group commit moves then

	// seq is the sequence number of the last staged point, which orders
	// a run's staged points. Only the writer goroutine uses it.
	seq int64

	// latest holds per run the latest staged point of each key, the
	// values a move writes to latest_metrics. It may also hold points
	// that moved already (writing them again changes nothing), never a
	// point that is not stored. Only the writer goroutine uses it, so mu
	// does not guard it.
	latest map[int64]map[string]Metric
}

// nextSeq returns the sequence number of the next staged point.
func (g *staging) nextSeq() int64 {
	g.seq++
	return g.seq
}

// note merges ms into the latest points of run.
func (g *staging) note(run int64, ms []Metric) {
	keys := g.latest[run]
	if keys == nil {
		keys = make(map[string]Metric, len(ms))
		g.latest[run] = keys
	}
	for _, m := range ms {
		if old, ok := keys[m.Key]; !ok || later(m, old) {
			keys[m.Key] = m
		}
	}
}

func (g *staging) add(run int64, n int) {
	g.mu.Lock()
	g.runs[run] += n
	g.total += n
	g.mu.Unlock()
}

// holds reports whether any of runs has staged points.
func (g *staging) holds(runs []int64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range runs {
		if _, ok := g.runs[r]; ok {
			return true
		}
	}
	return false
}

// empty reports whether no points are staged.
func (g *staging) empty() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.runs) == 0
}

// full reports whether enough points are staged to move some.
func (g *staging) full() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.total >= g.limit
}

// runCount is a run and its staged points.
type runCount struct {
	run int64
	n   int
}

// largest returns the runs with staged points, most points first, and
// their total.
func (g *staging) largest() ([]runCount, int) {
	g.mu.Lock()
	out := make([]runCount, 0, len(g.runs))
	for r, n := range g.runs {
		out = append(out, runCount{r, n})
	}
	total := g.total
	g.mu.Unlock()
	slices.SortFunc(out, func(a, b runCount) int { return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.run, b.run)) })
	return out, total
}

// all returns the runs with staged points.
func (g *staging) all() []int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]int64, 0, len(g.runs))
	for r := range g.runs {
		out = append(out, r)
	}
	return out
}

// remove forgets runs whose points a committed transaction moved, and
// the latest points of runs left with none.
func (g *staging) remove(runs map[int64]bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for r := range runs {
		g.total -= g.runs[r]
		delete(g.runs, r)
		delete(g.latest, r)
	}
}

// sub notes that a committed transaction moved n of the points of run.
func (g *staging) sub(run int64, n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	left, ok := g.runs[run]
	if !ok {
		return
	}
	n = min(n, left)
	g.total -= n
	if left == n {
		delete(g.runs, run)
		delete(g.latest, run)
		return
	}
	g.runs[run] = left - n
}

// loadStaging reads which runs have staged points, left by an earlier
// process, and their latest points; it runs at open, before any read or
// write.
func (s *SQLStore) loadStaging(ctx context.Context) error {
	g := &staging{runs: map[int64]int{}, limit: defaultStagingLimit, slice: defaultStagingSlice, latest: map[int64]map[string]Metric{}}
	rows, err := s.wdb.QueryContext(ctx, `SELECT run_key, seq, key, step, timestamp, value, is_nan FROM metric_staging`)
	if err != nil {
		return fmt.Errorf("read staged metrics: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var run, seq int64
		var m Metric
		var isNaN bool
		if err := rows.Scan(&run, &seq, &m.Key, &m.Step, &m.Timestamp, &m.Value, &isNaN); err != nil {
			return fmt.Errorf("read staged metrics: %w", err)
		}
		if isNaN {
			m.Value = Float(math.NaN())
		}
		g.add(run, 1)
		g.note(run, []Metric{m})
		g.seq = max(g.seq, seq)
	}
	s.staged = g
	return rows.Err()
}

// settle moves the staged points of runs, so that a read of metrics or
// latest_metrics that follows sees every point logged before settle was
// called. It costs nothing when none of runs has staged points.
func (s *SQLStore) settle(ctx context.Context, runs ...int64) error {
	if s.staged == nil || !s.staged.holds(runs) {
		return nil
	}
	return s.write(ctx, func(t *tx) error { return t.unstage(runs) })
}

// settleAll is settle for every run.
func (s *SQLStore) settleAll(ctx context.Context) error {
	if s.staged == nil || s.staged.empty() {
		return nil
	}
	return s.write(ctx, func(t *tx) error { return t.unstage(nil) })
}

// stage notes that the running write stages n points of run; a run moved
// earlier in the transaction then has points staged again.
func (t *tx) stage(run int64, n int) {
	t.s.staged.add(run, n)
	delete(t.unstaged, run)
}

// unstage moves the staged points of runs (all of them for nil).
func (t *tx) unstage(runs []int64) error {
	where, args := `WHERE run_key IN (`+placeholders(len(runs))+`)`, make([]any, len(runs))
	for i, r := range runs {
		args[i] = r
	}
	if runs == nil {
		where = "" // so that SQLite empties the table at once
		runs = t.s.staged.all()
	}
	if _, err := t.move(runs, where, args...); err != nil {
		return err
	}
	t.pendingMoved = append(t.pendingMoved, runs...)
	return nil
}

// move moves the staged points that where (with args) selects, all of
// them points of runs, to metrics in key order, dropping exact
// duplicates, and deletes them, returning how many it deleted. It also
// writes the latest staged points of runs to latest_metrics, which may
// take values from points still staged: those are stored as well, and a
// read of a run's history moves its points first.
func (t *tx) move(runs []int64, where string, args ...any) (int, error) {
	if err := upsertLatestPoints(t, t.stagedLatest(runs)); err != nil {
		return 0, err
	}
	// ORDER BY also keeps SQLite from parsing ON CONFLICT as a join
	// constraint.
	if _, err := t.exec(`INSERT INTO metrics (run_key, key, step, timestamp, value, is_nan)
		SELECT run_key, key, step, timestamp, value, is_nan FROM metric_staging `+where+`
		ORDER BY run_key, key, step, timestamp, value, is_nan ON CONFLICT DO NOTHING`, args...); err != nil {
		return 0, fmt.Errorf("move staged metrics: %w", err)
	}
	res, err := t.exec(`DELETE FROM metric_staging `+where, args...)
	if err != nil {
		return 0, fmt.Errorf("delete staged metrics: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// moveOldest moves the oldest n staged points of run, or all of them
// where it has no more, and returns how many it moved.
func (t *tx) moveOldest(run int64, n int) (int, error) {
	var last int64
	err := t.queryRow(`SELECT seq FROM metric_staging WHERE run_key = ? ORDER BY seq LIMIT 1 OFFSET ?`, run, n-1).Scan(&last)
	if err == sql.ErrNoRows {
		return 0, t.unstage([]int64{run})
	}
	if err != nil {
		return 0, fmt.Errorf("find staged metrics: %w", err)
	}
	moved, err := t.move([]int64{run}, `WHERE run_key = ? AND seq <= ?`, run, last)
	if err != nil {
		return 0, err
	}
	if t.partial == nil {
		t.partial = map[int64]int{}
	}
	t.partial[run] += moved
	return moved, nil
}

// stagedLatest returns the latest staged point per key of each of runs:
// those of committed writes and those of this transaction's writes so
// far.
func (t *tx) stagedLatest(runs []int64) []latestBatch {
	g := t.s.staged
	want := make(map[int64]bool, len(runs))
	out := make([]latestBatch, 0, len(runs))
	for _, r := range runs {
		want[r] = true
		var ms []Metric
		for _, m := range g.latest[r] {
			ms = append(ms, m)
		}
		out = append(out, latestBatch{r, ms})
	}
	for _, b := range t.latest {
		if want[b.run] {
			out = append(out, b)
		}
	}
	return coalesce(out)
}

// moveSome moves staged points once g.limit are staged: run by run, those
// with the most staged points first (which share pages best), until about
// g.slice points moved or fewer than the limit are left; of a run with
// more than g.slice staged points, its oldest g.slice. The writer calls
// it at the end of each group, before the commit.
func (t *tx) moveSome() error {
	g := t.s.staged
	if !g.full() { // the common case: no list of runs to build and sort
		return nil
	}
	runs, total := g.largest()
	for _, rc := range runs {
		if t.unstaged[rc.run] { // moved by a read earlier in the group
			total -= rc.n
		}
	}
	moved := 0
	for _, rc := range runs {
		if moved >= g.slice || total-moved < g.limit {
			break
		}
		if t.unstaged[rc.run] {
			continue
		}
		if rc.n > g.slice {
			n, err := t.moveOldest(rc.run, g.slice)
			if err != nil {
				return err
			}
			moved += n
			continue
		}
		if err := t.unstage([]int64{rc.run}); err != nil {
			return err
		}
		moved += rc.n
	}
	t.keep()
	return nil
}

// committed updates the staging state after a commit: the runs the
// transaction moved have no staged points left, those it moved some
// points of fewer, and the latest points of the transaction's writes to
// other runs are staged.
func (t *tx) committed() {
	g := t.s.staged
	if g == nil {
		return
	}
	for _, b := range t.latest {
		if !t.unstaged[b.run] {
			g.note(b.run, b.ms)
		}
	}
	g.remove(t.unstaged)
	for r, n := range t.partial {
		g.sub(r, n)
	}
}
