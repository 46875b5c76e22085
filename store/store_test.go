package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/store/storetest"
)

func mustNoErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantCode(t *testing.T, err error, code store.Code) {
	t.Helper()
	if store.CodeOf(err) != code || err == nil {
		t.Fatalf("error = %v (code %s), want code %s", err, store.CodeOf(err), code)
	}
}

func TestExperiments(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.SQLStore) {
		ctx := context.Background()
		def, err := s.GetExperiment(ctx, "0")
		mustNoErr(t, err)
		if def.Name != "Default" || def.ArtifactLocation != "mlflow-artifacts:/0" {
			t.Fatalf("default experiment = %+v", def)
		}
		id, err := s.CreateExperiment(ctx, "exp-a", "", []store.Tag{{"team", "ranking"}})
		mustNoErr(t, err)
		_, err = s.CreateExperiment(ctx, "exp-a", "", nil)
		wantCode(t, err, store.ResourceAlreadyExists)
		e, err := s.GetExperimentByName(ctx, "exp-a")
		mustNoErr(t, err)
		if e.ID != id || len(e.Tags) != 1 || e.Tags[0] != (store.Tag{"team", "ranking"}) {
			t.Fatalf("experiment = %+v", e)
		}
		_, err = s.GetExperiment(ctx, "12345")
		wantCode(t, err, store.ResourceDoesNotExist)
		mustNoErr(t, s.RenameExperiment(ctx, id, "exp-b"))
		mustNoErr(t, s.SetExperimentTag(ctx, id, store.Tag{"k", "v"}))
		mustNoErr(t, s.DeleteExperimentTag(ctx, id, "team"))
		wantCode(t, s.DeleteExperimentTag(ctx, id, "team"), store.ResourceDoesNotExist)
		id2, err := s.CreateExperiment(ctx, "other", "s3://bucket/x", nil)
		mustNoErr(t, err)

		got, _, err := s.SearchExperiments(ctx, store.Search{Filter: "name LIKE 'exp-%'"})
		mustNoErr(t, err)
		if len(got) != 1 || got[0].Name != "exp-b" || len(got[0].Tags) != 1 {
			t.Fatalf("search by name = %+v", got)
		}
		got, _, err = s.SearchExperiments(ctx, store.Search{Filter: "tags.k = 'v'"})
		mustNoErr(t, err)
		if len(got) != 1 || got[0].ID != id {
			t.Fatalf("search by tag = %+v", got)
		}
		mustNoErr(t, s.DeleteExperiment(ctx, id2))
		got, _, err = s.SearchExperiments(ctx, store.Search{OrderBy: []string{"name ASC"}})
		mustNoErr(t, err)
		if names := expNames(got); names != "Default,exp-b" {
			t.Fatalf("active experiments = %s", names)
		}
		got, _, err = s.SearchExperiments(ctx, store.Search{ViewType: store.DeletedOnly})
		mustNoErr(t, err)
		if names := expNames(got); names != "other" {
			t.Fatalf("deleted experiments = %s", names)
		}
		mustNoErr(t, s.RestoreExperiment(ctx, id2))
		page1, tok, err := s.SearchExperiments(ctx, store.Search{MaxResults: 2, OrderBy: []string{"name"}})
		mustNoErr(t, err)
		page2, tok2, err := s.SearchExperiments(ctx, store.Search{MaxResults: 2, OrderBy: []string{"name"}, PageToken: tok})
		mustNoErr(t, err)
		if expNames(page1) != "Default,exp-b" || expNames(page2) != "other" || tok2 != "" {
			t.Fatalf("pages = %s | %s (next %q)", expNames(page1), expNames(page2), tok2)
		}
		_, _, err = s.SearchExperiments(ctx, store.Search{Filter: "name ~ 'x'"})
		wantCode(t, err, store.InvalidParameterValue)
		wantCode(t, s.DeleteExperiment(ctx, "0"), store.InvalidParameterValue)
	})
}

