package store_test

import (
	"context"
	"math"
	"testing"

	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/store/storetest"
)

// TestHistoryNonFinite reads NaN, ±Inf and integral values back from a
// history unchanged.
func TestHistoryNonFinite(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.SQLStore) {
		ctx := context.Background()
		r, err := s.CreateRun(ctx, store.RunCreate{ExperimentID: "0"})
		mustNoErr(t, err)
		want := []float64{math.NaN(), math.Inf(1), math.Inf(-1), 3, -0.25}
		var ms []store.Metric
		for i, v := range want {
			ms = append(ms, store.Metric{Key: "m", Value: store.Float(v), Timestamp: int64(100 + i), Step: int64(i)})
		}
		mustNoErr(t, s.LogBatch(ctx, store.Batch{RunID: r.Info.RunID, Metrics: ms}))
		h, _, err := s.GetMetricHistory(ctx, store.HistoryRequest{RunID: r.Info.RunID, Key: "m"})
		mustNoErr(t, err)
		if len(h) != len(want) {
			t.Fatalf("history = %+v", h)
		}
		for i, m := range h {
			v := float64(m.Value)
			same := v == want[i] || math.IsNaN(v) && math.IsNaN(want[i])
			if !same || m.Step != int64(i) || m.Timestamp != int64(100+i) || m.Key != "m" {
				t.Fatalf("point %d = %+v, want value %g", i, m, want[i])
			}
		}
	})
}
