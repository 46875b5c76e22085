package store_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/store/storetest"
)

// TestLatestMetricsCoalesced logs interleaved batches to two runs from
// many goroutines, some of which fail, and checks that each run's latest
// values equal a serial computation over the batches that succeeded:
// greatest step, then timestamp, then value, with NaN counting as 0.
func TestLatestMetricsCoalesced(t *testing.T) {
	storetest.Each(t, checkLatestMetrics)
	// Staged points moving at the end of most groups as well, a few at a
	// time.
	t.Run("sqlite-moving", func(t *testing.T) {
		s := storetest.SQLite(t)
		store.SetStagingLimit(s, 7, 3)
		checkLatestMetrics(t, s)
	})
}

// checkLatestMetrics logs concurrent batches, some of which fail, and
// checks each run's latest metrics against the successful ones.
func checkLatestMetrics(t *testing.T, s *store.SQLStore) {
	ctx := context.Background()
	var runs []string
	for range 2 {
		r, err := s.CreateRun(ctx, store.RunCreate{ExperimentID: "0"})
		mustNoErr(t, err)
		mustNoErr(t, s.LogBatch(ctx, store.Batch{RunID: r.Info.RunID, Params: []store.Param{{"p", "1"}}}))
		runs = append(runs, r.Info.RunID)
	}
	batches := latestBatches(runs)
	ok := make([]bool, len(batches))
	var wg sync.WaitGroup
	for i, b := range batches {
		wg.Go(func() {
			err := s.LogBatch(ctx, b)
			if err != nil {
				wantCode(t, err, store.InvalidParameterValue)
			}
			ok[i] = err == nil
		})
	}
	wg.Wait()
	want := map[string]map[string]store.Metric{}
	for i, b := range batches {
		if b.Params != nil {
			if ok[i] {
				t.Fatalf("batch %d changed param p but succeeded", i)
			}
			continue
		}
		if !ok[i] {
			t.Fatalf("batch %d failed", i)
		}
		if want[b.RunID] == nil {
			want[b.RunID] = map[string]store.Metric{}
		}
		for _, m := range b.Metrics {
			if old, seen := want[b.RunID][m.Key]; !seen || laterPoint(m, old) {
				want[b.RunID][m.Key] = m
			}
		}
	}
	for _, id := range runs {
		r, err := s.GetRun(ctx, id)
		mustNoErr(t, err)
		if len(r.Metrics) != len(want[id]) {
			t.Fatalf("run %s has %d latest metrics, want %d", id, len(r.Metrics), len(want[id]))
		}
		for _, got := range r.Metrics {
			w := want[id][got.Key]
			if got.Step != w.Step || got.Timestamp != w.Timestamp || fmt.Sprint(got.Value) != fmt.Sprint(w.Value) {
				t.Errorf("run %s metric %s: latest %+v, want %+v", id, got.Key, got, w)
			}
		}
	}
}

// latestBatches returns 300 batches over runs with small random steps,
// timestamps and values (1, 2, 3 or NaN), so that ties on step and
// timestamp are frequent; every 13th also changes param p, so it must
// fail, and logs a point later than all others, which must not count.
func latestBatches(runs []string) []store.Batch {
	rng := rand.New(rand.NewPCG(1, 2))
	values := []float64{1, 2, 3, math.NaN()}
	var out []store.Batch
	for i := range 300 {
		b := store.Batch{RunID: runs[i%len(runs)]}
		for range 1 + rng.IntN(6) {
			b.Metrics = append(b.Metrics, store.Metric{
				Key:       fmt.Sprint("m", rng.IntN(4)),
				Value:     store.Float(values[rng.IntN(len(values))]),
				Timestamp: rng.Int64N(3),
				Step:      rng.Int64N(4),
			})
		}
		if i%13 == 0 {
			b.Params = []store.Param{{"p", "2"}}
			b.Metrics = append(b.Metrics, store.Metric{Key: "m0", Value: 1, Step: 100})
		}
		out = append(out, b)
	}
	return out
}

// laterPoint is MLflow's latest-value order, written independently of
// the store's.
func laterPoint(a, b store.Metric) bool {
	key := func(m store.Metric) [3]float64 {
		v := float64(m.Value)
		if math.IsNaN(v) {
			v = 0
		}
		return [3]float64{float64(m.Step), float64(m.Timestamp), v}
	}
	ka, kb := key(a), key(b)
	for i := range ka {
		if ka[i] != kb[i] {
			return ka[i] > kb[i]
		}
	}
	return false
}
