package store_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/store/storetest"
)

func modelNames(ms []store.LoggedModel) string {
	return joined(ms, func(m store.LoggedModel) string { return m.Name })
}

func TestLoggedModels(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.SQLStore) {
		ctx := context.Background()
		exp, err := s.CreateExperiment(ctx, "models", "", nil)
		mustNoErr(t, err)
		run, err := s.CreateRun(ctx, store.RunCreate{ExperimentID: exp})
		mustNoErr(t, err)
		m, err := s.CreateLoggedModel(ctx, store.LoggedModelCreate{ExperimentID: exp, Name: "clf", ModelType: "Classifier",
			SourceRunID: run.Info.RunID, Params: []store.Param{{"depth", "3"}}, Tags: []store.Tag{{"team", "ads"}}})
		mustNoErr(t, err)
		if !strings.HasPrefix(m.ModelID, "m-") || len(m.ModelID) != 34 || m.Status != store.LoggedModelPending ||
			m.ArtifactLocation != "mlflow-artifacts:/"+exp+"/models/"+m.ModelID+"/artifacts" || m.ExperimentID != exp ||
			len(m.Params) != 1 || len(m.Tags) != 1 || m.CreationTime == 0 || m.SourceRunID != run.Info.RunID {
			t.Fatalf("created model = %+v", m)
		}
		unnamed, err := s.CreateLoggedModel(ctx, store.LoggedModelCreate{ExperimentID: exp})
		mustNoErr(t, err)
		if unnamed.Name == "" {
			t.Fatal("a model created without a name got none")
		}
		_, err = s.CreateLoggedModel(ctx, store.LoggedModelCreate{ExperimentID: "999"})
		wantCode(t, err, store.ResourceDoesNotExist)
		_, err = s.CreateLoggedModel(ctx, store.LoggedModelCreate{ExperimentID: exp, SourceRunID: "nope"})
		wantCode(t, err, store.ResourceDoesNotExist)
		_, err = s.CreateLoggedModel(ctx, store.LoggedModelCreate{ExperimentID: exp, Params: []store.Param{{"../k", "v"}}})
		wantCode(t, err, store.InvalidParameterValue)

		// Params are immutable, tags are not.
		mustNoErr(t, s.LogLoggedModelParams(ctx, m.ModelID, []store.Param{{"depth", "3"}, {"lr", "0.1"}}))
		wantCode(t, s.LogLoggedModelParams(ctx, m.ModelID, []store.Param{{"depth", "4"}}), store.InvalidParameterValue)
		mustNoErr(t, s.SetLoggedModelTags(ctx, m.ModelID, []store.Tag{{"team", "ranking"}, {"stage", "dev"}}))
		mustNoErr(t, s.DeleteLoggedModelTag(ctx, m.ModelID, "stage"))
		wantCode(t, s.DeleteLoggedModelTag(ctx, m.ModelID, "stage"), store.ResourceDoesNotExist)
		_, err = s.FinalizeLoggedModel(ctx, m.ModelID, "DONE")
		wantCode(t, err, store.InvalidParameterValue)
		m, err = s.FinalizeLoggedModel(ctx, m.ModelID, store.LoggedModelReady)
		mustNoErr(t, err)
		if m.Status != store.LoggedModelReady || len(m.Params) != 2 || m.Params[1] != (store.Param{"lr", "0.1"}) ||
			len(m.Tags) != 1 || m.Tags[0].Value != "ranking" || m.LastUpdatedTime < m.CreationTime {
			t.Fatalf("finalized model = %+v", m)
		}

		// Metrics naming a model are linked to it and still logged to the run.
		mustNoErr(t, s.LogBatch(ctx, store.Batch{RunID: run.Info.RunID, Metrics: []store.Metric{
			{Key: "acc", Value: 0.8, Timestamp: 1, Step: 0, ModelID: m.ModelID, DatasetName: "eval", DatasetDigest: "d1"},
			{Key: "acc", Value: 0.9, Timestamp: 2, Step: 1, ModelID: m.ModelID, DatasetName: "eval", DatasetDigest: "d1"},
			{Key: "acc", Value: 0.5, Timestamp: 3, Step: 1, ModelID: m.ModelID, DatasetName: "train", DatasetDigest: "d2"},
			{Key: "acc", Value: 0.7, Timestamp: 1, Step: 0, ModelID: unnamed.ModelID},
			{Key: "loss", Value: store.Float(math.NaN()), Timestamp: 1, Step: 0},
		}}))
		wantCode(t, s.LogBatch(ctx, store.Batch{RunID: run.Info.RunID, Metrics: []store.Metric{{Key: "acc", Value: 1, ModelID: "m-nope"}}}),
			store.ResourceDoesNotExist)
		m, err = s.GetLoggedModel(ctx, m.ModelID)
		mustNoErr(t, err)
		if len(m.Metrics) != 3 || m.Metrics[0].RunID != run.Info.RunID || m.Metrics[0].ModelID != m.ModelID ||
			m.Metrics[0].DatasetName != "eval" || m.Metrics[2].Value != 0.5 {
			t.Fatalf("model metrics = %+v", m.Metrics)
		}
		hist, _, err := s.GetMetricHistory(ctx, store.HistoryRequest{RunID: run.Info.RunID, Key: "acc"})
		mustNoErr(t, err)
		if len(hist) != 4 {
			t.Fatalf("run history of acc has %d points, want 4", len(hist))
		}

		// Run outputs and model inputs.
		mustNoErr(t, s.LogOutputs(ctx, run.Info.RunID, []store.ModelOutput{{ModelID: m.ModelID, Step: 5}}))
		wantCode(t, s.LogOutputs(ctx, run.Info.RunID, []store.ModelOutput{{ModelID: "m-nope"}}), store.ResourceDoesNotExist)
		mustNoErr(t, s.LogInputs(ctx, run.Info.RunID, nil, []store.ModelInput{{ModelID: unnamed.ModelID}}))
		r, err := s.GetRun(ctx, run.Info.RunID)
		mustNoErr(t, err)
		if len(r.ModelOutputs) != 1 || r.ModelOutputs[0] != (store.ModelOutput{ModelID: m.ModelID, Step: 5}) ||
			len(r.ModelInputs) != 1 || r.ModelInputs[0].ModelID != unnamed.ModelID {
			t.Fatalf("run outputs %+v, inputs %+v", r.ModelOutputs, r.ModelInputs)
		}

		search := func(q store.LoggedModelSearch) string {
			t.Helper()
			q.ExperimentIDs = []string{exp}
			got, _, err := s.SearchLoggedModels(ctx, q)
			mustNoErr(t, err)
			return modelNames(got)
		}
		// A metric compares by its latest point: clf's is 0.5 on train,
		// logged after 0.9 on eval at the same step.
		if got := search(store.LoggedModelSearch{Filter: "metrics.acc > 0.6"}); got != unnamed.Name {
			t.Fatalf("metric filter = %s", got)
		}
		if got := search(store.LoggedModelSearch{Filter: "metrics.acc > 0.6", Datasets: []store.DatasetRef{{Name: "eval", Digest: "d1"}}}); got != "clf" {
			t.Fatalf("metric filter on eval = %q", got)
		}
		if got := search(store.LoggedModelSearch{Filter: "metrics.acc > 0.6", Datasets: []store.DatasetRef{{Name: "train"}}}); got != "" {
			t.Fatalf("metric filter on train = %q", got)
		}
		if got := search(store.LoggedModelSearch{Filter: "name = 'clf' AND params.lr = '0.1' AND tags.team = 'ranking' AND status = 'LOGGED_MODEL_READY'"}); got != "clf" {
			t.Fatalf("attribute filter = %q", got)
		}
		if got := search(store.LoggedModelSearch{Filter: "source_run_id = '" + run.Info.RunID + "'"}); got != "clf" {
			t.Fatalf("source run filter = %q", got)
		}
		// Models without the metric sort last either way.
		if got := search(store.LoggedModelSearch{OrderBy: []store.LoggedModelOrder{{Field: "metrics.acc", Ascending: true, DatasetName: "eval"}}}); got != "clf,"+unnamed.Name {
			t.Fatalf("order by acc on eval = %s", got)
		}
		if got := search(store.LoggedModelSearch{OrderBy: []store.LoggedModelOrder{{Field: "metrics.acc"}}}); got != unnamed.Name+",clf" {
			t.Fatalf("order by acc descending = %s", got)
		}
		page, token, err := s.SearchLoggedModels(ctx, store.LoggedModelSearch{ExperimentIDs: []string{exp}, MaxResults: 1,
			OrderBy: []store.LoggedModelOrder{{Field: "name", Ascending: true}}})
		mustNoErr(t, err)
		next, last, err := s.SearchLoggedModels(ctx, store.LoggedModelSearch{ExperimentIDs: []string{exp}, MaxResults: 1, PageToken: token,
			OrderBy: []store.LoggedModelOrder{{Field: "name", Ascending: true}}})
		mustNoErr(t, err)
		if modelNames(page) != "clf" || modelNames(next) != unnamed.Name || token == "" || last != "" {
			t.Fatalf("pages %s | %s, tokens %q %q", modelNames(page), modelNames(next), token, last)
		}
		for _, bad := range []store.LoggedModelSearch{
			{ExperimentIDs: []string{exp}, Filter: "color = 'red'"},
			{ExperimentIDs: []string{exp}, Filter: "metrics.acc > 'high'"},
			{ExperimentIDs: []string{exp}, OrderBy: []store.LoggedModelOrder{{Field: "color"}}},
			{ExperimentIDs: []string{exp}, OrderBy: []store.LoggedModelOrder{{Field: "name", DatasetName: "eval"}}},
			{},
		} {
			_, _, err := s.SearchLoggedModels(ctx, bad)
			wantCode(t, err, store.InvalidParameterValue)
		}

		mustNoErr(t, s.DeleteLoggedModel(ctx, unnamed.ModelID))
		_, err = s.GetLoggedModel(ctx, unnamed.ModelID)
		wantCode(t, err, store.ResourceDoesNotExist)
		wantCode(t, s.DeleteLoggedModel(ctx, unnamed.ModelID), store.ResourceDoesNotExist)
		if got := search(store.LoggedModelSearch{}); got != "clf" {
			t.Fatalf("search after delete = %s", got)
		}
	})
}

