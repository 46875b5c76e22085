package store_test

import (
	"context"
	"math"
	"testing"

	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/store/storetest"
)

func TestReduceMetricHistory(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.SQLStore) {
		ctx := context.Background()
		r, err := s.CreateRun(ctx, store.RunCreate{ExperimentID: "0"})
		mustNoErr(t, err)
		id := r.Info.RunID
		// Steps 0..99 with value step%10, except a spike at 37 and a dip
		// at 62; plus a NaN and an Inf that the reduction leaves out.
		var ms []store.Metric
		for st := range 100 {
			v := float64(st % 10)
			switch st {
			case 37:
				v = 100
			case 62:
				v = -100
			}
			ms = append(ms, store.Metric{Key: "m", Value: store.Float(v), Timestamp: int64(1000 + st), Step: int64(st)})
		}
		ms = append(ms, store.Metric{Key: "m", Value: store.Float(math.NaN()), Step: 5}, store.Metric{Key: "m", Value: store.Float(math.Inf(1)), Step: 6})
		mustNoErr(t, s.LogBatch(ctx, store.Batch{RunID: id, Metrics: ms}))

		got, err := s.ReduceMetricHistory(ctx, store.ReduceRequest{RunID: id, Key: "m", Buckets: 2})
		mustNoErr(t, err)
		if got.Total != 102 || got.NonFinite != 2 || got.InRange != 100 {
			t.Fatalf("counts = %d total, %d non-finite, %d in range", got.Total, got.NonFinite, got.InRange)
		}
		// Buckets [0, 50) and [50, 100): first, last, lowest and highest
		// (the earliest of equal values: 59 in the second bucket).
		wantPoints(t, got.Points, []stepValue{{0, 0}, {37, 100}, {49, 9}, {50, 0}, {59, 9}, {62, -100}, {99, 9}})
		for _, p := range got.Points {
			if p.Timestamp != 1000+p.Step {
				t.Fatalf("point %+v has another step's timestamp", p)
			}
		}

		lo, hi := int64(60), int64(69)
		got, err = s.ReduceMetricHistory(ctx, store.ReduceRequest{RunID: id, Key: "m", Buckets: 1, MinStep: &lo, MaxStep: &hi})
		mustNoErr(t, err)
		if got.InRange != 10 || len(got.Points) != 3 || got.Points[0].Step != 60 || got.Points[1].Step != 62 || got.Points[2].Step != 69 {
			t.Fatalf("range 60..69 reduced to %+v (in range %d)", got.Points, got.InRange)
		}

		got, err = s.ReduceMetricHistory(ctx, store.ReduceRequest{RunID: id, Key: "absent", Buckets: 10})
		mustNoErr(t, err)
		if got.Total != 0 || len(got.Points) != 0 {
			t.Fatalf("absent metric reduced to %+v", got)
		}
		// Step range 4..6 holds the NaN and the Inf, counted as non-finite
		// there; the total still counts every point.
		lo, hi = 4, 6
		got, err = s.ReduceMetricHistory(ctx, store.ReduceRequest{RunID: id, Key: "m", Buckets: 3, MinStep: &lo, MaxStep: &hi})
		mustNoErr(t, err)
		if got.Total != 102 || got.NonFinite != 2 || got.InRange != 3 || len(got.Points) != 3 {
			t.Fatalf("range 4..6 reduced to %+v (total %d, in range %d, non-finite %d)", got.Points, got.Total, got.InRange, got.NonFinite)
		}

		// Steps as far apart as int64 allows: one bucket keeps the ends
		// (the least and greatest values), more keep step 0 too.
		wide := []store.Metric{{Key: "wide", Value: 1, Step: math.MinInt64}, {Key: "wide", Value: 2}, {Key: "wide", Value: 3, Step: math.MaxInt64}}
		mustNoErr(t, s.LogBatch(ctx, store.Batch{RunID: id, Metrics: wide}))
		for _, n := range []int{1, 2, 3, 5000} {
			got, err = s.ReduceMetricHistory(ctx, store.ReduceRequest{RunID: id, Key: "wide", Buckets: n})
			mustNoErr(t, err)
			kept := min(n+1, 3)
			if got.InRange != 3 || len(got.Points) != kept || got.Points[0].Step != math.MinInt64 || got.Points[kept-1].Step != math.MaxInt64 {
				t.Fatalf("steps MinInt64, 0, MaxInt64 in %d buckets reduced to %+v", n, got)
			}
		}

		_, err = s.ReduceMetricHistory(ctx, store.ReduceRequest{RunID: id, Key: "m", Buckets: 0})
		wantCode(t, err, store.InvalidParameterValue)
		_, err = s.ReduceMetricHistory(ctx, store.ReduceRequest{RunID: "nope", Key: "m", Buckets: 10})
		wantCode(t, err, store.ResourceDoesNotExist)
	})
}

