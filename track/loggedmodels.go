package track

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/mlenv/mlenv/store"
)

// LoggedModel is MLflow 3's LoggedModel message.
type LoggedModel struct {
	Info LoggedModelInfo `json:"info"`
	Data LoggedModelData `json:"data"`
}

// LoggedModelInfo is MLflow 3's LoggedModelInfo message.
type LoggedModelInfo struct {
	ModelID                string               `json:"model_id"`
	ExperimentID           string               `json:"experiment_id"`
	Name                   string               `json:"name"`
	CreationTimestampMS    int64                `json:"creation_timestamp_ms"`
	LastUpdatedTimestampMS int64                `json:"last_updated_timestamp_ms"`
	ArtifactURI            string               `json:"artifact_uri"`
	Status                 string               `json:"status"`
	ModelType              string               `json:"model_type,omitempty"`
	SourceRunID            string               `json:"source_run_id,omitempty"`
	StatusMessage          string               `json:"status_message,omitempty"`
	Tags                   []store.Tag          `json:"tags,omitempty"`
	Registrations          []store.Registration `json:"registrations,omitempty"`
}

// LoggedModelData is MLflow 3's LoggedModelData message: the model's
// params and the metric points linked to it, each with its run.
type LoggedModelData struct {
	Params  []store.Param `json:"params,omitempty"`
	Metrics []RunMetric   `json:"metrics,omitempty"`
}

// WireLoggedModel converts a store logged model to its wire message.
func WireLoggedModel(m *store.LoggedModel) LoggedModel {
	metrics := make([]RunMetric, len(m.Metrics))
	for i, p := range m.Metrics {
		metrics[i] = RunMetric{Metric: p.Metric, RunID: p.RunID}
	}
	return LoggedModel{
		Info: LoggedModelInfo{ModelID: m.ModelID, ExperimentID: m.ExperimentID, Name: m.Name,
			CreationTimestampMS: m.CreationTime, LastUpdatedTimestampMS: m.LastUpdatedTime, ArtifactURI: m.ArtifactLocation,
			Status: m.Status, ModelType: m.ModelType, SourceRunID: m.SourceRunID, StatusMessage: m.StatusMessage,
			Tags: m.Tags, Registrations: m.Registrations},
		Data: LoggedModelData{Params: m.Params, Metrics: metrics},
	}
}

// modelStatus is a LoggedModelStatus as protobuf's JSON mapping sends an
// enum: its name, or its number (as a JSON number or string).
type modelStatus string

// modelStatusNames lists LoggedModelStatus by number.
var modelStatusNames = []string{"LOGGED_MODEL_STATUS_UNSPECIFIED", store.LoggedModelPending, store.LoggedModelReady, store.LoggedModelUploadFailed}

// UnmarshalJSON reads an enum name or number.
func (s *modelStatus) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	text := ""
	switch v := v.(type) {
	case string:
		text = v
	case float64:
		text = strconv.FormatFloat(v, 'f', -1, 64)
	}
	if n, err := strconv.Atoi(text); err == nil && n >= 0 && n < len(modelStatusNames) {
		text = modelStatusNames[n]
	}
	*s = modelStatus(text)
	return nil
}

// registerLoggedModels adds MLflow 3's logged-model endpoints and
// runs/outputs to m.
func (a *API) registerLoggedModels(m *Mux) {
	m.Handle("POST", "logged-models", a.createLoggedModel)
	m.Handle("POST", "logged-models/search", a.searchLoggedModels)
	m.Handle("GET", "logged-models/{model_id}", a.getLoggedModel)
	m.Handle("PATCH", "logged-models/{model_id}", a.finalizeLoggedModel)
	m.Handle("DELETE", "logged-models/{model_id}", a.deleteLoggedModel)
	m.Handle("PATCH", "logged-models/{model_id}/tags", a.setLoggedModelTags)
	m.Handle("DELETE", "logged-models/{model_id}/tags/{tag_key...}", a.deleteLoggedModelTag)
	m.Handle("POST", "logged-models/{model_id}/params", a.logLoggedModelParams)
	m.Handle("POST", "runs/outputs", a.logOutputs)
}

type loggedModelResp struct {
	Model LoggedModel `json:"model"`
}

// modelResult wraps a store result as {"model": ...}.
func modelResult(m *store.LoggedModel, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return loggedModelResp{WireLoggedModel(m)}, nil
}

func (a *API) createLoggedModel(r *http.Request) (any, error) {
	var req struct {
		ExperimentID string        `json:"experiment_id"`
		Name         string        `json:"name"`
		ModelType    string        `json:"model_type"`
		SourceRunID  string        `json:"source_run_id"`
		Params       []store.Param `json:"params"`
		Tags         []store.Tag   `json:"tags"`
	}
	if err := Decode(r, &req); err != nil {
		return nil, err
	}
	if err := required("experiment_id", req.ExperimentID); err != nil {
		return nil, err
	}
	return modelResult(a.store.CreateLoggedModel(r.Context(), store.LoggedModelCreate{ExperimentID: req.ExperimentID,
		Name: req.Name, ModelType: req.ModelType, SourceRunID: req.SourceRunID, Params: req.Params, Tags: req.Tags}))
}