func expNames(es []store.Experiment) string {
	return joined(es, func(e store.Experiment) string { return e.Name })
}

// joined returns f of each element of xs, joined by commas.
func joined[T any](xs []T, f func(T) string) string {
	var out []string
	for _, x := range xs {
		out = append(out, f(x))
	}
	return strings.Join(out, ",")
}

func TestRunsLogAndSearch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.SQLStore) {
		ctx := context.Background()
		exp, err := s.CreateExperiment(ctx, "runs", "", nil)
		mustNoErr(t, err)
		var ids []string
		for i := range 5 {
			r, err := s.CreateRun(ctx, store.RunCreate{ExperimentID: exp, StartTime: int64(1000 + i), Tags: []store.Tag{{store.TagUser, "ana"}}})
			mustNoErr(t, err)
			if r.Info.Status != "RUNNING" || r.Info.UserID != "ana" || !strings.HasSuffix(r.Info.ArtifactURI, r.Info.RunID+"/artifacts") {
				t.Fatalf("new run = %+v", r.Info)
			}
			ids = append(ids, r.Info.RunID)
			lr := fmt.Sprintf("0.0%d", i%2+1)
			mustNoErr(t, s.LogBatch(ctx, store.Batch{RunID: r.Info.RunID,
				Metrics: []store.Metric{{Key: "auc", Value: store.Float(0.5 + 0.1*float64(i)), Timestamp: 10, Step: 1}, {Key: "auc", Value: 0.1, Timestamp: 5, Step: 2},
					{Key: "loss", Value: store.Float(math.NaN()), Timestamp: 1}},
				Params: []store.Param{{"lr", lr}},
				Tags:   []store.Tag{{"fold", fmt.Sprint(i)}}}))
		}
		// Params are immutable; the same value again is fine.
		wantCode(t, s.LogBatch(ctx, store.Batch{RunID: ids[0], Params: []store.Param{{"lr", "0.5"}}}), store.InvalidParameterValue)
		mustNoErr(t, s.LogBatch(ctx, store.Batch{RunID: ids[0], Params: []store.Param{{"lr", "0.01"}}}))
		wantCode(t, s.LogBatch(ctx, store.Batch{RunID: "nope"}), store.ResourceDoesNotExist)
		wantCode(t, s.LogBatch(ctx, store.Batch{RunID: ids[0], Metrics: make([]store.Metric, 1001)}), store.InvalidParameterValue)
		wantCode(t, s.LogBatch(ctx, store.Batch{RunID: ids[0], Metrics: []store.Metric{{Key: "../x"}}}), store.InvalidParameterValue)

		r, err := s.GetRun(ctx, ids[4])
		mustNoErr(t, err)
		// Latest is the point with the highest step, not the last logged.
		if len(r.Metrics) != 2 || r.Metrics[0].Key != "auc" || r.Metrics[0].Step != 2 || r.Metrics[0].Value != 0.1 {
			t.Fatalf("latest metrics = %+v", r.Metrics)
		}
		if !math.IsNaN(float64(r.Metrics[1].Value)) {
			t.Fatalf("NaN metric read back as %v", r.Metrics[1].Value)
		}

		// Make auc distinct again at a later step.
		for i, id := range ids {
			mustNoErr(t, s.LogBatch(ctx, store.Batch{RunID: id, Metrics: []store.Metric{{Key: "auc", Value: store.Float(0.6 + 0.1*float64(i)), Timestamp: 20, Step: 3}}}))
		}
		search := func(filter string, order ...string) []string {
			t.Helper()
			runs, _, err := s.SearchRuns(ctx, store.RunSearch{ExperimentIDs: []string{exp}, Search: store.Search{Filter: filter, OrderBy: order}})
			mustNoErr(t, err)
			var out []string
			for _, r := range runs {
				out = append(out, r.Info.RunID)
			}
			return out
		}
		got := search("metrics.auc > 0.75 and params.lr = '0.01'", "metrics.auc DESC")
		if strings.Join(got, ",") != ids[4]+","+ids[2] {
			t.Fatalf("filtered search = %v, want [%s %s]", got, ids[4], ids[2])
		}
		if got := search("tags.fold IN ('1', '3')", "attributes.start_time ASC"); strings.Join(got, ",") != ids[1]+","+ids[3] {
			t.Fatalf("IN search = %v", got)
		}
		if got := search("attributes.run_id = '" + ids[0] + "'"); len(got) != 1 {
			t.Fatalf("run_id search = %v", got)
		}
		if got := search("params.lr LIKE '0.0%'"); len(got) != 5 {
			t.Fatalf("LIKE search = %v", got)
		}
		if got := search(""); got[0] != ids[4] {
			t.Fatalf("default order must be newest first, got %v", got)
		}
		_, _, err = s.SearchRuns(ctx, store.RunSearch{ExperimentIDs: []string{exp}, Search: store.Search{Filter: "metrics.auc > 'x'"}})
		wantCode(t, err, store.InvalidParameterValue)

		page, tok, err := s.SearchRuns(ctx, store.RunSearch{ExperimentIDs: []string{exp}, Search: store.Search{MaxResults: 3}})
		mustNoErr(t, err)
		rest, tok2, err := s.SearchRuns(ctx, store.RunSearch{ExperimentIDs: []string{exp}, Search: store.Search{MaxResults: 3, PageToken: tok}})
		mustNoErr(t, err)
		if len(page) != 3 || len(rest) != 2 || tok == "" || tok2 != "" {
			t.Fatalf("pagination: %d then %d runs, tokens %q %q", len(page), len(rest), tok, tok2)
		}

		mustNoErr(t, s.DeleteRun(ctx, ids[0]))
		if got := search(""); len(got) != 4 {
			t.Fatalf("deleted run still listed: %v", got)
		}
		wantCode(t, s.LogBatch(ctx, store.Batch{RunID: ids[0], Tags: []store.Tag{{"a", "b"}}}), store.InvalidParameterValue)
		mustNoErr(t, s.RestoreRun(ctx, ids[0]))
		end := int64(99)
		info, err := s.UpdateRun(ctx, store.RunUpdate{RunID: ids[0], Status: "FINISHED", EndTime: &end, RunName: "renamed"})
		mustNoErr(t, err)
		if info.Status != "FINISHED" || *info.EndTime != 99 || info.RunName != "renamed" {
			t.Fatalf("updated run = %+v", info)
		}
		_, err = s.UpdateRun(ctx, store.RunUpdate{RunID: ids[0], Status: "DONE"})
		wantCode(t, err, store.InvalidParameterValue)
		mustNoErr(t, s.DeleteTag(ctx, ids[0], "fold"))
		wantCode(t, s.DeleteTag(ctx, ids[0], "fold"), store.ResourceDoesNotExist)

		mustNoErr(t, s.LogInputs(ctx, ids[1], []store.DatasetInput{{Tags: []store.Tag{{"mlflow.data.context", "training"}},
			Dataset: store.Dataset{Name: "clicks", Digest: "abc", SourceType: "local", Source: "{}"}}}, nil))
		r, err = s.GetRun(ctx, ids[1])
		mustNoErr(t, err)
		if len(r.Inputs) != 1 || r.Inputs[0].Dataset.Name != "clicks" || r.Inputs[0].Tags[0].Value != "training" {
			t.Fatalf("inputs = %+v", r.Inputs)
		}
		if got := search("datasets.context = 'training'"); len(got) != 1 || got[0] != ids[1] {
			t.Fatalf("dataset search = %v", got)
		}
	})
}

