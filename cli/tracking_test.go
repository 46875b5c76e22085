package cli

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mlenv/mlenv/artifact"
	"github.com/mlenv/mlenv/server"
	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/store/storetest"
)

// trackingServer starts an in-process server with one finished run that
// logged a model, and a registered model with an alias, and returns its
// URI and the run id.
func trackingServer(t *testing.T) (string, string) {
	s := storetest.SQLite(t)
	files, err := artifact.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server.NewHandler(s, files, slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	exp, err := s.CreateExperiment(ctx, "ctr", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	run, err := s.CreateRun(ctx, store.RunCreate{ExperimentID: exp, RunName: "baseline"})
	if err != nil {
		t.Fatal(err)
	}
	err = s.LogBatch(ctx, store.Batch{RunID: run.Info.RunID, Metrics: []store.Metric{{Key: "auc", Value: 0.81, Step: 4}},
		Params: []store.Param{{Key: "lr", Value: "0.01"}}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.CreateLoggedModel(ctx, store.LoggedModelCreate{ExperimentID: exp, Name: "clf", SourceRunID: run.Info.RunID})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.LogOutputs(ctx, run.Info.RunID, []store.ModelOutput{{ModelID: m.ModelID, Step: 7}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRegisteredModel(ctx, "ctr-model", "", nil); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.CreateModelVersion(ctx, store.ModelVersionCreate{Name: "ctr-model", Source: "runs:/" + run.Info.RunID + "/model", RunID: run.Info.RunID}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetRegisteredModelAlias(ctx, "ctr-model", "champion", "2"); err != nil {
		t.Fatal(err)
	}
	return srv.URL, run.Info.RunID
}

func TestRunsAndModelsCommands(t *testing.T) {
	uri, runID := trackingServer(t)
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"runs", "list", "--uri", uri, "--experiment", "ctr", "--filter", "metrics.auc > 0.8"}, []string{runID, "baseline", "auc=0.81"}},
		{[]string{"runs", "show", "--uri", uri, runID}, []string{"baseline", "lr", "0.01", "step 4", "logged models:", "m-", "step 7"}},
		{[]string{"models", "list", "--uri", uri}, []string{"ctr-model", "champion=v2"}},
		{[]string{"models", "show", "--uri", uri, "ctr-model"}, []string{"champion", "runs:/" + runID}},
		{[]string{"models", "show", "--uri", uri, "ctr-model@champion"}, []string{"version: 2"}},
	}
	for _, c := range cases {
		code, out, errOut := runCLI(t, c.args...)
		if code != exitOK {
			t.Fatalf("mlenv %v: exit %d: %s", c.args, code, errOut)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("mlenv %v: output lacks %q:\n%s", c.args, w, out)
			}
		}
	}
	code, out, _ := runCLI(t, "runs", "show", "--uri", uri, "--json", runID)
	var msg struct {
		Info struct {
			RunID string `json:"run_id"`
		} `json:"info"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &msg) != nil || msg.Info.RunID != runID {
		t.Fatalf("runs show --json: exit %d, %q", code, out)
	}
	if code, _, errOut := runCLI(t, "runs", "show", "--uri", uri, "nope"); code != exitError || !strings.Contains(errOut, "RESOURCE_DOES_NOT_EXIST") && !strings.Contains(errOut, "no run") {
		t.Fatalf("missing run: exit %d, %q", code, errOut)
	}
	if code, _, _ := runCLI(t, "runs", "list", "--uri", "localhost"); code != exitUsage {
		t.Fatalf("bad --uri: exit %d, want %d", code, exitUsage)
	}
}

func TestBenchTrackingCommand(t *testing.T) {
	uri, _ := trackingServer(t)
	for _, w := range []string{"log-batch-10", "create-run", "get-history", "search-runs"} {
		code, out, errOut := runCLI(t, "bench", "tracking", "--uri", uri, "--clients", "2", "--seconds", "0.5",
			"--workload", w, "--history-points", "1500", "--search-runs", "50", "--json")
		if code != exitOK {
			t.Fatalf("bench %s: exit %d: %s", w, code, errOut)
		}
		var res struct {
			Requests int     `json:"requests"`
			Errors   int     `json:"errors"`
			Rate     float64 `json:"rate"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil || res.Requests == 0 || res.Errors != 0 || res.Rate <= 0 {
			t.Fatalf("bench %s: %q (%v)", w, out, err)
		}
	}
	if code, _, _ := runCLI(t, "bench", "tracking", "--workload", "nope"); code != exitUsage {
		t.Fatalf("unknown workload: exit %d, want %d", code, exitUsage)
	}
}

func TestServerCommandFlags(t *testing.T) {
	if code, _, errOut := runCLI(t, "server", "--port", "70000"); code != exitUsage || !strings.Contains(errOut, "--port") {
		t.Fatalf("bad port: exit %d, %q", code, errOut)
	}
}
