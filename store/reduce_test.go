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
		want := []struct {
			step int64
			v    float64
		}{{0, 0}, {37, 100}, {49, 9}, {50, 0}, {59, 9}, {62, -100}, {99, 9}}
		if len(got.Points) != len(want) {
			t.Fatalf("reduced to %+v, want steps %v", got.Points, want)
		}
		for i, w := range want {
			p := got.Points[i]
			if p.Step != w.step || float64(p.Value) != w.v || p.Timestamp != 1000+w.step {
				t.Fatalf("point %d = %+v, want step %d value %g", i, p, w.step, w.v)
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
		_, err = s.ReduceMetricHistory(ctx, store.ReduceRequest{RunID: id, Key: "m", Buckets: 0})
		wantCode(t, err, store.InvalidParameterValue)
		_, err = s.ReduceMetricHistory(ctx, store.ReduceRequest{RunID: "nope", Key: "m", Buckets: 10})
		wantCode(t, err, store.ResourceDoesNotExist)
	})
}