func TestMetricHistory(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.SQLStore) {
		ctx := context.Background()
		r, err := s.CreateRun(ctx, store.RunCreate{ExperimentID: "0"})
		mustNoErr(t, err)
		r2, err := s.CreateRun(ctx, store.RunCreate{ExperimentID: "0"})
		mustNoErr(t, err)
		var ms []store.Metric
		for i := range 1000 {
			ms = append(ms, store.Metric{Key: "loss", Value: store.Float(1 / float64(i+1)), Timestamp: int64(i), Step: int64(i)})
		}
		mustNoErr(t, s.LogBatch(ctx, store.Batch{RunID: r.Info.RunID, Metrics: ms}))
		mustNoErr(t, s.LogBatch(ctx, store.Batch{RunID: r.Info.RunID, Metrics: ms[:10]})) // a retried request
		mustNoErr(t, s.LogBatch(ctx, store.Batch{RunID: r2.Info.RunID, Metrics: ms[:50]}))
		all, tok, err := s.GetMetricHistory(ctx, store.HistoryRequest{RunID: r.Info.RunID, Key: "loss"})
		mustNoErr(t, err)
		if len(all) != 1000 || tok != "" || all[999].Step != 999 {
			t.Fatalf("history: %d points, token %q", len(all), tok)
		}
		p1, tok, err := s.GetMetricHistory(ctx, store.HistoryRequest{RunID: r.Info.RunID, Key: "loss", MaxResults: 600})
		mustNoErr(t, err)
		p2, tok2, err := s.GetMetricHistory(ctx, store.HistoryRequest{RunID: r.Info.RunID, Key: "loss", MaxResults: 600, PageToken: tok})
		mustNoErr(t, err)
		if len(p1) != 600 || len(p2) != 400 || tok2 != "" || p2[0].Step != 600 {
			t.Fatalf("history pages %d + %d", len(p1), len(p2))
		}
		_, _, err = s.GetMetricHistory(ctx, store.HistoryRequest{RunID: "missing", Key: "loss"})
		wantCode(t, err, store.ResourceDoesNotExist)

		end := int64(99)
		pts, err := s.GetMetricHistoryBulkInterval(ctx, store.IntervalRequest{RunIDs: []string{r.Info.RunID, r2.Info.RunID}, Key: "loss", EndStep: &end, MaxResults: 10})
		mustNoErr(t, err)
		steps := map[string][]int64{}
		for _, p := range pts {
			steps[p.RunID] = append(steps[p.RunID], p.Step)
		}
		a, b := steps[r.Info.RunID], steps[r2.Info.RunID]
		if len(a) != 10 || a[0] != 0 || a[9] != 99 || len(b) != 5 {
			t.Fatalf("bulk interval steps: %v / %v", a, b)
		}
	})
}