// TestReduceMetricHistoryNonFinite checks the reduction's extremes and
// counts where NaN (stored as 0) or ±Inf share a bucket with finite
// values, and where a step range holds no finite value at all.
func TestReduceMetricHistoryNonFinite(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.SQLStore) {
		ctx := context.Background()
		r, err := s.CreateRun(ctx, store.RunCreate{ExperimentID: "0"})
		mustNoErr(t, err)
		id := r.Info.RunID
		nan, inf := math.NaN(), math.Inf(1)
		// Steps 0..3 and 10..19: NaN at both ends; values 1..9 (positive,
		// so NaN's stored 0 would be the least); -5..4 with a NaN in
		// between (0 is neither extreme); -Inf beside a 7.
		values := map[int64][]float64{0: {nan}, 1: {nan}, 2: {nan}, 3: {nan}, 19: {nan, -inf}}
		for st := int64(4); st < 19; st++ {
			values[st] = []float64{float64(st)}
		}
		values[7] = append(values[7], nan)
		values[12] = []float64{-5, nan}
		values[13] = []float64{4}
		values[16] = []float64{7, -inf}
		values[17] = []float64{7}
		var ms []store.Metric
		for st, vs := range values {
			for i, v := range vs {
				ms = append(ms, store.Metric{Key: "m", Value: store.Float(v), Timestamp: int64(i), Step: st})
			}
		}
		mustNoErr(t, s.LogBatch(ctx, store.Batch{RunID: id, Metrics: ms}))

		// Finite steps 4..18 in 3 buckets of 5: [4, 8], [9, 13], [14, 18].
		got, err := s.ReduceMetricHistory(ctx, store.ReduceRequest{RunID: id, Key: "m", Buckets: 3})
		mustNoErr(t, err)
		if got.Total != 24 || got.NonFinite != 9 || got.InRange != 15 {
			t.Fatalf("total/non-finite/in range = %d/%d/%d, want 24/9/15", got.Total, got.NonFinite, got.InRange)
		}
		wantPoints(t, got.Points, []stepValue{{4, 4}, {8, 8}, {9, 9}, {11, 11}, {12, -5}, {13, 4}, {14, 14}, {16, 7}, {18, 18}})

		lo, hi := int64(0), int64(3)
		got, err = s.ReduceMetricHistory(ctx, store.ReduceRequest{RunID: id, Key: "m", Buckets: 10, MinStep: &lo, MaxStep: &hi})
		mustNoErr(t, err)
		if got.Total != 24 || got.NonFinite != 4 || got.InRange != 0 || len(got.Points) != 0 {
			t.Fatalf("range 0..3 (NaN only) reduced to %+v", got)
		}
	})
}

type stepValue struct {
	step int64
	v    float64
}

// wantPoints fails t unless pts are at the steps, with the values, of want.
func wantPoints(t *testing.T, pts []store.Metric, want []stepValue) {
	t.Helper()
	if len(pts) != len(want) {
		t.Fatalf("reduced to %+v, want %v", pts, want)
	}
	for i, w := range want {
		if p := pts[i]; p.Step != w.step || float64(p.Value) != w.v {
			t.Fatalf("point %d = %+v, want step %d value %g", i, p, w.step, w.v)
		}
	}
}
