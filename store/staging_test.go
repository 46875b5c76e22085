package store_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"

	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/store/storetest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// stagedRun creates a run in a fresh SQLite store opened on dsn.
func stagedRun(t *testing.T, dsn string) (*store.SQLStore, string) {
	t.Helper()
	s, err := store.Open(context.Background(), dsn, store.Options{Logger: quiet})
	mustNoErr(t, err)
	r, err := s.CreateRun(context.Background(), store.RunCreate{ExperimentID: "0"})
	mustNoErr(t, err)
	return s, r.Info.RunID
}

func points(key string, steps ...int64) []store.Metric {
	out := make([]store.Metric, len(steps))
	for i, st := range steps {
		out[i] = store.Metric{Key: key, Value: store.Float(st) / 10, Timestamp: 1000 + st, Step: st}
	}
	return out
}

func historySteps(t *testing.T, s *store.SQLStore, run, key string) []int64 {
	t.Helper()
	ms, _, err := s.GetMetricHistory(context.Background(), store.HistoryRequest{RunID: run, Key: key})
	mustNoErr(t, err)
	var steps []int64
	for _, m := range ms {
		steps = append(steps, m.Step)
	}
	return steps
}

// TestStagedHistory checks that points wait in the staging table, that
// every read sees them, and that moving them drops exact duplicates and
// keeps the latest value per metric.
func TestStagedHistory(t *testing.T) {
	ctx := context.Background()
	s, run := stagedRun(t, storetest.SQLiteDSN(t))
	defer s.Close()
	mustNoErr(t, s.LogBatch(ctx, store.Batch{RunID: run, Metrics: points("loss", 3, 1, 2)}))
	mustNoErr(t, s.LogBatch(ctx, store.Batch{RunID: run, Metrics: points("loss", 2)})) // a retry
	if n := store.StagedPoints(t, s); n != 4 {
		t.Fatalf("%d points staged, want 4", n)
	}
	r, err := s.GetRun(ctx, run)
	mustNoErr(t, err)
	if len(r.Metrics) != 1 || r.Metrics[0].Step != 3 || r.Metrics[0].Value != 0.3 {
		t.Fatalf("latest metrics %+v, want loss at step 3 = 0.3", r.Metrics)
	}
	if n := store.StagedPoints(t, s); n != 0 {
		t.Fatalf("%d points staged after reading the run, want 0", n)
	}
	// An older point logged after the move must not replace the latest
	// one, and a retried moved point must not appear twice.
	mustNoErr(t, s.LogBatch(ctx, store.Batch{RunID: run, Metrics: append(points("loss", 0, 1), points("acc", 5)...)}))
	if got := historySteps(t, s, run, "loss"); !slices.Equal(got, []int64{0, 1, 2, 3}) {
		t.Fatalf("loss history steps %v, want [0 1 2 3]", got)
	}
	mustNoErr(t, s.LogBatch(ctx, store.Batch{RunID: run, Metrics: points("acc", 7)}))
	found, _, err := s.SearchRuns(ctx, store.RunSearch{ExperimentIDs: []string{"0"}, Search: store.Search{Filter: "metrics.acc > 0.6"}})
	mustNoErr(t, err)
	if len(found) != 1 {
		t.Fatalf("search for metrics.acc > 0.6 found %d runs, want 1", len(found))
	}
	r, err = s.GetRun(ctx, run)
	mustNoErr(t, err)
	for _, m := range r.Metrics {
		if m.Key == "loss" && m.Step != 3 {
			t.Errorf("latest loss at step %d, want 3", m.Step)
		}
	}
}

// TestStagedPointsSurviveReopen checks that points staged by one process
// are read by the next.
func TestStagedPointsSurviveReopen(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.SQLiteDSN(t)
	s, run := stagedRun(t, dsn)
	mustNoErr(t, s.LogBatch(ctx, store.Batch{RunID: run, Metrics: points("loss", 1, 2)}))
	mustNoErr(t, s.Close())
	s, err := store.Open(ctx, dsn, store.Options{Logger: quiet})
	mustNoErr(t, err)
	defer s.Close()
	if n := store.StagedPoints(t, s); n != 2 {
		t.Fatalf("%d points staged after reopening, want 2", n)
	}
	if got := historySteps(t, s, run, "loss"); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("history steps after reopening %v, want [1 2]", got)
	}
	r, err := s.GetRun(ctx, run)
	mustNoErr(t, err)
	if len(r.Metrics) != 1 || r.Metrics[0].Step != 2 {
		t.Fatalf("latest metrics after reopening %+v, want loss at step 2", r.Metrics)
	}
}

// TestStagingLimit checks that the writer moves staged points once the
// limit is reached, without a read asking for it: a slice of the oldest
// points of the run with the most.
func TestStagingLimit(t *testing.T) {
	ctx := context.Background()
	s, run := stagedRun(t, storetest.SQLiteDSN(t))
	defer s.Close()
	store.SetStagingLimit(s, 10, 4)
	mustNoErr(t, s.LogBatch(ctx, store.Batch{RunID: run, Metrics: points("loss", 1, 2, 3)}))
	if n := store.StagedPoints(t, s); n != 3 {
		t.Fatalf("%d points staged under the limit, want 3", n)
	}
	steps := make([]int64, 20)
	for i := range steps {
		steps[i] = int64(10 + i)
	}
	mustNoErr(t, s.LogBatch(ctx, store.Batch{RunID: run, Metrics: points("acc", steps...)}))
	if n := store.StagedPoints(t, s); n != 19 {
		t.Fatalf("%d points staged after reaching the limit, want 19 (the oldest 4 of 23 moved)", n)
	}
	// Every group commit moves some while the limit is reached, whatever
	// it writes.
	other, err := s.CreateRun(ctx, store.RunCreate{ExperimentID: "0"})
	mustNoErr(t, err)
	if n := store.StagedPoints(t, s); n != 15 {
		t.Fatalf("%d points staged after creating a run, want 15", n)
	}
	mustNoErr(t, s.LogBatch(ctx, store.Batch{RunID: other.Info.RunID, Metrics: points("loss", 1, 2)}))
	if n := store.StagedPoints(t, s); n != 13 {
		t.Fatalf("%d points staged after logging to a second run, want 13 (4 more of the first run moved)", n)
	}
	if got := historySteps(t, s, run, "acc"); !slices.Equal(got, steps) {
		t.Fatalf("acc history steps %v, want %v", got, steps)
	}
	if got := historySteps(t, s, run, "loss"); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Fatalf("loss history steps %v, want [1 2 3]", got)
	}
	if n := store.StagedPoints(t, s); n != 2 {
		t.Fatalf("%d points staged after reading the first run, want the second run's 2", n)
	}
	r, err := s.GetRun(ctx, run)
	mustNoErr(t, err)
	for _, m := range r.Metrics {
		if want := map[string]int64{"loss": 3, "acc": 29}[m.Key]; m.Step != want {
			t.Errorf("latest %s at step %d, want %d", m.Key, m.Step, want)
		}
	}
}
