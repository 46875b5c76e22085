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
// the metric; InRange counts the finite points inside the step range and
// NonFinite the NaN and ±Inf ones there. Points are ordered by step,
// timestamp and value.
type Reduced struct {
	Total, InRange, NonFinite int
	Points                    []Metric
}

// MaxReduceBuckets bounds ReduceRequest.Buckets.
const MaxReduceBuckets = 5000

// finite selects the points with a finite value; its two arguments are
// -Inf and +Inf.
const finite = `NOT is_nan AND value > ? AND value < ?`

var finiteArgs = []any{math.Inf(-1), math.Inf(1)}

// Queries of one bucket, run once per bucket on prepared statements.
// Their first four arguments are the run key, the metric key and the
// bucket's first and last step.
const (
	// bucketStats reads every point of a bucket once. NaN is stored as
	// value 0 with is_nan set, so its minimum and maximum are those of
	// the finite values unless the bucket holds ±Inf, or NaN where 0 is
	// an extreme; finiteStats then counts again.
	bucketStats = `SELECT COUNT(*), COUNT(*) FILTER (WHERE is_nan), MIN(value), MAX(value)
		FROM metrics WHERE run_key = ? AND key = ? AND step >= ? AND step <= ?`
	finiteStats = `SELECT COUNT(*), 0, MIN(value), MAX(value)
		FROM metrics WHERE run_key = ? AND key = ? AND step >= ? AND step <= ? AND ` + finite
	// bucketPoints returns the finite points at the bucket's first and
	// last finite step and at the earliest steps of its smallest and
	// largest value (the last two arguments). Each step is found by
	// walking the primary key in step order.
	inBucket     = `FROM metrics WHERE run_key = ? AND key = ? AND step >= ? AND step <= ? AND `
	bucketPoints = `SELECT step, timestamp, value FROM metrics WHERE run_key = ? AND key = ? AND step >= ? AND step <= ? AND ` + finite + ` AND step IN (
		(SELECT step ` + inBucket + finite + ` ORDER BY step LIMIT 1),
		(SELECT step ` + inBucket + finite + ` ORDER BY step DESC LIMIT 1),
		(SELECT step ` + inBucket + `value = ? AND NOT is_nan ORDER BY step LIMIT 1),
		(SELECT step ` + inBucket + `value = ? AND NOT is_nan ORDER BY step LIMIT 1))
		ORDER BY step, timestamp, value`
)

// ReduceMetricHistory reduces a metric history in the database, so that
// a chart of a long series reads a few thousand rows instead of all of
// them. It reads each point of the step range once, bucket by bucket on
// one connection (a point logged meanwhile may or may not be counted),
// and finds the kept steps by short walks of the primary key.
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
	conn, err := s.rdb.Conn(ctx)
	if err != nil {
		return nil, unavailable(err)
	}
	defer conn.Close()
	red := &reducer{s: s, conn: conn, run: key, key: r.Key}
	out, err := red.reduce(ctx, r)
	return out, unavailable(err)
}

// reducer runs the queries of one reduction on one connection.
type reducer struct {
	s        *SQLStore
	conn     *sql.Conn
	run      int64
	key      string
	stats    *sql.Stmt // bucketStats
	fallback *sql.Stmt // finiteStats
	points   *sql.Stmt // bucketPoints
}

