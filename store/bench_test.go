package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/store/storetest"
)

// BenchmarkLogBatch measures log-batch of 500 metrics from 20 concurrent
// writers straight into the store (no HTTP), reporting points/s.
func BenchmarkLogBatch(b *testing.B) {
	for _, n := range []int{10, 500} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s := storetest.SQLite(b)
			ctx := context.Background()
			const writers = 20
			runs := make([]string, writers)
			for i := range runs {
				r, err := s.CreateRun(ctx, store.RunCreate{ExperimentID: "0"})
				if err != nil {
					b.Fatal(err)
				}
				runs[i] = r.Info.RunID
			}
			b.ResetTimer()
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					ms := make([]store.Metric, n)
					for step := w; step < b.N; step += writers {
						for k := range ms {
							ms[k] = store.Metric{Key: fmt.Sprint("m", k), Value: store.Float(step), Timestamp: int64(step), Step: int64(step)}
						}
						if err := s.LogBatch(ctx, store.Batch{RunID: runs[w], Metrics: ms}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "points/s")
		})
	}
}

// BenchmarkGetMetricHistory reads a 100,000-point metric.
func BenchmarkGetMetricHistory(b *testing.B) {
	s := storetest.SQLite(b)
	ctx := context.Background()
	r, err := s.CreateRun(ctx, store.RunCreate{ExperimentID: "0"})
	if err != nil {
		b.Fatal(err)
	}
	ms := make([]store.Metric, 0, 1000)
	for i := range 100_000 {
		ms = append(ms, store.Metric{Key: "loss", Value: store.Float(i), Timestamp: int64(i), Step: int64(i)})
		if len(ms) == cap(ms) {
			if err := s.LogBatch(ctx, store.Batch{RunID: r.Info.RunID, Metrics: ms}); err != nil {
				b.Fatal(err)
			}
			ms = ms[:0]
		}
	}
	b.ResetTimer()
	for range b.N {
		h, _, err := s.GetMetricHistory(ctx, store.HistoryRequest{RunID: r.Info.RunID, Key: "loss"})
		if err != nil || len(h) != 100_000 {
			b.Fatal(len(h), err)
		}
	}
}