func (a *API) getLoggedModel(r *http.Request) (any, error) {
	return modelResult(a.store.GetLoggedModel(r.Context(), r.PathValue("model_id")))
}

func (a *API) finalizeLoggedModel(r *http.Request) (any, error) {
	var req struct {
		Status modelStatus `json:"status"`
	}
	if err := Decode(r, &req); err != nil {
		return nil, err
	}
	if err := required("status", string(req.Status)); err != nil {
		return nil, err
	}
	return modelResult(a.store.FinalizeLoggedModel(r.Context(), r.PathValue("model_id"), string(req.Status)))
}

func (a *API) deleteLoggedModel(r *http.Request) (any, error) {
	return empty{}, a.store.DeleteLoggedModel(r.Context(), r.PathValue("model_id"))
}

func (a *API) setLoggedModelTags(r *http.Request) (any, error) {
	var req struct {
		Tags []store.Tag `json:"tags"`
	}
	if err := Decode(r, &req); err != nil {
		return nil, err
	}
	id := r.PathValue("model_id")
	if err := a.store.SetLoggedModelTags(r.Context(), id, req.Tags); err != nil {
		return nil, err
	}
	return modelResult(a.store.GetLoggedModel(r.Context(), id))
}

func (a *API) deleteLoggedModelTag(r *http.Request) (any, error) {
	return empty{}, a.store.DeleteLoggedModelTag(r.Context(), r.PathValue("model_id"), r.PathValue("tag_key"))
}

func (a *API) logLoggedModelParams(r *http.Request) (any, error) {
	var req struct {
		Params []store.Param `json:"params"`
	}
	if err := Decode(r, &req); err != nil {
		return nil, err
	}
	return empty{}, a.store.LogLoggedModelParams(r.Context(), r.PathValue("model_id"), req.Params)
}

func (a *API) searchLoggedModels(r *http.Request) (any, error) {
	var req struct {
		ExperimentIDs []string `json:"experiment_ids"`
		Filter        string   `json:"filter"`
		Datasets      []struct {
			Name   string `json:"dataset_name"`
			Digest string `json:"dataset_digest"`
		} `json:"datasets"`
		MaxResults store.Int `json:"max_results"`
		OrderBy    []struct {
			FieldName     string `json:"field_name"`
			Ascending     *bool  `json:"ascending"`
			DatasetName   string `json:"dataset_name"`
			DatasetDigest string `json:"dataset_digest"`
		} `json:"order_by"`
		PageToken string `json:"page_token"`
	}
	if err := Decode(r, &req); err != nil {
		return nil, err
	}
	q := store.LoggedModelSearch{ExperimentIDs: req.ExperimentIDs, Filter: req.Filter, MaxResults: int(req.MaxResults), PageToken: req.PageToken}
	for _, d := range req.Datasets {
		q.Datasets = append(q.Datasets, store.DatasetRef{Name: d.Name, Digest: d.Digest})
	}
	for i, o := range req.OrderBy {
		if o.FieldName == "" {
			return nil, store.Errorf(store.InvalidParameterValue, "order_by[%d]: missing value for required parameter 'field_name'", i)
		}
		q.OrderBy = append(q.OrderBy, store.LoggedModelOrder{Field: o.FieldName, Ascending: o.Ascending == nil || *o.Ascending,
			DatasetName: o.DatasetName, DatasetDigest: o.DatasetDigest})
	}
	models, token, err := a.store.SearchLoggedModels(r.Context(), q)
	if err != nil {
		return nil, err
	}
	return struct {
		Models        []LoggedModel `json:"models,omitempty"`
		NextPageToken string        `json:"next_page_token,omitempty"`
	}{WireAll(models, WireLoggedModel), token}, nil
}

func (a *API) logOutputs(r *http.Request) (any, error) {
	var req struct {
		RunID  string `json:"run_id"`
		Models []struct {
			ModelID string    `json:"model_id"`
			Step    store.Int `json:"step"`
		} `json:"models"`
	}
	if err := Decode(r, &req); err != nil {
		return nil, err
	}
	if err := required("run_id", req.RunID); err != nil {
		return nil, err
	}
	outs := make([]store.ModelOutput, len(req.Models))
	for i, m := range req.Models {
		outs[i] = store.ModelOutput{ModelID: m.ModelID, Step: int64(m.Step)}
	}
	return empty{}, a.store.LogOutputs(r.Context(), req.RunID, outs)
}