func (red *reducer) reduce(ctx context.Context, r ReduceRequest) (*Reduced, error) {
	out := &Reduced{Points: []Metric{}}
	scope, scopeArgs := `run_key = ? AND key = ?`, []any{red.run, red.key}
	count := func(where string, args []any) (n int, err error) {
		err = red.row(ctx, `SELECT COUNT(*) FROM metrics WHERE `+where, args, &n)
		return n, err
	}
	inRange, rangeArgs := scope, scopeArgs
	if r.MinStep != nil {
		inRange += ` AND step >= ?`
		rangeArgs = append(rangeArgs, *r.MinStep)
	}
	if r.MaxStep != nil {
		inRange += ` AND step <= ?`
		rangeArgs = append(rangeArgs, *r.MaxStep)
	}
	// Without bounds every point is in range, so the buckets count them
	// all; with bounds one more pass counts the others.
	bounded := r.MinStep != nil || r.MaxStep != nil
	if bounded {
		var err error
		if out.Total, err = count(scope, scopeArgs); err != nil {
			return nil, err
		}
	}
	// The first and last finite steps bound the buckets; the points in
	// range before and after them are all non-finite.
	var lo, hi int64
	bound := func(order string, dst *int64) error {
		return red.row(ctx, `SELECT step FROM metrics WHERE `+inRange+` AND `+finite+` ORDER BY step `+order+` LIMIT 1`,
			append(rangeArgs[:len(rangeArgs):len(rangeArgs)], finiteArgs...), dst)
	}
	switch err := bound("", &lo); err {
	case nil:
	case sql.ErrNoRows:
		n, err := count(inRange, rangeArgs)
		out.NonFinite = n
		if !bounded {
			out.Total = n
		}
		return out, err
	default:
		return nil, err
	}
	if err := bound("DESC", &hi); err != nil {
		return nil, err
	}
	before, err := count(inRange+` AND step < ?`, append(rangeArgs[:len(rangeArgs):len(rangeArgs)], lo))
	if err != nil {
		return nil, err
	}
	after, err := count(inRange+` AND step > ?`, append(rangeArgs[:len(rangeArgs):len(rangeArgs)], hi))
	if err != nil {
		return nil, err
	}
	inRangeCount := before + after
	if err := red.prepare(ctx); err != nil {
		return nil, err
	}
	defer red.close()
	// Unsigned offsets from lo cover any span of int64 steps.
	span := uint64(hi) - uint64(lo)
	width := span/uint64(r.Buckets) + 1
	for off := uint64(0); ; off += width {
		first := lo + int64(off)
		last := hi
		if span-off >= width {
			last = first + int64(width-1)
		}
		all, fin, err := red.bucket(ctx, first, last, &out.Points)
		if err != nil {
			return nil, err
		}
		inRangeCount += all
		out.InRange += fin
		if last == hi {
			break
		}
	}
	out.NonFinite = inRangeCount - out.InRange
	if !bounded {
		out.Total = inRangeCount
	}
	return out, nil
}

// row runs a one-row query and scans its columns into dst.
func (red *reducer) row(ctx context.Context, q string, args []any, dst ...any) error {
	return red.conn.QueryRowContext(ctx, red.s.d.rebind(q), args...).Scan(dst...)
}

func (red *reducer) prepare(ctx context.Context) error {
	var err error
	prep := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = red.conn.PrepareContext(ctx, red.s.d.rebind(q))
		return st
	}
	red.stats, red.fallback, red.points = prep(bucketStats), prep(finiteStats), prep(bucketPoints)
	if err != nil {
		red.close()
	}
	return err
}

func (red *reducer) close() {
	for _, st := range []*sql.Stmt{red.stats, red.fallback, red.points} {
		if st != nil {
			st.Close()
		}
	}
}

// bucket appends the kept points of the steps first through last to pts
// and returns how many points, and how many finite ones, the bucket
// holds.
func (red *reducer) bucket(ctx context.Context, first, last int64, pts *[]Metric) (all, fin int, err error) {
	args := []any{red.run, red.key, first, last}
	var nan int
	var lo, hi sql.NullFloat64
	if err := red.stats.QueryRowContext(ctx, args...).Scan(&all, &nan, &lo, &hi); err != nil {
		return 0, 0, err
	}
	fin = all - nan
	if math.IsInf(lo.Float64, 0) || math.IsInf(hi.Float64, 0) || nan > 0 && (lo.Float64 >= 0 || hi.Float64 <= 0) {
		if err := red.fallback.QueryRowContext(ctx, append(args, finiteArgs...)...).Scan(&fin, &nan, &lo, &hi); err != nil {
			return 0, 0, err
		}
	}
	if fin == 0 {
		return all, 0, nil
	}
	var q []any
	q = append(append(q, args...), finiteArgs...)
	q = append(append(q, args...), finiteArgs...)
	q = append(append(q, args...), finiteArgs...)
	q = append(append(q, args...), lo.Float64)
	q = append(append(q, args...), hi.Float64)
	rows, err := red.points.QueryContext(ctx, q...)
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		m := Metric{Key: red.key}
		if err := rows.Scan(&m.Step, &m.Timestamp, &m.Value); err != nil {
			return 0, 0, err
		}
		*pts = append(*pts, m)
	}
	return all, fin, rows.Err()
}
