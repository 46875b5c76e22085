package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/store/storetest"
)

// BenchmarkLogBatch measures log-batch of n metrics from 20 concurrent
// writers straight into the store (no HTTP), reporting points/s. Each
// writer logs to its own run, or with "one-run" all share one run, as the
// workers of a distributed job do, so that a group commit holds several
// requests' values of the same metrics.
func BenchmarkLogBatch(b *testing.B) {
	for _, c := range []struct {
		n      int
		oneRun bool
	}{{10, false}, {500, false}, {500, true}} {
		name := fmt.Sprint(c.n)
		if c.oneRun {
			name += "-one-run"
		}
		b.Run(name, func(b *testing.B) {
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
				if c.oneRun {
					runs[i] = runs[0]
				}
			}
			b.ResetTimer()
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					ms := make([]store.Metric, c.n)
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
			b.ReportMetric(float64(b.N*c.n)/b.Elapsed().Seconds(), "points/s")
		})
	}
}

// BenchmarkGetMetricHistory reads a 100,000-point metric.
func BenchmarkGetMetricHistory(b *testing.B) {
	s, id := loggedMetric(b, 100_000)
	for range b.N {
		h, _, err := s.GetMetricHistory(context.Background(), store.HistoryRequest{RunID: id, Key: "loss"})
		if err != nil || len(h) != 100_000 {
			b.Fatal(len(h), err)
		}
	}
}

// BenchmarkReduceMetricHistory reduces a 1,000,000-point metric to 4,000
// buckets, as the UI's first view of it does, and for comparison reads it
// whole, as the UI did before.
func BenchmarkReduceMetricHistory(b *testing.B) {
	s, id := loggedMetric(b, 1_000_000)
	ctx := context.Background()
	b.Run("reduce", func(b *testing.B) {
		for range b.N {
			red, err := s.ReduceMetricHistory(ctx, store.ReduceRequest{RunID: id, Key: "loss", Buckets: 4000})
			if err != nil || red.InRange != 1_000_000 {
				b.Fatal(err)
			}
		}
	})
	b.Run("full", func(b *testing.B) {
		for range b.N {
			h, _, err := s.GetMetricHistory(ctx, store.HistoryRequest{RunID: id, Key: "loss"})
			if err != nil || len(h) != 1_000_000 {
				b.Fatal(err)
			}
		}
	})
}

// loggedMetric returns a SQLite store with one run whose metric "loss"
// has n points, and resets b's timer.
func loggedMetric(b *testing.B, n int) (*store.SQLStore, string) {
	s := storetest.SQLite(b)
	ctx := context.Background()
	r, err := s.CreateRun(ctx, store.RunCreate{ExperimentID: "0"})
	if err != nil {
		b.Fatal(err)
	}
	ms := make([]store.Metric, 0, 1000)
	for i := range n {
		ms = append(ms, store.Metric{Key: "loss", Value: store.Float(i % 977), Timestamp: int64(i), Step: int64(i)})
		if len(ms) == cap(ms) {
			if err := s.LogBatch(ctx, store.Batch{RunID: r.Info.RunID, Metrics: ms}); err != nil {
				b.Fatal(err)
			}
			ms = ms[:0]
		}
	}
	b.ResetTimer()
	return s, r.Info.RunID
}
