package store_test

import (
	"context"
	"database/sql"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/store/storetest"
)

// TestUpgradeFrom0001 fills a database at schema 0001, opens it with the
// current code and checks that the upgrade kept every record and that
// the new tables work.
func TestUpgradeFrom0001(t *testing.T) {
	opts := store.Options{Logger: slog.New(slog.DiscardHandler)}
	for name, dsn := range storetest.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			old, err := store.OpenAt(ctx, dsn, opts, 1)
			mustNoErr(t, err)
			exp, err := old.CreateExperiment(ctx, "ctr", "", []store.Tag{{"team", "ads"}})
			mustNoErr(t, err)
			run, err := old.CreateRun(ctx, store.RunCreate{ExperimentID: exp, RunName: "r1", StartTime: 1000})
			mustNoErr(t, err)
			mustNoErr(t, old.LogBatch(ctx, store.Batch{RunID: run.Info.RunID, Params: []store.Param{{"lr", "0.1"}},
				Tags: []store.Tag{{"fold", "1"}}, Metrics: []store.Metric{{Key: "auc", Value: 0.7, Timestamp: 5, Step: 1},
					{Key: "auc", Value: 0.8, Timestamp: 6, Step: 2}}}))
			mustNoErr(t, old.LogInputs(ctx, run.Info.RunID, []store.DatasetInput{{Tags: []store.Tag{},
				Dataset: store.Dataset{Name: "clicks", Digest: "abc", SourceType: "local", Source: "{}"}}}, nil))
			// The registry rows as code of schema 0001 wrote them.
			db := rawDB(t, dsn)
			for _, q := range []string{
				`INSERT INTO registered_models (name, creation_time, last_updated_time, description, user_id) VALUES ('ctr', 1, 1, 'click model', '')`,
				`INSERT INTO model_versions (name, version, creation_time, last_updated_time, description, user_id, current_stage, source,
					run_id, run_link, status, status_message) VALUES ('ctr', 1, 1, 1, '', '', 'None', 'runs:/` + run.Info.RunID + `/model',
					'` + run.Info.RunID + `', '', 'READY', '')`,
				`INSERT INTO registered_model_aliases (name, alias, version) VALUES ('ctr', 'champion', 1)`,
			} {
				if _, err := db.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			// At 0001 there are no logged models yet.
			if _, err := old.CreateLoggedModel(ctx, store.LoggedModelCreate{ExperimentID: exp}); err == nil {
				t.Fatal("a store at schema 0001 created a logged model")
			}
			mustNoErr(t, old.Close())

			s, err := store.Open(ctx, dsn, opts)
			mustNoErr(t, err)
			defer s.Close()
			after, err := s.GetRun(ctx, run.Info.RunID)
			mustNoErr(t, err)
			if !reflect.DeepEqual(after.Info, run.Info) || len(after.Metrics) != 1 || after.Metrics[0].Value != 0.8 ||
				len(after.Params) != 1 || len(after.Tags) != 2 || len(after.Inputs) != 1 || after.Inputs[0].Dataset.Digest != "abc" {
				t.Fatalf("run after the upgrade = %+v, created as %+v", after, run.Info)
			}
			hist, _, err := s.GetMetricHistory(ctx, store.HistoryRequest{RunID: run.Info.RunID, Key: "auc"})
			mustNoErr(t, err)
			e, err := s.GetExperiment(ctx, exp)
			mustNoErr(t, err)
			v, err := s.GetModelVersionByAlias(ctx, "ctr", "champion")
			mustNoErr(t, err)
			if len(hist) != 2 || hist[1].Value != 0.8 || len(e.Tags) != 1 || v.Version != "1" || v.RunID != run.Info.RunID || v.ModelID != "" ||
				v.Source != "runs:/"+run.Info.RunID+"/model" {
				t.Fatalf("after the upgrade: history %+v, experiment %+v, version %+v", hist, e, v)
			}

			m, err := s.CreateLoggedModel(ctx, store.LoggedModelCreate{ExperimentID: exp, SourceRunID: run.Info.RunID})
			mustNoErr(t, err)
			v, err = s.CreateModelVersion(ctx, store.ModelVersionCreate{Name: "ctr", Source: "models:/" + m.ModelID})
			mustNoErr(t, err)
			if v.Version != "2" || v.ModelID != m.ModelID {
				t.Fatalf("version from a logged model = %+v", v)
			}
		})
	}
}

// rawDB opens the database of a store DSN directly, closed when the test
// ends.
func rawDB(t *testing.T, dsn string) *sql.DB {
	driver, name := "pgx", dsn
	if path, ok := strings.CutPrefix(dsn, "sqlite:///"); ok {
		driver, name = "sqlite", path
	}
	db, err := sql.Open(driver, name)
	mustNoErr(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}
