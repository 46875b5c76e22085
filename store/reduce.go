package store

import (
	"context"
	"database/sql"
	"math"
)

// ReduceRequest asks for one metric of one run reduced to at most about
// 4*Buckets points: the finite points with MinStep <= step <= MaxStep are
// split into Buckets equal step ranges, and of each range only the points
// at its first and last step and at the earliest steps holding its
// smallest and largest value are kept. Nil bounds are open.
type ReduceRequest struct {
	RunID, Key       string
	Buckets          int
	MinStep, MaxStep *int64
}

// Reduced is the answer to a ReduceRequest. Total counts every point of
// the metric, InRange the finite ones inside the step range and NonFinite
// the NaN and ±Inf ones; Points are ordered by step, timestamp and value.
type Reduced struct {
	Total, InRange, NonFinite int
	Points                    []Metric
}

// MaxReduceBuckets bounds ReduceRequest.Buckets.
const MaxReduceBuckets = 5000

// ReduceMetricHistory reduces a metric history in the database, so that
// a chart of a long series reads a few thousand rows instead of all of
// them. Every step is found by index range scans, without sorting the
// series: it reads the run's points of the metric about four times.
func (s *SQLStore) ReduceMetricHistory(ctx context.Context, r ReduceRequest) (*Reduced, error) {
	if r.Buckets < 1 || r.Buckets > MaxReduceBuckets {
		return nil, Errorf(InvalidParameterValue, "buckets must be 1 to %d, got %d", MaxReduceBuckets, r.Buckets)
	}
	if r.MinStep != nil && r.MaxStep != nil && *r.MinStep > *r.MaxStep {
		return nil, Errorf(InvalidParameterValue, "min step %d is after max step %d", *r.MinStep, *r.MaxStep)
	}
	key, err := s.runKey(ctx, r.RunID)
	if err != nil {
		return nil, err
	}
	out := &Reduced{Points: []Metric{}}
	finite := `NOT is_nan AND value > ? AND value < ?`
	finiteArgs := []any{math.Inf(-1), math.Inf(1)}
	inRange, rangeArgs := finite, finiteArgs
	if r.MinStep != nil {
		inRange += ` AND step >= ?`
		rangeArgs = append(rangeArgs, *r.MinStep)
	}
	if r.MaxStep != nil {
		inRange += ` AND step <= ?`
		rangeArgs = append(rangeArgs, *r.MaxStep)
	}
	// One scan counts every point, the finite ones and those in range.
	var nFinite int
	var lo, hi sql.NullInt64
	countArgs := append(append(append(append(append([]any{}, finiteArgs...), rangeArgs...), rangeArgs...), rangeArgs...), key, r.Key)
	err = s.queryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN `+finite+` THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN `+inRange+` THEN 1 ELSE 0 END), 0),
		MIN(CASE WHEN `+inRange+` THEN step END), MAX(CASE WHEN `+inRange+` THEN step END)
		FROM metrics WHERE run_key = ? AND key = ?`, countArgs...).Scan(&out.Total, &nFinite, &out.InRange, &lo, &hi)
	if err != nil {
		return nil, err
	}
	out.NonFinite = out.Total - nFinite
	where := `run_key = ? AND key = ? AND ` + inRange
	args := append([]any{key, r.Key}, rangeArgs...)
	if out.InRange == 0 {
		return out, nil
	}
	width := (hi.Int64-lo.Int64)/int64(r.Buckets) + 1
	q, qargs := reduceQuery(where, args, lo.Int64, hi.Int64, width)
	err = s.each(ctx, q, qargs, func(rows *sql.Rows) error {
		m := Metric{Key: r.Key}
		err := rows.Scan(&m.Step, &m.Timestamp, &m.Value)
		out.Points = append(out.Points, m)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// reduceQuery returns the query, and its arguments, that selects the
// points of the kept steps of each bucket [b, b+width) from lo through
// hi: the first and last step and the earliest steps of the smallest and
// largest value. where and args select the candidate points.
func reduceQuery(where string, args []any, lo, hi, width int64) (string, []any) {
	var qargs []any
	pick := func(sel, order string) string {
		qargs = append(append(qargs, args...), width)
		return `(SELECT ` + sel + ` FROM metrics WHERE ` + where + ` AND step >= bk.lo AND step < bk.lo + ?` + order + `)`
	}
	qargs = append(qargs, lo, width, width, hi)
	q := `WITH RECURSIVE bk(lo) AS (SELECT CAST(? AS BIGINT) UNION ALL SELECT lo + ? FROM bk WHERE lo + ? <= ?),
	picks AS (SELECT ` + pick(`MIN(step)`, ``) + ` AS a, ` + pick(`MAX(step)`, ``) + ` AS z, ` +
		pick(`step`, ` ORDER BY value, step LIMIT 1`) + ` AS l, ` + pick(`step`, ` ORDER BY value DESC, step LIMIT 1`) + ` AS h FROM bk),
	kept(step) AS (SELECT a FROM picks UNION SELECT z FROM picks UNION SELECT l FROM picks UNION SELECT h FROM picks)
	SELECT step, timestamp, value FROM metrics WHERE ` + where + ` AND step IN (SELECT step FROM kept)
	ORDER BY step, timestamp, value`
	return q, append(qargs, args...)
}
