package store_test

import (
	"context"
	"database/sql"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/store/storetest"
)

// TestHistoryAcrossLogMerge logs more points than one merge of the metric
// log moves, retrying some batches, and checks that every history read
// sees each point once, in order, before and after the move.
func TestHistoryAcrossLogMerge(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.SQLStore) {
		ctx := context.Background()
		r, err := s.CreateRun(ctx, store.RunCreate{ExperimentID: "0"})
		mustNoErr(t, err)
		id := r.Info.RunID
		const keys, steps = 2, 10500 // 21,000 points: one merge plus a tail in the log
		check := func(wantSteps int) {
			t.Helper()
			for _, k := range []string{"a", "b"} {
				h, _, err := s.GetMetricHistory(ctx, store.HistoryRequest{RunID: id, Key: k})
				mustNoErr(t, err)
				if len(h) != wantSteps {
					t.Fatalf("history of %s has %d points, want %d", k, len(h), wantSteps)
				}
				for i, m := range h {
					if m.Step != int64(i) || m.Value != store.Float(i) {
						t.Fatalf("point %d of %s = %+v", i, k, m)
					}
				}
			}
		}
		for lo := 0; lo < steps; lo += 500 {
			var b store.Batch
			b.RunID = id
			for st := lo; st < lo+500; st++ {
				for _, k := range []string{"a", "b"} {
					b.Metrics = append(b.Metrics, store.Metric{Key: k, Value: store.Float(st), Timestamp: 7, Step: int64(st)})
				}
			}
			mustNoErr(t, s.LogBatch(ctx, b))
			mustNoErr(t, s.LogBatch(ctx, b)) // a retry: must not duplicate
			if lo == 0 {
				check(500)
			}
		}
		check(steps)
		pts, err := s.GetMetricHistoryBulkInterval(ctx, store.IntervalRequest{RunIDs: []string{id}, Key: "a", MaxResults: 3})
		mustNoErr(t, err)
		if len(pts) != 3 || pts[0].Step != 0 || pts[1].Step != steps/2 || pts[2].Step != steps-1 {
			t.Fatalf("bulk interval = %+v", pts)
		}
		got, err := s.GetRun(ctx, id)
		mustNoErr(t, err)
		if len(got.Metrics) != keys || got.Metrics[0].Step != steps-1 {
			t.Fatalf("latest metrics = %+v", got.Metrics)
		}
	})
}

// TestUpgradeFrom0001 builds a database with migration 0001 alone and
// data in it, opens it with the store (which applies the later
// migrations in place) and reads everything back, then logs more.
func TestUpgradeFrom0001(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	body, err := os.ReadFile("migrations/sqlite/0001_init.sql")
	mustNoErr(t, err)
	db, err := sql.Open("sqlite", path)
	mustNoErr(t, err)
	for _, stmt := range strings.Split(string(body), ";\n") {
		_, err := db.Exec(stmt)
		mustNoErr(t, err)
	}
	for _, stmt := range []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`,
		`INSERT INTO schema_migrations VALUES (1, '0001_init.sql', 1)`,
		`INSERT INTO runs (run_key, run_uuid, experiment_id, name, user_id, status, start_time, artifact_uri, lifecycle_stage)
			VALUES (1, 'r1', 0, 'old', 'ana', 'RUNNING', 5, 'mlflow-artifacts:/0/r1/artifacts', 'active')`,
		`INSERT INTO metrics VALUES (1, 'loss', 0, 10, 0.5, 0), (1, 'loss', 1, 11, 0.25, 0), (1, 'loss', 2, 12, 0, 1)`,
		`INSERT INTO latest_metrics VALUES (1, 'loss', 2, 12, 0, 1)`,
		`INSERT INTO params VALUES (1, 'lr', '0.1')`,
	} {
		_, err := db.Exec(stmt)
		mustNoErr(t, err)
	}
	mustNoErr(t, db.Close())

	ctx := context.Background()
	s, err := store.Open(ctx, "sqlite:///"+path, store.Options{Logger: slog.New(slog.DiscardHandler)})
	mustNoErr(t, err)
	defer s.Close()
	run, err := s.GetRun(ctx, "r1")
	mustNoErr(t, err)
	if run.Info.RunName != "old" || len(run.Params) != 1 || len(run.Metrics) != 1 || run.Metrics[0].Step != 2 {
		t.Fatalf("upgraded run = %+v", run)
	}
	mustNoErr(t, s.LogBatch(ctx, store.Batch{RunID: "r1", Metrics: []store.Metric{{"loss", 0.125, 13, 3}}}))
	h, _, err := s.GetMetricHistory(ctx, store.HistoryRequest{RunID: "r1", Key: "loss"})
	mustNoErr(t, err)
	want := []float64{0.5, 0.25, -1, 0.125} // -1: NaN
	if len(h) != len(want) {
		t.Fatalf("history after upgrade = %+v", h)
	}
	for i, m := range h {
		if m.Step != int64(i) || (want[i] == -1) != math.IsNaN(float64(m.Value)) || (want[i] != -1 && float64(m.Value) != want[i]) {
			t.Fatalf("point %d after upgrade = %+v", i, m)
		}
	}
}
