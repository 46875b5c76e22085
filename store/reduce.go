package store

import (
	"context"
	"database/sql"
	"math"
	"runtime"
	"sync"
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

// reduceWorkers is how many connections one reduction reads its
// buckets on at once.
var reduceWorkers = min(runtime.GOMAXPROCS(0), 4)

// ReduceMetricHistory reduces a metric history in the database, so that
// a chart of a long series reads a few thousand rows instead of all of
// them. It reads each point of the step range once, bucket by bucket on
// up to reduceWorkers connections (a point logged meanwhile may or may
// not be counted), and finds the kept steps by short walks of the
// primary key.
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
	all, err := s.scanBuckets(ctx, run, r.Key, buckets(lo, hi, r.Buckets), out)
	if err != nil {
		return nil, err
	}
	inRangeCount := before + after + all
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
	// Unsigned offsets from lo cover any span of int64 steps.
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

// scanBuckets reduces the buckets bs of one metric, in consecutive
// shares on up to reduceWorkers connections. It appends the kept points
// to out.Points in step order, adds the finite points to out.InRange and
// returns how many points the buckets hold.
func (s *SQLStore) scanBuckets(ctx context.Context, run int64, key string, bs []stepRange, out *Reduced) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	shares := make([]bucketScan, min(reduceWorkers, len(bs)))
	var wg sync.WaitGroup
	for i := range shares {
		sh := &shares[i]
		*sh = bucketScan{s: s, run: run, key: key}
		wg.Go(func() {
			if sh.err = sh.scan(ctx, bs[i*len(bs)/len(shares):(i+1)*len(bs)/len(shares)]); sh.err != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	all := 0
	for _, sh := range shares {
		if sh.err != nil {
			return 0, sh.err
		}
		all += sh.all
		out.InRange += sh.fin
		out.Points = append(out.Points, sh.points...)
	}
	return all, nil
}

// bucketScan reduces a share of the buckets of one metric on one
// connection, counting their points (all) and finite points (fin).
type bucketScan struct {
	s        *SQLStore
	run      int64
	key      string
	stats    *sql.Stmt // bucketStats
	fallback *sql.Stmt // finiteStats
	keep     *sql.Stmt // bucketPoints
	all, fin int
	points   []Metric
	err      error
}

func (b *bucketScan) scan(ctx context.Context, bs []stepRange) error {
	conn, err := b.s.rdb.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	prep := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = conn.PrepareContext(ctx, b.s.d.rebind(q))
		return st
	}
	b.stats, b.fallback, b.keep = prep(bucketStats), prep(finiteStats), prep(bucketPoints)
	for _, st := range []*sql.Stmt{b.stats, b.fallback, b.keep} {
		if st != nil {
			defer st.Close()
		}
	}
	if err != nil {
		return err
	}
	for _, r := range bs {
		if err := b.bucket(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// bucket counts the points of the steps r and appends the kept ones.
func (b *bucketScan) bucket(ctx context.Context, r stepRange) error {
	args := []any{b.run, b.key, r.first, r.last}
	var all, nan, fin int
	var lo, hi sql.NullFloat64
	if err := b.stats.QueryRowContext(ctx, args...).Scan(&all, &nan, &lo, &hi); err != nil {
		return err
	}
	fin = all - nan
	if math.IsInf(lo.Float64, 0) || math.IsInf(hi.Float64, 0) || nan > 0 && (lo.Float64 >= 0 || hi.Float64 <= 0) {
		if err := b.fallback.QueryRowContext(ctx, append(args, finiteArgs...)...).Scan(&fin, &nan, &lo, &hi); err != nil {
			return err
		}
	}
	b.all += all
	b.fin += fin
	if fin == 0 {
		return nil
	}
	var q []any
	for _, extra := range [][]any{finiteArgs, finiteArgs, finiteArgs, {lo.Float64}, {hi.Float64}} {
		q = append(append(q, args...), extra...)
	}
	rows, err := b.keep.QueryContext(ctx, q...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		m := Metric{Key: b.key}
		if err := rows.Scan(&m.Step, &m.Timestamp, &m.Value); err != nil {
			return err
		}
		b.points = append(b.points, m)
	}
	return rows.Err()
}
