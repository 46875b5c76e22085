package ui

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/store/storetest"
)

// TestHistoryReducesLargeSeries serves a series above LargeSeries from a
// real store (SQLite, and PostgreSQL when the environment names one),
// where the first view reduces it in SQL before LTTB.
func TestHistoryReducesLargeSeries(t *testing.T) {
	storetest.Each(t, testHistoryReducesLargeSeries)
}

func testHistoryReducesLargeSeries(t *testing.T, s *store.SQLStore) {
	ctx := context.Background()
	r, err := s.CreateRun(ctx, store.RunCreate{ExperimentID: "0"})
	if err != nil {
		t.Fatal(err)
	}
	const n = LargeSeries + 1000
	ms := make([]store.Metric, 0, 1000)
	for i := range n {
		v := float64(i % 97)
		switch i {
		case 54_321:
			v = 1e6 // a spike the reduction must keep
		case 777:
			v = math.NaN()
		}
		ms = append(ms, store.Metric{Key: "loss", Value: store.Float(v), Timestamp: int64(i), Step: int64(i)})
		if len(ms) == cap(ms) {
			if err := s.LogBatch(ctx, store.Batch{RunID: r.Info.RunID, Metrics: ms}); err != nil {
				t.Fatal(err)
			}
			ms = ms[:0]
		}
	}
	h := Handler(s, nil)
	got := history(t, h, "run_id="+r.Info.RunID+"&metric_key=loss&max_points=400")
	if got.Total != n || got.NonFinite != 1 || got.InRange != n-1 {
		t.Errorf("total/non_finite/in_range = %d/%d/%d, want %d/1/%d", got.Total, got.NonFinite, got.InRange, n, n-1)
	}
	if len(got.X) != 400 || got.X[0] != 0 || got.X[399] != n-1 {
		t.Fatalf("got %d points from %g to %g, want 400 from 0 to %d", len(got.X), got.X[0], got.X[len(got.X)-1], n-1)
	}
	if i := slices.Index(got.Y, 1e6); i < 0 || got.X[i] != 54_321 {
		t.Errorf("the spike at step 54321 is missing")
	}
	got = history(t, h, "run_id="+r.Info.RunID+"&metric_key=loss&min_x=999.5&max_x=1999")
	if got.InRange != 1000 || got.X[0] != 1000 || got.X[len(got.X)-1] != 1999 {
		t.Errorf("range 1000..1999: in_range %d, points from %g to %g", got.InRange, got.X[0], got.X[len(got.X)-1])
	}
}
