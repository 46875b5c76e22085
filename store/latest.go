package store

import "fmt"

// Latest values are coalesced per group commit: each write notes the
// latest points it logged, the writer keeps those of the writes of the
// group that succeeded, and before the commit upserts each (run, metric)
// once, instead of once per request. Only runs that several writes of the
// group logged to need merging; the others' points go through as they
// are.

// latestBatch holds the latest point per metric that one write logged to
// a run, in first-logged order.
type latestBatch struct {
	run int64
	ms  []Metric
}

// noteLatest records the latest points (one per key, see latestPoints)
// the current write logged to run. They count only if the write succeeds
// (see keep).
func (t *tx) noteLatest(run int64, latest []Metric) {
	t.pending = append(t.pending, latestBatch{run, latest})
}

// keep adds the current write's noted points and moved runs (see
// unstage) to the group's; drop discards them, for a write rolled back.
func (t *tx) keep() {
	t.latest = append(t.latest, t.pending...)
	t.pending = t.pending[:0]
	for _, r := range t.pendingMoved {
		if t.unstaged == nil {
			t.unstaged = map[int64]bool{}
		}
		t.unstaged[r] = true
	}
	t.pendingMoved = t.pendingMoved[:0]
}

func (t *tx) drop() {
	t.pending = t.pending[:0]
	t.pendingMoved = t.pendingMoved[:0]
}

// latestPoints returns, per key, the point of ms that is latest by
// later, in the order the keys first appear.
func latestPoints(ms []Metric) []Metric {
	best := make(map[string]int, len(ms))
	out := make([]Metric, 0, len(ms))
	for _, m := range ms {
		i, ok := best[m.Key]
		if !ok {
			best[m.Key] = len(out)
			out = append(out, m)
			continue
		}
		if later(m, out[i]) {
			out[i] = m
		}
	}
	return out
}

// later reports whether a supersedes b as a metric's latest value: the
// greater step, then the greater timestamp, then the greater value (NaN
// counting as 0), the order the latest_metrics upsert compares in SQL.
func later(a, b Metric) bool {
	if a.Step != b.Step {
		return a.Step > b.Step
	}
	if a.Timestamp != b.Timestamp {
		return a.Timestamp > b.Timestamp
	}
	av, _ := storedValue(a.Value)
	bv, _ := storedValue(b.Value)
	return av > bv
}

// coalesce returns the latest points of batches with each (run, metric)
// once: the batches of a run that only one batch is of as they are,
// those of other runs merged in order.
func coalesce(batches []latestBatch) []latestBatch {
	writes := make(map[int64]int, len(batches))
	for _, b := range batches {
		writes[b.run]++
	}
	out := make([]latestBatch, 0, len(writes))
	for _, b := range batches {
		switch writes[b.run] {
		case 0: // merged already
		case 1:
			out = append(out, b)
		default:
			var all []Metric
			for _, o := range batches {
				if o.run == b.run {
					all = append(all, o.ms...)
				}
			}
			out = append(out, latestBatch{b.run, latestPoints(all)})
			writes[b.run] = 0
		}
	}
	return out
}

// finish writes what the group's writes leave for the end: the latest
// metric values or, where history is staged, a move of the staged points
// once there are many (see staging.go).
func (t *tx) finish() error {
	if t.s.staged != nil {
		return t.moveSome()
	}
	return upsertLatestPoints(t, coalesce(t.latest))
}

// upsertLatestPoints upserts the points of batches, which name each (run,
// metric) once, into latest_metrics in multi-row statements, keeping a
// stored value that is later still.
func upsertLatestPoints(t *tx, batches []latestBatch) error {
	args := make([]any, 0, 6*metricChunk)
	n := 0
	for _, b := range batches {
		run := any(b.run) // boxed once for the run's rows
		for _, m := range b.ms {
			v, isNaN := storedValue(m.Value)
			args = append(args, run, m.Key, m.Step, m.Timestamp, v, isNaN)
			if n++; n == metricChunk {
				if err := upsertLatest(t, n, args); err != nil {
					return err
				}
				args, n = args[:0], 0
			}
		}
	}
	if n == 0 {
		return nil
	}
	return upsertLatest(t, n, args)
}

// upsertLatestSQL returns the statement upserting n latest_metrics rows.
func upsertLatestSQL(n int) string {
	return `INSERT INTO latest_metrics (run_key, key, step, timestamp, value, is_nan) VALUES ` + rowsSQL(n, 6) + onLaterPoint
}

// onLaterPoint completes an insert into latest_metrics: a stored point
// is replaced only by a later one.
const onLaterPoint = ` ON CONFLICT (run_key, key) DO UPDATE SET step = excluded.step, timestamp = excluded.timestamp,
		value = excluded.value, is_nan = excluded.is_nan
		WHERE (excluded.step, excluded.timestamp, excluded.value) > (latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)`

// upsertLatestChunk is upsertLatestSQL(metricChunk), built once.
var upsertLatestChunk = upsertLatestSQL(metricChunk)

// upsertLatest upserts n latest_metrics rows whose columns args holds.
func upsertLatest(t *tx, n int, args []any) error {
	q := upsertLatestChunk
	if n != metricChunk {
		q = upsertLatestSQL(n)
	}
	if _, err := t.exec(q, args...); err != nil {
		return fmt.Errorf("update latest metrics: %w", err)
	}
	return nil
}
