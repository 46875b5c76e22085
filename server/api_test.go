package server

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/mlenv/mlenv/artifact"
	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/store/storetest"
)

// api is a test client that sends raw JSON, as the MLflow Python client
// does, and decodes responses into generic maps.
type api struct {
	t   *testing.T
	url string
}

func newAPI(t *testing.T, s store.Store) *api {
	files, err := artifact.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHandler(s, files, slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)
	return &api{t: t, url: srv.URL}
}

// call sends method path with body (JSON for POST/PATCH/DELETE, a query
// string for GET) and returns the status and decoded response.
func (a *api) call(method, path, body string) (int, map[string]any) {
	a.t.Helper()
	u := a.url + path
	var rd io.Reader
	if method == "GET" && body != "" {
		u += "?" + body
	} else if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, u, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		a.t.Fatalf("%s %s: status %d, body %q is not a JSON object", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

// put uploads body to the artifact proxy path (under the server) and
// returns the status.
func (a *api) put(path, body string) int {
	a.t.Helper()
	req, _ := http.NewRequest("PUT", a.url+path, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// download gets path (under the server) and returns the status and body.
func (a *api) download(path string) (int, string) {
	a.t.Helper()
	resp, err := http.Get(a.url + path)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// ok calls and fails the test unless the status is 200.
func (a *api) ok(method, path, body string) map[string]any {
	a.t.Helper()
	status, out := a.call(method, path, body)
	if status != 200 {
		a.t.Fatalf("%s %s %s: status %d: %v", method, path, body, status, out)
	}
	return out
}

// fails calls and checks the MLflow error code and HTTP status; it
// returns the error message.
func (a *api) fails(method, path, body, code string, status int) string {
	a.t.Helper()
	got, out := a.call(method, path, body)
	msg, _ := out["message"].(string)
	if got != status || out["error_code"] != code || msg == "" {
		a.t.Fatalf("%s %s %s: status %d %v, want %d %s", method, path, body, got, out, status, code)
	}
	return msg
}

// get walks a decoded response along keys and list indexes.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

const p = "/api/2.0/mlflow/"

func TestTrackingAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.SQLStore) {
		a := newAPI(t, s)
		// mlflow.set_experiment: get-by-name (404), then create.
		a.fails("GET", p+"experiments/get-by-name", "experiment_name=ctr", "RESOURCE_DOES_NOT_EXIST", 404)
		exp := a.ok("POST", p+"experiments/create", `{"name": "ctr", "tags": [{"key": "team", "value": "ads"}]}`)["experiment_id"].(string)
		a.fails("POST", p+"experiments/create", `{"name": "ctr"}`, "RESOURCE_ALREADY_EXISTS", 400)
		got := a.ok("GET", p+"experiments/get-by-name", "experiment_name=ctr")
		if get(got, "experiment", "experiment_id") != exp || get(got, "experiment", "artifact_location") != "mlflow-artifacts:/"+exp ||
			get(got, "experiment", "tags", 0, "value") != "ads" || get(got, "experiment", "lifecycle_stage") != "active" {
			t.Fatalf("get-by-name = %v", got)
		}
		a.ok("GET", "/ajax-api/2.0/mlflow/experiments/get", "experiment_id="+exp)
		found := a.ok("POST", p+"experiments/search", `{"max_results": 1000, "filter": "name = 'ctr'", "view_type": "ACTIVE_ONLY"}`)
		if n := len(get(found, "experiments").([]any)); n != 1 {
			t.Fatalf("search found %d experiments", n)
		}

		// mlflow.start_run, as the 2.x client sends it.
		run := a.ok("POST", p+"runs/create", `{"experiment_id": "`+exp+`", "user_id": "ana", "start_time": 1700000000000,
			"tags": [{"key": "mlflow.user", "value": "ana"}, {"key": "mlflow.source.name", "value": "train.py"},
			{"key": "mlflow.source.type", "value": "LOCAL"}, {"key": "mlflow.runName", "value": "parent"}], "run_name": "parent"}`)
		parent := get(run, "run", "info", "run_id").(string)
		if get(run, "run", "info", "run_uuid") != parent || get(run, "run", "info", "status") != "RUNNING" ||
			get(run, "run", "info", "run_name") != "parent" || get(run, "run", "info", "start_time") != 1700000000000.0 ||
			get(run, "run", "info", "artifact_uri") != "mlflow-artifacts:/"+exp+"/"+parent+"/artifacts" {
			t.Fatalf("runs/create = %v", run)
		}
		child := get(a.ok("POST", p+"runs/create", `{"experiment_id": "`+exp+`", "start_time": 1700000000001,
			"tags": [{"key": "mlflow.parentRunId", "value": "`+parent+`"}], "run_name": "child"}`), "run", "info", "run_id").(string)

		a.ok("POST", p+"runs/log-parameter", `{"run_id": "`+parent+`", "run_uuid": "`+parent+`", "key": "lr", "value": "0.01"}`)
		a.fails("POST", p+"runs/log-parameter", `{"run_id": "`+parent+`", "key": "lr", "value": "0.1"}`, "INVALID_PARAMETER_VALUE", 400)
		a.ok("POST", p+"runs/log-metric", `{"run_id": "`+parent+`", "run_uuid": "`+parent+`", "key": "auc", "value": 0.91, "timestamp": 1700000000500, "step": 3}`)
		a.ok("POST", p+"runs/log-metric", `{"run_id": "`+parent+`", "key": "loss", "value": "NaN", "timestamp": "1700000000500", "step": "0"}`)
		a.ok("POST", p+"runs/set-tag", `{"run_id": "`+parent+`", "key": "stage", "value": "dev"}`)
		a.ok("POST", p+"runs/log-batch", `{"run_id": "`+child+`", "metrics": [{"key": "auc", "value": 0.7, "timestamp": 1, "step": 0},
			{"key": "auc", "value": 0.75, "timestamp": 2, "step": 1}], "params": [{"key": "lr", "value": "0.1"}], "tags": [{"key": "fold", "value": "1"}]}`)
		a.ok("POST", p+"runs/log-inputs", `{"run_id": "`+parent+`", "datasets": [{"tags": [{"key": "mlflow.data.context", "value": "training"}],
			"dataset": {"name": "clicks", "digest": "d41d8cd9", "source_type": "local", "source": "{\"uri\": \"/data\"}", "schema": "{}"}}]}`)

		run = a.ok("GET", p+"runs/get", "run_id="+parent)
		if get(run, "run", "data", "params", 0, "value") != "0.01" || get(run, "run", "inputs", "dataset_inputs", 0, "dataset", "name") != "clicks" {
			t.Fatalf("runs/get = %v", run)
		}
		metrics := get(run, "run", "data", "metrics").([]any)
		if len(metrics) != 2 || get(metrics, 0, "value") != 0.91 || get(metrics, 0, "step") != 3.0 || get(metrics, 1, "value") != "NaN" {
			t.Fatalf("latest metrics = %v", metrics)
		}

		// mlflow.search_runs with the filter from the issue.
		res := a.ok("POST", p+"runs/search", `{"experiment_ids": ["`+exp+`"], "filter": "metrics.auc > 0.8 and params.lr = '0.01'",
			"run_view_type": "ACTIVE_ONLY", "max_results": 100, "order_by": ["metrics.auc DESC"]}`)
		if runs := get(res, "runs").([]any); len(runs) != 1 || get(runs, 0, "info", "run_id") != parent {
			t.Fatalf("runs/search = %v", res)
		}
		res = a.ok("POST", p+"runs/search", `{"experiment_ids": ["`+exp+`"], "filter": "tags.mlflow.parentRunId = '`+parent+`'"}`)
		if runs := get(res, "runs").([]any); len(runs) != 1 || get(runs, 0, "info", "run_id") != child {
			t.Fatalf("nested run search = %v", res)
		}
		a.fails("POST", p+"runs/search", `{"experiment_ids": ["`+exp+`"], "filter": "metrics.auc >> 1"}`, "INVALID_PARAMETER_VALUE", 400)

		hist := a.ok("GET", p+"metrics/get-history", "run_id="+child+"&metric_key=auc")
		if ms := get(hist, "metrics").([]any); len(ms) != 2 || get(ms, 1, "value") != 0.75 {
			t.Fatalf("get-history = %v", hist)
		}
		bulk := a.ok("GET", p+"metrics/get-history-bulk-interval", "run_ids="+parent+"&run_ids="+child+"&metric_key=auc&max_results=10")
		if ms := get(bulk, "metrics").([]any); len(ms) != 3 || get(ms, 0, "run_id") == nil {
			t.Fatalf("bulk interval = %v", bulk)
		}

		end := a.ok("POST", p+"runs/update", `{"run_id": "`+child+`", "run_uuid": "`+child+`", "status": "FINISHED", "end_time": 1700000009000}`)
		if get(end, "run_info", "status") != "FINISHED" || get(end, "run_info", "end_time") != 1700000009000.0 {
			t.Fatalf("runs/update = %v", end)
		}
		a.ok("POST", p+"runs/delete", `{"run_id": "`+child+`"}`)
		res = a.ok("POST", p+"runs/search", `{"experiment_ids": ["`+exp+`"], "run_view_type": "DELETED_ONLY"}`)
		if runs := get(res, "runs").([]any); len(runs) != 1 {
			t.Fatalf("deleted runs = %v", res)
		}
		a.ok("POST", p+"runs/restore", `{"run_id": "`+child+`"}`)
		a.ok("POST", p+"runs/delete-tag", `{"run_id": "`+parent+`", "key": "stage"}`)
		a.fails("POST", p+"runs/delete-tag", `{"run_id": "`+parent+`", "key": "stage"}`, "RESOURCE_DOES_NOT_EXIST", 404)
		a.fails("GET", p+"runs/get", "run_id=0123456789abcdef0123456789abcdef", "RESOURCE_DOES_NOT_EXIST", 404)
		a.fails("POST", p+"runs/log-metric", `{"run_id": "`+parent+`", "key": "x", "value": 1, "timestamp": "soon"}`, "INVALID_PARAMETER_VALUE", 400)
		a.fails("POST", p+"runs/create", `{"experiment_id": "999"}`, "RESOURCE_DOES_NOT_EXIST", 404)
		a.fails("POST", p+"runs/no-such-endpoint", `{}`, "ENDPOINT_NOT_FOUND", 404)

		a.ok("POST", p+"experiments/update", `{"experiment_id": "`+exp+`", "new_name": "ctr-v2"}`)
		a.ok("POST", p+"experiments/set-experiment-tag", `{"experiment_id": "`+exp+`", "key": "k", "value": "v"}`)
		a.ok("POST", p+"experiments/delete", `{"experiment_id": "`+exp+`"}`)
		a.fails("POST", p+"runs/create", `{"experiment_id": "`+exp+`"}`, "INVALID_PARAMETER_VALUE", 400)
		a.ok("POST", p+"experiments/restore", `{"experiment_id": "`+exp+`"}`)
	})
}

func TestLogBatchLimits(t *testing.T) {
	a := newAPI(t, storetest.SQLite(t))
	run := get(a.ok("POST", p+"runs/create", `{"experiment_id": "0"}`), "run", "info", "run_id").(string)
	var b strings.Builder
	b.WriteString(`{"run_id": "` + run + `", "metrics": [`)
	for i := range 1001 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"key": "m", "value": 1, "timestamp": 1, "step": ` + strings.Repeat("1", 1) + `}`)
	}
	b.WriteString("]}")
	a.fails("POST", p+"runs/log-batch", b.String(), "INVALID_PARAMETER_VALUE", 400)
	big := `{"run_id": "` + run + `", "tags": [{"key": "t", "value": "` + strings.Repeat("x", 1_000_001) + `"}]}`
	a.fails("POST", p+"runs/log-batch", big, "INVALID_PARAMETER_VALUE", 400)
	a.fails("POST", p+"runs/log-parameter", `{"run_id": "`+run+`", "key": "p", "value": "`+strings.Repeat("v", 6001)+`"}`, "INVALID_PARAMETER_VALUE", 400)
	a.fails("POST", p+"runs/log-batch", `{"metrics": []}`, "INVALID_PARAMETER_VALUE", 400)
}

func TestArtifactsAndRegistry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.SQLStore) {
		a := newAPI(t, s)
		run := get(a.ok("POST", p+"runs/create", `{"experiment_id": "0"}`), "run", "info", "run_id").(string)
		base := "/api/2.0/mlflow-artifacts/artifacts/0/" + run + "/artifacts/"
		if a.put(base+"model/MLmodel", "flavors: {}") != 200 || a.put(base+"model/model.safetensors", "0123456789") != 200 {
			t.Fatal("artifact upload failed")
		}
		if code := a.put(base+"..%2F..%2F..%2Fescape", "x"); code != 400 {
			t.Fatalf("traversal upload: status %d, want 400", code)
		}
		if code, body := a.download(base + "model/MLmodel"); code != 200 || body != "flavors: {}" {
			t.Fatalf("download: %d %q", code, body)
		}
		list := a.ok("GET", "/api/2.0/mlflow-artifacts/artifacts", "path="+url.QueryEscape("0/"+run+"/artifacts/model"))
		if get(list, "files", 0, "path") != "MLmodel" || get(list, "files", 1, "file_size") != 10.0 {
			t.Fatalf("proxy list = %v", list)
		}
		runList := a.ok("GET", p+"artifacts/list", "run_id="+run)
		if get(runList, "files", 0, "path") != "model" || get(runList, "files", 0, "is_dir") != true {
			t.Fatalf("artifacts/list = %v", runList)
		}

		// mlflow.register_model then aliases, as the client sends them.
		a.ok("POST", p+"registered-models/create", `{"name": "ctr", "tags": [{"key": "owner", "value": "ads"}], "description": "click model"}`)
		a.fails("POST", p+"registered-models/create", `{"name": "ctr"}`, "RESOURCE_ALREADY_EXISTS", 400)
		mv := a.ok("POST", p+"model-versions/create", `{"name": "ctr", "source": "runs:/`+run+`/model", "run_id": "`+run+`"}`)
		if get(mv, "model_version", "version") != "1" || get(mv, "model_version", "status") != "READY" {
			t.Fatalf("model-versions/create = %v", mv)
		}
		a.ok("POST", p+"registered-models/alias", `{"name": "ctr", "alias": "champion", "version": "1"}`)
		byAlias := a.ok("GET", p+"registered-models/alias", "name=ctr&alias=champion")
		if get(byAlias, "model_version", "aliases", 0) != "champion" {
			t.Fatalf("alias get = %v", byAlias)
		}
		uri := a.ok("GET", p+"model-versions/get-download-uri", "name=ctr&version=1")
		if uri["artifact_uri"] != "mlflow-artifacts:/0/"+run+"/artifacts/model" {
			t.Fatalf("download uri = %v", uri)
		}
		a.ok("POST", p+"model-versions/transition-stage", `{"name": "ctr", "version": "1", "stage": "Production", "archive_existing_versions": true}`)
		latest := a.ok("POST", p+"registered-models/get-latest-versions", `{"name": "ctr", "stages": ["Production"]}`)
		if get(latest, "model_versions", 0, "current_stage") != "Production" {
			t.Fatalf("latest = %v", latest)
		}
		a.ok("PATCH", p+"registered-models/update", `{"name": "ctr", "description": "v2"}`)
		a.ok("PATCH", p+"model-versions/update", `{"name": "ctr", "version": "1", "description": "first"}`)
		a.ok("POST", p+"model-versions/set-tag", `{"name": "ctr", "version": "1", "key": "validated", "value": "yes"}`)
		vs := a.ok("GET", p+"model-versions/search", "filter="+url.QueryEscape("name='ctr'"))
		if get(vs, "model_versions", 0, "tags", 0, "key") != "validated" {
			t.Fatalf("version search = %v", vs)
		}
		m := a.ok("GET", p+"registered-models/get", "name=ctr")
		if get(m, "registered_model", "description") != "v2" || get(m, "registered_model", "aliases", 0, "alias") != "champion" {
			t.Fatalf("registered model = %v", m)
		}
		a.ok("POST", p+"registered-models/rename", `{"name": "ctr", "new_name": "ctr2"}`)
		ms := a.ok("GET", p+"registered-models/search", "filter="+url.QueryEscape("name LIKE 'ctr%'")+"&max_results=10")
		if get(ms, "registered_models", 0, "name") != "ctr2" {
			t.Fatalf("model search = %v", ms)
		}
		a.ok("DELETE", p+"registered-models/alias", `{"name": "ctr2", "alias": "champion"}`)
		a.fails("GET", p+"registered-models/alias", "name=ctr2&alias=champion", "RESOURCE_DOES_NOT_EXIST", 404)
		a.ok("DELETE", p+"model-versions/delete", `{"name": "ctr2", "version": "1"}`)
		a.ok("DELETE", p+"registered-models/delete", `{"name": "ctr2"}`)
		a.fails("GET", p+"registered-models/get", "name=ctr2", "RESOURCE_DOES_NOT_EXIST", 404)

		a.ok("DELETE", base+"model", "")
		a.fails("GET", base+"model/MLmodel", "", "RESOURCE_DOES_NOT_EXIST", 404)
	})
}
