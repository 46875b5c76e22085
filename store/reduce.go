package store

import (
	"context"
	"database/sql"
	"math"
	"slices"
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

// ReduceMetricHistory reduces a metric history in the database, so that
// a chart of a long series reads a few thousand rows instead of all of
// them. It reads each point of the step range once, bucket by bucket,
// and finds the kept steps by short walks of the primary key. A point
// logged meanwhile may or may not be counted.
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
	if err := s.settle(ctx, key); err != nil {
		return nil, err
	}
	out, err := s.reduce(ctx, key, r)
	return out, unavailable(err)
}

func (s *SQLStore) reduce(ctx context.Context, run int64, r ReduceRequest) (*Reduced, error) {
	out := &Reduced{Points: []Metric{}}
	scope, scopeArgs := `run_key = ? AND key = ?`, []any{run, r.Key}
	count := func(where string, args []any) (n int, err error) {
		err = s.queryRow(ctx, `SELECT COUNT(*) FROM metrics WHERE `+where, args...).Scan(&n)
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
	with := func(extra ...any) []any { return append(rangeArgs[:len(rangeArgs):len(rangeArgs)], extra...) }
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
		return s.queryRow(ctx, `SELECT step FROM metrics WHERE `+inRange+` AND `+finite+` ORDER BY step `+order+` LIMIT 1`,
			with(finiteArgs...)...).Scan(dst)
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
	before, err := count(inRange+` AND step < ?`, with(lo))
	if err != nil {
		return nil, err
	}
	after, err := count(inRange+` AND step > ?`, with(hi))
	if err != nil {
		return nil, err
	}
	reduceBuckets := s.sqliteBuckets
	if s.d.name == "postgres" {
		reduceBuckets = s.postgresBuckets
	}
	stats, err := reduceBuckets(ctx, run, r.Key, buckets(lo, hi, r.Buckets), &out.Points)
	if err != nil {
		return nil, err
	}
	inRangeCount := before + after
	for _, b := range stats {
		inRangeCount += b.all
		out.InRange += b.fin
	}
	out.NonFinite = inRangeCount - out.InRange
	if !bounded {
		out.Total = inRangeCount
	}
	return out, nil
}

// stepRange is the steps first through last.
type stepRange struct{ first, last int64 }

// buckets splits lo through hi into n equal step ranges, fewer when the
// range has fewer than n steps.
func buckets(lo, hi int64, n int) []stepRange {
	if n == 1 {
		return []stepRange{{lo, hi}}
	}
	// Unsigned offsets from lo cover any span of int64 steps; with n > 1
	// the width cannot overflow.
	span := uint64(hi) - uint64(lo)
	width := span/uint64(n) + 1
	var out []stepRange
	for off := uint64(0); ; off += width {
		b := stepRange{lo + int64(off), hi}
		if span-off >= width {
			b.last = b.first + int64(width-1)
		}
		out = append(out, b)
		if b.last == hi {
			return out
		}
	}
}

// bucketStat is what one bucket holds: how many points, how many finite
// ones, and the least and greatest finite value.
type bucketStat struct {
	stepRange
	all, fin int
	lo, hi   float64
}

// Queries of one SQLite bucket, run once per bucket on prepared
// statements of one connection (SQLite runs in process, so a query is
// cheap; it has no LATERAL join to do them all in one). Their first four
// arguments are the run key, the metric key and the bucket's first and
// last step.
const (
	// sqliteStats reads every point of a bucket once. NaN is stored as
	// value 0 with is_nan set, so its minimum and maximum are those of
	// the finite values unless the bucket holds ±Inf, or NaN where 0 is
	// an extreme; sqliteFiniteStats then counts again.
	sqliteStats = `SELECT COUNT(*), COUNT(*) FILTER (WHERE is_nan), MIN(value), MAX(value)
		FROM metrics WHERE run_key = ? AND key = ? AND step >= ? AND step <= ?`
	sqliteFiniteStats = `SELECT COUNT(*), MIN(value), MAX(value)
		FROM metrics WHERE run_key = ? AND key = ? AND step >= ? AND step <= ? AND ` + finite
	// sqliteKept returns the finite points at the bucket's first and last
	// finite step and at the earliest steps of its least and greatest
	// value (the last two arguments).
	sqliteInBucket = `FROM metrics WHERE run_key = ? AND key = ? AND step >= ? AND step <= ? AND `
	sqliteKept     = `SELECT step, timestamp, value ` + sqliteInBucket + finite + ` AND step IN (
		(SELECT step ` + sqliteInBucket + finite + ` ORDER BY step LIMIT 1),
		(SELECT step ` + sqliteInBucket + finite + ` ORDER BY step DESC LIMIT 1),
		(SELECT step ` + sqliteInBucket + `value = ? AND NOT is_nan ORDER BY step LIMIT 1),
		(SELECT step ` + sqliteInBucket + `value = ? AND NOT is_nan ORDER BY step LIMIT 1))
		ORDER BY step, timestamp, value`
)

// sqliteBuckets returns the stats of the buckets bs of one metric and
// appends their kept points to pts, in step order.
func (s *SQLStore) sqliteBuckets(ctx context.Context, run int64, key string, bs []stepRange, pts *[]Metric) ([]bucketStat, error) {
	conn, err := s.rdb.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var stmts []*sql.Stmt
	defer func() {
		for _, st := range stmts {
			st.Close()
		}
	}()
	for _, q := range []string{sqliteStats, sqliteFiniteStats, sqliteKept} {
		st, err := conn.PrepareContext(ctx, q)
		if err != nil {
			return nil, err
		}
		stmts = append(stmts, st)
	}
	q := sqliteBucket{stats: stmts[0], fallback: stmts[1], kept: stmts[2], run: run, key: key}
	out := make([]bucketStat, len(bs))
	for i, r := range bs {
		if out[i], err = q.reduce(ctx, r, pts); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// sqliteBucket reduces the buckets of one metric with prepared
// statements of sqliteStats, sqliteFiniteStats and sqliteKept.
type sqliteBucket struct {
	stats, fallback, kept *sql.Stmt
	run                   int64
	key                   string
}

// reduce returns the stats of the bucket r and appends its kept points
// to pts.
func (q *sqliteBucket) reduce(ctx context.Context, r stepRange, pts *[]Metric) (bucketStat, error) {
	b := bucketStat{stepRange: r}
	args := []any{q.run, q.key, r.first, r.last}
	var nan int
	var lo, hi sql.NullFloat64
	if err := q.stats.QueryRowContext(ctx, args...).Scan(&b.all, &nan, &lo, &hi); err != nil {
		return b, err
	}
	b.fin = b.all - nan
	if math.IsInf(lo.Float64, 0) || math.IsInf(hi.Float64, 0) || nan > 0 && (lo.Float64 >= 0 || hi.Float64 <= 0) {
		if err := q.fallback.QueryRowContext(ctx, append(args, finiteArgs...)...).Scan(&b.fin, &lo, &hi); err != nil {
			return b, err
		}
	}
	if b.fin == 0 {
		return b, nil
	}
	b.lo, b.hi = lo.Float64, hi.Float64
	var keptArgs []any
	for _, extra := range [][]any{finiteArgs, finiteArgs, finiteArgs, {b.lo}, {b.hi}} {
		keptArgs = append(append(keptArgs, args...), extra...)
	}
	rows, err := q.kept.QueryContext(ctx, keptArgs...)
	return b, scanMetrics(rows, err, q.key, pts)
}

// PostgreSQL queries of all buckets at once, one round trip each: the
// buckets come as arrays ($3 first steps, $4 last steps; $5 and $6 the
// least and greatest values). Each bucket's steps are found by scalar
// subqueries, which the planner cannot turn into a join over every point.
const (
	pgFinite = `NOT is_nan AND value > '-Infinity' AND value < 'Infinity'`
	pgStats  = `SELECT s.n, s.fin, s.lo, s.hi FROM unnest($3::bigint[], $4::bigint[]) WITH ORDINALITY AS b(first, last, i)
		CROSS JOIN LATERAL (SELECT COUNT(*) AS n, COUNT(*) FILTER (WHERE ` + pgFinite + `) AS fin,
			MIN(value) FILTER (WHERE ` + pgFinite + `) AS lo, MAX(value) FILTER (WHERE ` + pgFinite + `) AS hi
			FROM metrics WHERE run_key = $1 AND key = $2 AND step >= b.first AND step <= b.last) AS s
		ORDER BY b.i`
	pgInBucket  = `FROM metrics WHERE run_key = $1 AND key = $2 AND step >= b.first AND step <= b.last AND `
	pgKeptSteps = `SELECT (SELECT step ` + pgInBucket + pgFinite + ` ORDER BY step LIMIT 1),
		(SELECT step ` + pgInBucket + pgFinite + ` ORDER BY step DESC LIMIT 1),
		(SELECT step ` + pgInBucket + `value = b.lo AND NOT is_nan ORDER BY step LIMIT 1),
		(SELECT step ` + pgInBucket + `value = b.hi AND NOT is_nan ORDER BY step LIMIT 1)
		FROM unnest($3::bigint[], $4::bigint[], $5::float8[], $6::float8[]) AS b(first, last, lo, hi)`
	// pgKept reads the points at the kept steps $3 (distinct), one index
	// probe each. OFFSET 0 keeps the planner from flattening the lateral
	// subquery into a join: right after a bulk insert its statistics say
	// the run has a few rows and it would scan all of them.
	pgKept = `SELECT m.step, m.timestamp, m.value FROM unnest($3::bigint[]) AS k(step)
		CROSS JOIN LATERAL (SELECT step, timestamp, value FROM metrics
			WHERE run_key = $1 AND key = $2 AND step = k.step AND ` + pgFinite + ` OFFSET 0) AS m
		ORDER BY m.step, m.timestamp, m.value`
)

// postgresBuckets is sqliteBuckets for PostgreSQL, where every query is
// a round trip to the server.
func (s *SQLStore) postgresBuckets(ctx context.Context, run int64, key string, bs []stepRange, pts *[]Metric) ([]bucketStat, error) {
	firsts, lasts := make([]int64, len(bs)), make([]int64, len(bs))
	for i, r := range bs {
		firsts[i], lasts[i] = r.first, r.last
	}
	out := make([]bucketStat, 0, len(bs))
	err := s.each(ctx, pgStats, []any{run, key, firsts, lasts}, func(rows *sql.Rows) error {
		b := bucketStat{stepRange: bs[len(out)]}
		var lo, hi sql.NullFloat64
		err := rows.Scan(&b.all, &b.fin, &lo, &hi)
		b.lo, b.hi = lo.Float64, hi.Float64
		out = append(out, b)
		return err
	})
	if err != nil {
		return nil, err
	}
	firsts, lasts = firsts[:0], lasts[:0]
	var los, his []float64
	for _, b := range out {
		if b.fin > 0 {
			firsts, lasts, los, his = append(firsts, b.first), append(lasts, b.last), append(los, b.lo), append(his, b.hi)
		}
	}
	var steps []int64
	err = s.each(ctx, pgKeptSteps, []any{run, key, firsts, lasts, los, his}, func(rows *sql.Rows) error {
		var kept [4]sql.NullInt64
		err := rows.Scan(&kept[0], &kept[1], &kept[2], &kept[3])
		bucket := len(steps)
		for _, st := range kept {
			if st.Valid && !slices.Contains(steps[bucket:], st.Int64) {
				steps = append(steps, st.Int64)
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	rows, err := s.query(ctx, pgKept, run, key, steps)
	return out, scanMetrics(rows, err, key, pts)
}

// scanMetrics appends the points of metric key in rows (step, timestamp,
// value) to pts and closes rows; err is the error of the query.
func scanMetrics(rows *sql.Rows, err error, key string, pts *[]Metric) error {
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		m := Metric{Key: key}
		if err := rows.Scan(&m.Step, &m.Timestamp, &m.Value); err != nil {
			return err
		}
		*pts = append(*pts, m)
	}
	return rows.Err()
}
