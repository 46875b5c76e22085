package store

import (
	"context"
	"fmt"
	"math"
	"sync"
)

// Staged metric history (SQLite only). The metrics table is clustered by
// run, key and step, so that reading one metric's history is one range
// scan; but a log-batch of many keys then inserts into as many leaf pages,
// and each commit writes every page it dirtied to the write-ahead log
// again: about 3 KB of log per 40-byte point once histories are longer
// than a page. So new points are appended to metric_staging instead (one
// page per commit per run) and moved to metrics in large sorted groups,
// where many points of one (run, key) share each page written. The move
// also updates latest_metrics, once per (run, key) rather than once per
// logged point: the writer keeps the latest staged point per (run, key)
// in memory, and rebuilds that from the staging table at open, so it is
// as durable as the staged points. Points move:
//
//   - at the end of a group commit once stagingLimit points are staged,
//     all of them;
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

// defaultStagingLimit is how many staged points make the writer move all
// of them; about 10 MB of staging table.
const defaultStagingLimit = 200_000

// staging tracks the runs with points in metric_staging. The writer adds
// a run when it stages points for it (before the write is acknowledged)
// and removes runs only after a commit that moved their points, so a
// reader that does not find a run here may read metrics alone. The counts
// are upper bounds: a rolled-back write leaves its points counted.
type staging struct {
	mu    sync.Mutex
	runs  map[int64]int // run key -> points staged
	total int
	limit int

	// latest holds per run the latest staged point of each key, the
	// values a move writes to latest_metrics. It may also hold points
	// that moved already (writing them again changes nothing), never a
	// point that is not stored. Only the writer goroutine uses it, so mu
	// does not guard it.
	latest map[int64]map[string]Metric
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

// full reports whether enough points are staged to move them all.
func (g *staging) full() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.total >= g.limit
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

// remove forgets runs whose points a committed transaction moved.
func (g *staging) remove(runs map[int64]bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for r := range runs {
		g.total -= g.runs[r]
		delete(g.runs, r)
	}
}

// loadStaging reads which runs have staged points, left by an earlier
// process, and their latest points; it runs at open, before any read or
// write.
func (s *SQLStore) loadStaging(ctx context.Context) error {
	g := &staging{runs: map[int64]int{}, limit: defaultStagingLimit, latest: map[int64]map[string]Metric{}}
	rows, err := s.wdb.QueryContext(ctx, `SELECT run_key, key, step, timestamp, value, is_nan FROM metric_staging`)
	if err != nil {
		return fmt.Errorf("read staged metrics: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var run int64
		var m Metric
		var isNaN bool
		if err := rows.Scan(&run, &m.Key, &m.Step, &m.Timestamp, &m.Value, &isNaN); err != nil {
			return fmt.Errorf("read staged metrics: %w", err)
		}
		if isNaN {
			m.Value = Float(math.NaN())
		}
		g.add(run, 1)
		g.note(run, []Metric{m})
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

// unstage moves the staged points of runs (all of them for nil) to
// metrics in key order, dropping exact duplicates, updates latest_metrics
// with the latest of them per (run, key), and deletes them.
func (t *tx) unstage(runs []int64) error {
	where, args := `WHERE run_key IN (`+placeholders(len(runs))+`)`, make([]any, len(runs))
	for i, r := range runs {
		args[i] = r
	}
	if runs == nil {
		where = "" // so that SQLite empties the table at once
		runs = t.s.staged.all()
	}
	if err := upsertLatestPoints(t, t.stagedLatest(runs)); err != nil {
		return err
	}
	// ORDER BY also keeps SQLite from parsing ON CONFLICT as a join
	// constraint.
	if _, err := t.exec(`INSERT INTO metrics (run_key, key, step, timestamp, value, is_nan)
		SELECT run_key, key, step, timestamp, value, is_nan FROM metric_staging `+where+`
		ORDER BY run_key, key, step, timestamp, value, is_nan ON CONFLICT DO NOTHING`, args...); err != nil {
		return fmt.Errorf("move staged metrics: %w", err)
	}
	if _, err := t.exec(`DELETE FROM metric_staging `+where, args...); err != nil {
		return fmt.Errorf("delete staged metrics: %w", err)
	}
	t.pendingMoved = append(t.pendingMoved, runs...)
	return nil
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

// unstageIfFull moves every staged point once enough are staged; the
// writer calls it at the end of each group, before the commit.
func (t *tx) unstageIfFull() error {
	if !t.s.staged.full() {
		return nil
	}
	if err := t.unstage(nil); err != nil {
		return err
	}
	t.keep()
	return nil
}

// committed updates the staging state after a commit: the runs the
// transaction moved have no staged points left, and the latest points of
// the transaction's writes to other runs are staged.
func (t *tx) committed() {
	g := t.s.staged
	if g == nil {
		return
	}
	for r := range t.unstaged {
		delete(g.latest, r)
	}
	for _, b := range t.latest {
		if !t.unstaged[b.run] {
			g.note(b.run, b.ms)
		}
	}
	if len(t.unstaged) > 0 {
		g.remove(t.unstaged)
	}
}