func TestRegistry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.SQLStore) {
		ctx := context.Background()
		_, err := s.CreateRegisteredModel(ctx, "ctr", "click model", []store.Tag{{"owner", "ads"}})
		mustNoErr(t, err)
		_, err = s.CreateRegisteredModel(ctx, "ctr", "", nil)
		wantCode(t, err, store.ResourceAlreadyExists)
		for i := range 3 {
			v, err := s.CreateModelVersion(ctx, store.ModelVersionCreate{Name: "ctr", Source: fmt.Sprintf("runs:/r%d/model", i), RunID: fmt.Sprint("r", i)})
			mustNoErr(t, err)
			if v.Version != fmt.Sprint(i+1) || v.CurrentStage != "None" || v.Status != "READY" {
				t.Fatalf("version = %+v", v)
			}
		}
		mustNoErr(t, s.SetRegisteredModelAlias(ctx, "ctr", "champion", "2"))
		wantCode(t, s.SetRegisteredModelAlias(ctx, "ctr", "champion", "9"), store.ResourceDoesNotExist)
		v, err := s.GetModelVersionByAlias(ctx, "ctr", "champion")
		mustNoErr(t, err)
		if v.Version != "2" || len(v.Aliases) != 1 {
			t.Fatalf("by alias = %+v", v)
		}
		_, err = s.TransitionModelVersionStage(ctx, "ctr", "1", "production", false)
		mustNoErr(t, err)
		_, err = s.TransitionModelVersionStage(ctx, "ctr", "3", "Production", true)
		mustNoErr(t, err)
		old, err := s.GetModelVersion(ctx, "ctr", "1")
		mustNoErr(t, err)
		if old.CurrentStage != "Archived" {
			t.Fatalf("version 1 stage = %s, want Archived", old.CurrentStage)
		}
		latest, err := s.GetLatestVersions(ctx, "ctr", []string{"Production", "None"})
		mustNoErr(t, err)
		if len(latest) != 2 || latest[0].Version != "3" || latest[1].Version != "2" {
			t.Fatalf("latest = %+v", latest)
		}
		m, err := s.RenameRegisteredModel(ctx, "ctr", "ctr2")
		mustNoErr(t, err)
		if len(m.Aliases) != 1 || len(m.Tags) != 1 || len(m.LatestVersions) != 3 {
			t.Fatalf("renamed model = %+v", m)
		}
		vs, _, err := s.SearchModelVersions(ctx, store.Search{Filter: "name = 'ctr2' and run_id = 'r1'"})
		mustNoErr(t, err)
		if len(vs) != 1 || vs[0].Version != "2" {
			t.Fatalf("version search = %+v", vs)
		}
		ms, _, err := s.SearchRegisteredModels(ctx, store.Search{Filter: "name LIKE 'ctr%'"})
		mustNoErr(t, err)
		if len(ms) != 1 {
			t.Fatalf("model search = %+v", ms)
		}
		mustNoErr(t, s.DeleteModelVersion(ctx, "ctr2", "2"))
		_, err = s.GetModelVersionByAlias(ctx, "ctr2", "champion")
		wantCode(t, err, store.ResourceDoesNotExist)
		mustNoErr(t, s.DeleteRegisteredModel(ctx, "ctr2"))
		_, err = s.GetRegisteredModel(ctx, "ctr2")
		wantCode(t, err, store.ResourceDoesNotExist)
	})
}

