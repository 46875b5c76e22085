package server

import (
	"net/url"
	"strings"
	"testing"

	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/store/storetest"
)

// TestLoggedModelsAPI sends the requests MLflow 3's client sends for
// mlflow.<flavor>.log_model inside a run, then reads, searches, tags and
// registers the logged model, and checks MLflow's JSON shapes.
func TestLoggedModelsAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.SQLStore) {
		a := newAPI(t, s)
		exp := a.ok("POST", p+"experiments/create", `{"name": "clf"}`)["experiment_id"].(string)
		run := get(a.ok("POST", p+"runs/create", `{"experiment_id": "`+exp+`", "start_time": 1700000000000}`), "run", "info", "run_id").(string)

		// log_model: create the logged model, record it as a run output,
		// upload its files to its artifact location, finalize it.
		created := a.ok("POST", p+"logged-models", `{"experiment_id": "`+exp+`", "name": "model", "model_type": "Classifier",
			"source_run_id": "`+run+`", "params": [{"key": "depth", "value": "3"}],
			"tags": [{"key": "mlflow.source.name", "value": "train.py"}]}`)
		id, _ := get(created, "model", "info", "model_id").(string)
		info := get(created, "model", "info")
		if !strings.HasPrefix(id, "m-") || get(info, "status") != "LOGGED_MODEL_PENDING" || get(info, "experiment_id") != exp ||
			get(info, "artifact_uri") != "mlflow-artifacts:/"+exp+"/models/"+id+"/artifacts" || get(info, "source_run_id") != run ||
			get(info, "model_type") != "Classifier" || get(info, "creation_timestamp_ms") == nil || get(info, "tags", 0, "key") != "mlflow.source.name" ||
			get(created, "model", "data", "params", 0, "value") != "3" {
			t.Fatalf("logged-models create = %v", created)
		}
		a.ok("POST", p+"runs/outputs", `{"run_id": "`+run+`", "models": [{"model_id": "`+id+`", "step": "0"}]}`)
		base := "/api/2.0/mlflow-artifacts/artifacts/" + exp + "/models/" + id + "/artifacts/"
		if a.put(base+"MLmodel", "flavors: {}") != 200 || a.put(base+"model.pkl", "0123456789") != 200 || a.put(base+"code/train.py", "pass") != 200 {
			t.Fatal("model artifact upload failed")
		}
		final := a.ok("PATCH", p+"logged-models/"+id, `{"model_id": "`+id+`", "status": "LOGGED_MODEL_READY"}`)
		if get(final, "model", "info", "status") != "LOGGED_MODEL_READY" {
			t.Fatalf("finalize = %v", final)
		}
		// Protobuf's JSON mapping may send the enum's number.
		a.ok("PATCH", p+"logged-models/"+id, `{"model_id": "`+id+`", "status": 2}`)
		msg := a.fails("PATCH", p+"logged-models/"+id, `{"status": "LOGGED_MODEL_PENDING"}`, "INVALID_PARAMETER_VALUE", 400)
		if !strings.Contains(msg, "status") {
			t.Fatalf("bad status message %q does not name the field", msg)
		}

		list := a.ok("GET", p+"logged-models/"+id+"/artifacts/directories", "")
		if get(list, "root_uri") != get(info, "artifact_uri") || get(list, "files", 0, "path") != "MLmodel" ||
			get(list, "files", 1, "path") != "code" || get(list, "files", 1, "is_dir") != true || get(list, "files", 2, "file_size") != 10.0 {
			t.Fatalf("artifacts/directories = %v", list)
		}
		list = a.ok("GET", p+"logged-models/"+id+"/artifacts/directories", "artifact_directory_path=code")
		if files := get(list, "files").([]any); len(files) != 1 || get(files, 0, "path") != "code/train.py" {
			t.Fatalf("artifacts/directories of code = %v", list)
		}
		if code, body := a.download(p + "logged-models/" + id + "/artifacts/files?artifact_file_path=" + url.QueryEscape("MLmodel")); code != 200 || body != "flavors: {}" {
			t.Fatalf("artifacts/files: %d %q", code, body)
		}
		a.fails("GET", p+"logged-models/"+id+"/artifacts/files", "artifact_file_path=nope", "RESOURCE_DOES_NOT_EXIST", 404)
		a.fails("GET", p+"logged-models/"+id+"/artifacts/files", "artifact_file_path="+url.QueryEscape("../../x"), "INVALID_PARAMETER_VALUE", 400)

		// Metrics logged with a model_id are linked to the model.
		a.ok("POST", p+"runs/log-batch", `{"run_id": "`+run+`", "metrics": [
			{"key": "acc", "value": 0.91, "timestamp": 1700000000100, "step": 1, "model_id": "`+id+`", "dataset_name": "eval", "dataset_digest": "d1"},
			{"key": "loss", "value": 0.2, "timestamp": 1700000000100, "step": 1}]}`)
		a.ok("POST", p+"runs/log-metric", `{"run_id": "`+run+`", "key": "f1", "value": 0.5, "timestamp": 1700000000200, "step": 1, "model_id": "`+id+`"}`)
		a.fails("POST", p+"runs/log-metric", `{"run_id": "`+run+`", "key": "f1", "value": 1, "timestamp": 1, "model_id": "m-nope"}`, "RESOURCE_DOES_NOT_EXIST", 404)
		got := a.ok("GET", p+"logged-models/"+id, "")
		ms := get(got, "model", "data", "metrics")
		if len(ms.([]any)) != 2 || get(ms, 0, "key") != "acc" || get(ms, 0, "run_id") != run || get(ms, 0, "model_id") != id ||
			get(ms, 0, "dataset_name") != "eval" || get(ms, 0, "dataset_digest") != "d1" || get(ms, 1, "key") != "f1" {
			t.Fatalf("model metrics = %v", ms)
		}

		// Params are immutable; tags can be set and deleted.
		a.ok("POST", p+"logged-models/"+id+"/params", `{"model_id": "`+id+`", "params": [{"key": "lr", "value": "0.1"}]}`)
		a.fails("POST", p+"logged-models/"+id+"/params", `{"params": [{"key": "depth", "value": "4"}]}`, "INVALID_PARAMETER_VALUE", 400)
		tagged := a.ok("PATCH", p+"logged-models/"+id+"/tags", `{"model_id": "`+id+`", "tags": [{"key": "stage", "value": "dev"}]}`)
		if get(tagged, "model", "info", "tags", 1, "key") != "stage" {
			t.Fatalf("set tags = %v", tagged)
		}
		a.ok("DELETE", p+"logged-models/"+id+"/tags/stage", "")
		a.fails("DELETE", p+"logged-models/"+id+"/tags/stage", "", "RESOURCE_DOES_NOT_EXIST", 404)
		// A key with a slash, raw or escaped, is one key.
		a.ok("PATCH", p+"logged-models/"+id+"/tags", `{"tags": [{"key": "eval/set", "value": "a"}, {"key": "eval/run", "value": "b"}]}`)
		a.ok("DELETE", p+"logged-models/"+id+"/tags/eval/set", "")
		a.ok("DELETE", p+"logged-models/"+id+"/tags/eval%2Frun", "")
		if tags := get(a.ok("GET", p+"logged-models/"+id, ""), "model", "info", "tags").([]any); len(tags) != 1 {
			t.Fatalf("tags after deletes = %v", tags)
		}

		// The run shows the model among its outputs; log-inputs records a
		// model input.
		a.ok("POST", p+"runs/log-inputs", `{"run_id": "`+run+`", "models": [{"model_id": "`+id+`"}]}`)
		r := a.ok("GET", p+"runs/get", "run_id="+run)
		if get(r, "run", "outputs", "model_outputs", 0, "model_id") != id || get(r, "run", "outputs", "model_outputs", 0, "step") != 0.0 ||
			get(r, "run", "inputs", "model_inputs", 0, "model_id") != id {
			t.Fatalf("runs/get outputs and inputs = %v", r)
		}
		found := a.ok("POST", p+"runs/search", `{"experiment_ids": ["`+exp+`"]}`)
		if get(found, "runs", 0, "outputs", "model_outputs", 0, "model_id") != id {
			t.Fatalf("runs/search outputs = %v", found)
		}

		// search_logged_models, as the client sends it.
		other := get(a.ok("POST", p+"logged-models", `{"experiment_id": "`+exp+`", "name": "other"}`), "model", "info", "model_id").(string)
		res := a.ok("POST", p+"logged-models/search", `{"experiment_ids": ["`+exp+`"],
			"filter": "name = 'model' AND metrics.acc > 0.9 AND params.lr = '0.1'",
			"datasets": [{"dataset_name": "eval", "dataset_digest": "d1"}],
			"order_by": [{"field_name": "metrics.acc", "ascending": false, "dataset_name": "eval"}], "max_results": 10}`)
		if models := get(res, "models").([]any); len(models) != 1 || get(models, 0, "info", "model_id") != id || res["next_page_token"] != nil {
			t.Fatalf("logged-models/search = %v", res)
		}
		res = a.ok("POST", p+"logged-models/search", `{"experiment_ids": ["`+exp+`"], "order_by": [{"field_name": "name"}], "max_results": 1}`)
		if get(res, "models", 0, "info", "name") != "model" || res["next_page_token"] == nil {
			t.Fatalf("first page = %v", res)
		}
		res = a.ok("POST", p+"logged-models/search", `{"experiment_ids": ["`+exp+`"], "order_by": [{"field_name": "name"}], "max_results": 1,
			"page_token": "`+res["next_page_token"].(string)+`"}`)
		if get(res, "models", 0, "info", "model_id") != other {
			t.Fatalf("second page = %v", res)
		}
		msg = a.fails("POST", p+"logged-models/search", `{"experiment_ids": ["`+exp+`"], "order_by": [{"ascending": true}]}`, "INVALID_PARAMETER_VALUE", 400)
		if !strings.Contains(msg, "field_name") {
			t.Fatalf("order_by message %q does not name field_name", msg)
		}
		a.fails("POST", p+"logged-models/search", `{"filter": "name = 'model'"}`, "INVALID_PARAMETER_VALUE", 400)
		a.fails("POST", p+"logged-models/search", `{"experiment_ids": ["`+exp+`"], "filter": "colour = 'red'"}`, "INVALID_PARAMETER_VALUE", 400)

		// Registering the logged model: the version keeps its model_id, its
		// download URI is the model's artifact location, and the model
		// lists the registration.
		a.ok("POST", p+"registered-models/create", `{"name": "ctr"}`)
		mv := a.ok("POST", p+"model-versions/create", `{"name": "ctr", "source": "models:/`+id+`", "run_id": "`+run+`", "model_id": "`+id+`"}`)
		if get(mv, "model_version", "model_id") != id {
			t.Fatalf("model-versions/create = %v", mv)
		}
		uri := a.ok("GET", p+"model-versions/get-download-uri", "name=ctr&version=1")
		if uri["artifact_uri"] != get(info, "artifact_uri") {
			t.Fatalf("download uri = %v", uri)
		}
		got = a.ok("GET", "/ajax-api/2.0/mlflow/logged-models/"+id, "")
		if get(got, "model", "info", "registrations", 0, "name") != "ctr" || get(got, "model", "info", "registrations", 0, "version") != "1" {
			t.Fatalf("registrations = %v", got)
		}

		msg = a.fails("POST", p+"logged-models", `{"name": "x"}`, "INVALID_PARAMETER_VALUE", 400)
		if !strings.Contains(msg, "experiment_id") {
			t.Fatalf("create message %q does not name experiment_id", msg)
		}
		a.fails("POST", p+"logged-models", `{"experiment_id": "424242"}`, "RESOURCE_DOES_NOT_EXIST", 404)
		a.fails("POST", p+"runs/outputs", `{"run_id": "`+run+`", "models": [{"model_id": "m-nope", "step": 1}]}`, "RESOURCE_DOES_NOT_EXIST", 404)
		a.fails("GET", p+"logged-models/m-0123456789abcdef0123456789abcdef", "", "RESOURCE_DOES_NOT_EXIST", 404)
		a.ok("DELETE", p+"logged-models/"+other, "")
		a.fails("GET", p+"logged-models/"+other, "", "RESOURCE_DOES_NOT_EXIST", 404)
		a.fails("PATCH", p+"logged-models/"+other, `{"status": "LOGGED_MODEL_READY"}`, "RESOURCE_DOES_NOT_EXIST", 404)
	})
}

// TestLoggedModelArtifactsElsewhere checks that a logged model whose
// experiment keeps artifacts outside the proxy is refused by name.
func TestLoggedModelArtifactsElsewhere(t *testing.T) {
	a := newAPI(t, storetest.SQLite(t))
	exp := a.ok("POST", p+"experiments/create", `{"name": "s3", "artifact_location": "s3://bucket/exp"}`)["experiment_id"].(string)
	id := get(a.ok("POST", p+"logged-models", `{"experiment_id": "`+exp+`"}`), "model", "info", "model_id").(string)
	msg := a.fails("GET", p+"logged-models/"+id+"/artifacts/directories", "", "INVALID_PARAMETER_VALUE", 400)
	if !strings.Contains(msg, "logged model "+id) || !strings.Contains(msg, "s3://bucket/exp/models/"+id+"/artifacts") {
		t.Fatalf("message %q does not name the model and its artifact location", msg)
	}
}
