package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
)

// GetMetricHistory implements Tracking. MaxResults 0 returns every point.
func (s *SQLStore) GetMetricHistory(ctx context.Context, r HistoryRequest) ([]Metric, string, error) {
	key, err := s.runKey(ctx, r.RunID)
	if err != nil {
		return nil, "", err
	}
	if err := s.settle(ctx, key); err != nil {
		return nil, "", err
	}
	offset, err := decodePageToken(r.PageToken)
	if err != nil {
		return nil, "", err
	}
	if r.MaxResults < 0 {
		return nil, "", Errorf(InvalidParameterValue, "invalid max_results %d", r.MaxResults)
	}
	limit := r.MaxResults
	q := `SELECT step, timestamp, CASE WHEN is_nan THEN NULL ELSE value END FROM metrics
		WHERE run_key = ? AND key = ? ORDER BY step, timestamp, value`
	args := []any{key, r.Key}
	if limit > 0 || offset > 0 {
		q += ` LIMIT ? OFFSET ?`
		fetch := limit + 1
		if limit == 0 {
			fetch = math.MaxInt32
		}
		args = append(args, fetch, offset)
	}
	out := make([]Metric, 0, 1024)
	m := Metric{Key: r.Key}
	dest := []any{int64Col{&m.Step}, int64Col{&m.Timestamp}, valueCol{&m.Value}}
	err = s.each(ctx, q, args, func(rows *sql.Rows) error {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		out = append(out, m)
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	if limit == 0 {
		return out, "", nil
	}
	return trimPage(out, pageInfo{offset, limit})
}

// runKey returns the internal key of a run, or RESOURCE_DOES_NOT_EXIST.
func (s *SQLStore) runKey(ctx context.Context, id string) (int64, error) {
	var key int64
	err := s.queryRow(ctx, `SELECT run_key FROM runs WHERE run_uuid = ?`, id).Scan(&key)
	if err == sql.ErrNoRows {
		return 0, runNotFound(id)
	}
	return key, unavailable(err)
}

// Limits of get-history-bulk-interval, as in MLflow.
const (
	MaxBulkIntervalRuns    = 100
	DefaultBulkIntervalMax = 320
	MaxBulkIntervalResults = 1000
)

// GetMetricHistoryBulkInterval implements Tracking. It picks at most
// MaxResults steps spread evenly over the steps the runs logged in the
// range, always keeping the first and last, and returns every point at
// those steps, ordered by run, step and timestamp.
func (s *SQLStore) GetMetricHistoryBulkInterval(ctx context.Context, r IntervalRequest) ([]RunMetric, error) {
	if len(r.RunIDs) == 0 || len(r.RunIDs) > MaxBulkIntervalRuns {
		return nil, Errorf(InvalidParameterValue, "run_ids must name 1 to %d runs, got %d", MaxBulkIntervalRuns, len(r.RunIDs))
	}
	if r.Key == "" {
		return nil, Errorf(InvalidParameterValue, "metric_key must not be empty")
	}
	maxResults, err := checkMaxResults(r.MaxResults, DefaultBulkIntervalMax, MaxBulkIntervalResults)
	if err != nil {
		return nil, err
	}
	if r.StartStep != nil && r.EndStep != nil && *r.StartStep > *r.EndStep {
		return nil, Errorf(InvalidParameterValue, "start_step %d is after end_step %d", *r.StartStep, *r.EndStep)
	}
	keys := make([]any, len(r.RunIDs))
	runs := make([]int64, len(r.RunIDs))
	ids := make(map[int64]string, len(r.RunIDs))
	for i, id := range r.RunIDs {
		k, err := s.runKey(ctx, id)
		if err != nil {
			return nil, err
		}
		keys[i], runs[i], ids[k] = k, k, id
	}
	if err := s.settle(ctx, runs...); err != nil {
		return nil, err
	}
	where := `run_key IN (` + placeholders(len(keys)) + `) AND key = ?`
	args := append(append([]any{}, keys...), r.Key)
	if r.StartStep != nil {
		where += ` AND step >= ?`
		args = append(args, *r.StartStep)
	}
	if r.EndStep != nil {
		where += ` AND step <= ?`
		args = append(args, *r.EndStep)
	}
	var steps []int64
	err = s.each(ctx, `SELECT DISTINCT step FROM metrics WHERE `+where+` ORDER BY step`, args, func(rows *sql.Rows) error {
		var st int64
		err := rows.Scan(&st)
		steps = append(steps, st)
		return err
	})
	if err != nil || len(steps) == 0 {
		return []RunMetric{}, err
	}
	chosen := sampleSteps(steps, maxResults)
	stepArgs := make([]any, len(chosen))
	for i, st := range chosen {
		stepArgs[i] = st
	}
	var out []RunMetric
	err = s.each(ctx, `SELECT run_key, step, timestamp, value, is_nan FROM metrics WHERE `+where+
		` AND step IN (`+placeholders(len(chosen))+`) ORDER BY run_key, step, timestamp`, append(args, stepArgs...),
		func(rows *sql.Rows) error {
			var k int64
			var isNaN bool
			m := RunMetric{Metric: Metric{Key: r.Key}}
			if err := rows.Scan(&k, &m.Step, &m.Timestamp, &m.Value, &isNaN); err != nil {
				return err
			}
			if isNaN {
				m.Value = Float(math.NaN())
			}
			m.RunID = ids[k]
			out = append(out, m)
			return nil
		})
	return out, err
}

// sampleSteps picks at most n of the sorted steps, evenly spaced, always
// including the first and the last.
func sampleSteps(steps []int64, n int) []int64 {
	if len(steps) <= n {
		return steps
	}
	if n == 1 {
		return steps[:1]
	}
	out := make([]int64, 0, n)
	for i := range n {
		idx := int(math.Round(float64(i) * float64(len(steps)-1) / float64(n-1)))
		if len(out) == 0 || out[len(out)-1] != steps[idx] {
			out = append(out, steps[idx])
		}
	}
	return out
}

// int64Col and valueCol scan history columns without the reflection that
// database/sql uses for plain destinations, which is most of the Go time
// of reading a long history. valueCol reads NULL as NaN.
type (
	int64Col struct{ p *int64 }
	valueCol struct{ p *Float }
)

// Scan implements sql.Scanner.
func (c int64Col) Scan(src any) error {
	v, ok := src.(int64)
	if !ok {
		return fmt.Errorf("scan %T into an integer column", src)
	}
	*c.p = v
	return nil
}

// Scan implements sql.Scanner.
func (c valueCol) Scan(src any) error {
	switch v := src.(type) {
	case float64:
		*c.p = Float(v)
	case int64:
		*c.p = Float(v)
	case nil:
		*c.p = Float(math.NaN())
	default:
		return fmt.Errorf("scan %T into a metric value", src)
	}
	return nil
}