// TestGroupCommit checks that concurrent writes each get their own
// outcome: one failing write in a group does not fail the others.
func TestGroupCommit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.SQLStore) {
		ctx := context.Background()
		r, err := s.CreateRun(ctx, store.RunCreate{ExperimentID: "0"})
		mustNoErr(t, err)
		mustNoErr(t, s.LogBatch(ctx, store.Batch{RunID: r.Info.RunID, Params: []store.Param{{"p", "1"}}}))
		errs := make(chan error, 200)
		for i := range 200 {
			go func() {
				b := store.Batch{RunID: r.Info.RunID, Metrics: []store.Metric{{Key: "m", Value: store.Float(i), Step: int64(i)}}}
				if i%10 == 0 {
					b.Params = []store.Param{{"p", "2"}} // conflicts: must fail alone
				}
				errs <- s.LogBatch(ctx, b)
			}()
		}
		failed := 0
		for range 200 {
			if err := <-errs; err != nil {
				wantCode(t, err, store.InvalidParameterValue)
				failed++
			}
		}
		hist, _, err := s.GetMetricHistory(ctx, store.HistoryRequest{RunID: r.Info.RunID, Key: "m"})
		mustNoErr(t, err)
		if failed != 20 || len(hist) != 180 {
			t.Fatalf("%d writes failed and %d points stored, want 20 and 180", failed, len(hist))
		}
	})
}

func TestMigrationsAreIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	for range 2 {
		s, err := store.Open(context.Background(), "sqlite:///"+path, store.Options{Logger: slog.New(slog.DiscardHandler)})
		mustNoErr(t, err)
		mustNoErr(t, s.Close())
		db, err := sql.Open("sqlite", path)
		mustNoErr(t, err)
		var n int
		mustNoErr(t, db.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n))
		db.Close()
		files, err := os.ReadDir("migrations/sqlite")
		mustNoErr(t, err)
		if n != len(files) {
			t.Fatalf("schema_migrations has %d rows, want one per migration file, %d", n, len(files))
		}
	}
}
