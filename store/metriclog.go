package store

import (
	"fmt"
	"strings"
)

// metricChunk is how many rows one multi-row INSERT carries.
const metricChunk = 100

// mergeAt is how many logged points of one run make the writer move them
// from metric_log into metrics. Larger values make each move touch each
// (run, key) page of metrics fewer times per point; smaller ones keep the
// part of a history that readers merge at read time short.
const mergeAt = 20000

// metricCols are the columns of a history point in metrics and metric_log.
const metricCols = `step, timestamp, value, is_nan`

// appendMetrics appends points to the run's metric log, and moves the
// run's log into metrics once it holds mergeAt points. Exact duplicates
// (a retried request) are dropped by the move and by readers.
func appendMetrics(t *tx, key int64, ms []Metric) error {
	n, err := loggedPoints(t, key)
	if err != nil {
		return err
	}
	for rest := ms; len(rest) > 0; {
		c := min(len(rest), metricChunk)
		q := `INSERT INTO metric_log (run_key, key, step, timestamp, value, is_nan) VALUES ` +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?),", c), ",")
		args := make([]any, 0, 6*c)
		for _, m := range rest[:c] {
			v, isNaN := storedValue(m.Value)
			args = append(args, key, m.Key, m.Step, m.Timestamp, v, isNaN)
		}
		if _, err := t.exec(q, args...); err != nil {
			return fmt.Errorf("append metrics: %w", err)
		}
		rest = rest[c:]
	}
	n += len(ms)
	if n >= mergeAt {
		if err := mergeLog(t, key); err != nil {
			return err
		}
		n = 0
	}
	t.w.logged[key] = n
	return nil
}

// loggedPoints returns how many points of run key metric_log holds.
func loggedPoints(t *tx, key int64) (int, error) {
	if n, ok := t.w.logged[key]; ok {
		return n, nil
	}
	var n int
	if err := t.queryRow(`SELECT COUNT(*) FROM metric_log WHERE run_key = ?`, key).Scan(&n); err != nil {
		return 0, fmt.Errorf("count logged metrics of run %d: %w", key, err)
	}
	return n, nil
}

// mergeLog moves the logged points of run key into metrics, sorted so
// that each (key, step) range of metrics is written once.
func mergeLog(t *tx, key int64) error {
	if _, err := t.exec(`INSERT INTO metrics (run_key, key, `+metricCols+`)
		SELECT run_key, key, `+metricCols+` FROM metric_log WHERE run_key = ?
		ORDER BY key, step, timestamp, value ON CONFLICT DO NOTHING`, key); err != nil {
		return fmt.Errorf("merge metric log of run %d: %w", key, err)
	}
	if _, err := t.exec(`DELETE FROM metric_log WHERE run_key = ?`, key); err != nil {
		return fmt.Errorf("clear metric log of run %d: %w", key, err)
	}
	return nil
}

// historySelect returns a compound SELECT of cols over the points of
// metrics and metric_log that match where (over run_key, key and step),
// without duplicates, and its arguments given where's own. Each arm keeps
// its index; callers append an ORDER BY or wrap it as a subquery.
func historySelect(cols, where string, args []any) (string, []any) {
	q := `SELECT ` + cols + ` FROM metrics WHERE ` + where +
		` UNION SELECT ` + cols + ` FROM metric_log WHERE ` + where
	return q, append(append([]any{}, args...), args...)
}