func TestModelVersionFromLoggedModel(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.SQLStore) {
		ctx := context.Background()
		m, err := s.CreateLoggedModel(ctx, store.LoggedModelCreate{ExperimentID: "0", Name: "clf"})
		mustNoErr(t, err)
		_, err = s.CreateRegisteredModel(ctx, "ctr", "", nil)
		mustNoErr(t, err)
		v, err := s.CreateModelVersion(ctx, store.ModelVersionCreate{Name: "ctr", Source: "models:/" + m.ModelID})
		mustNoErr(t, err)
		if v.ModelID != m.ModelID {
			t.Fatalf("version from models:/%s has model id %q", m.ModelID, v.ModelID)
		}
		_, err = s.CreateModelVersion(ctx, store.ModelVersionCreate{Name: "ctr", Source: "models:/m-0123", ModelID: "m-0123"})
		wantCode(t, err, store.ResourceDoesNotExist)
		v, err = s.CreateModelVersion(ctx, store.ModelVersionCreate{Name: "ctr", Source: "models:/ctr/1"})
		mustNoErr(t, err)
		if v.ModelID != "" {
			t.Fatalf("version from models:/ctr/1 has model id %q", v.ModelID)
		}
		m, err = s.GetLoggedModel(ctx, m.ModelID)
		mustNoErr(t, err)
		if len(m.Registrations) != 1 || m.Registrations[0] != (store.Registration{Name: "ctr", Version: "1"}) {
			t.Fatalf("registrations = %+v", m.Registrations)
		}
	})
}
