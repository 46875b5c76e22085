package store

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Latest values are coalesced per group commit: each write notes the
// points it logged, the writer keeps per (run, metric) the latest of all
// writes of the group that succeeded, and upserts each pair once before
// the commit, instead of once per request.

// runMetric names one metric of one run.
type runMetric struct {
	run int64
	key string
}

// noteLatest records points logged to run by the current write. They
// count only if the write succeeds (see keepLatest).
func (t *tx) noteLatest(run int64, ms []Metric) {
	for _, m := range ms {
		t.pending = append(t.pending, latestPoint{runMetric{run, m.Key}, m})
	}
}

// latestPoint is a point noted by a write, with its run.
type latestPoint struct {
	id runMetric
	m  Metric
}

// keepLatest folds the current write's noted points into the group's
// latest values; dropLatest discards them, for a write rolled back.
func (t *tx) keepLatest() {
	for _, p := range t.pending {
		if old, ok := t.latest[p.id]; !ok || later(p.m, old) {
			t.latest[p.id] = p.m
		}
	}
	t.pending = t.pending[:0]
}

func (t *tx) dropLatest() { t.pending = t.pending[:0] }

// later reports whether a supersedes b as a metric's latest value: the
// greater step, then the greater timestamp, then the greater value (NaN
// counting as 0), the order latest_metrics' upsert compares in SQL.
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

// flushLatest upserts the group's latest values, in (run, key) order,
// keeping a stored value that is later still.
func (t *tx) flushLatest() error {
	if len(t.latest) == 0 {
		return nil
	}
	ids := make([]runMetric, 0, len(t.latest))
	for id := range t.latest {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b runMetric) int {
		return cmp.Or(cmp.Compare(a.run, b.run), strings.Compare(a.key, b.key))
	})
	for len(ids) > 0 {
		n := min(len(ids), metricChunk)
		q := `INSERT INTO latest_metrics (run_key, key, step, timestamp, value, is_nan) VALUES ` +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?),", n), ",") +
			` ON CONFLICT (run_key, key) DO UPDATE SET step = excluded.step, timestamp = excluded.timestamp,
			value = excluded.value, is_nan = excluded.is_nan
			WHERE (excluded.step, excluded.timestamp, excluded.value) > (latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)`
		args := make([]any, 0, 6*n)
		for _, id := range ids[:n] {
			m := t.latest[id]
			v, isNaN := storedValue(m.Value)
			args = append(args, id.run, id.key, m.Step, m.Timestamp, v, isNaN)
		}
		if _, err := t.exec(q, args...); err != nil {
			return fmt.Errorf("update latest metrics: %w", err)
		}
		ids = ids[n:]
	}
	return nil
}
