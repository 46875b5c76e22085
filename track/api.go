package track

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/mlenv/mlenv/store"
)

// API serves MLflow's tracking REST API (experiments, runs, metrics and
// MLflow 3's logged models) over a store.Tracking.
type API struct {
	store store.Tracking
}

// NewAPI returns the tracking API over s.
func NewAPI(s store.Tracking) *API { return &API{store: s} }

// Register adds the tracking endpoints to m, with MLflow's methods.
func (a *API) Register(m *Mux) {
	m.Handle("POST", "experiments/create", a.createExperiment)
	m.Handle("GET", "experiments/get", a.getExperiment)
	m.Handle("GET", "experiments/get-by-name", a.getExperimentByName)
	m.Handle("POST", "experiments/search", a.searchExperiments)
	m.Handle("GET", "experiments/search", a.searchExperiments)
	m.Handle("POST", "experiments/update", a.updateExperiment)
	m.Handle("POST", "experiments/delete", a.deleteExperiment)
	m.Handle("POST", "experiments/restore", a.restoreExperiment)
	m.Handle("POST", "experiments/set-experiment-tag", a.setExperimentTag)
	m.Handle("POST", "experiments/delete-experiment-tag", a.deleteExperimentTag)

	m.Handle("POST", "runs/create", a.createRun)
	m.Handle("GET", "runs/get", a.getRun)
	m.Handle("POST", "runs/update", a.updateRun)
	m.Handle("POST", "runs/delete", a.deleteRun)
	m.Handle("POST", "runs/restore", a.restoreRun)
	m.Handle("POST", "runs/log-metric", a.logMetric)
	m.Handle("POST", "runs/log-parameter", a.logParam)
	m.Handle("POST", "runs/set-tag", a.setTag)
	m.Handle("POST", "runs/delete-tag", a.deleteTag)
	m.Handle("POST", "runs/log-batch", a.logBatch)
	m.Handle("POST", "runs/log-inputs", a.logInputs)
	m.Handle("POST", "runs/search", a.searchRuns)
	m.Handle("GET", "runs/search", a.searchRuns)
	m.Handle("GET", "metrics/get-history", a.getHistory)
	m.Handle("GET", "metrics/get-history-bulk-interval", a.getHistoryBulk)
	a.registerLoggedModels(m)
}

// empty is the response of endpoints that return no fields.
type empty struct{}

type experimentIDReq struct {
	ExperimentID string `json:"experiment_id"`
}

func (a *API) createExperiment(r *http.Request) (any, error) {
	var req struct {
		Name             string      `json:"name"`
		ArtifactLocation string      `json:"artifact_location"`
		Tags             []store.Tag `json:"tags"`
	}
	if err := Decode(r, &req); err != nil {
		return nil, err
	}
	if err := required("name", req.Name); err != nil {
		return nil, err
	}
	id, err := a.store.CreateExperiment(r.Context(), req.Name, req.ArtifactLocation, req.Tags)
	return map[string]string{"experiment_id": id}, err
}

type experimentResp struct {
	Experiment Experiment `json:"experiment"`
}

func (a *API) getExperiment(r *http.Request) (any, error) {
	var req experimentIDReq
	if err := Decode(r, &req); err != nil {
		return nil, err
	}
	if err := required("experiment_id", req.ExperimentID); err != nil {
		return nil, err
	}
	e, err := a.store.GetExperiment(r.Context(), req.ExperimentID)
	if err != nil {
		return nil, err
	}
	return experimentResp{wireExperiment(e)}, nil
}

func (a *API) getExperimentByName(r *http.Request) (any, error) {
	var req struct {
		ExperimentName string `json:"experiment_name"`
	}
	if err := Decode(r, &req); err != nil {
		return nil, err
	}
	if err := required("experiment_name", req.ExperimentName); err != nil {
		return nil, err
	}
	e, err := a.store.GetExperimentByName(r.Context(), req.ExperimentName)
	if err != nil {
		return nil, err
	}
	return experimentResp{wireExperiment(e)}, nil
}

// searchReq holds the fields shared by MLflow's search requests.
type searchReq struct {
	MaxResults store.Int `json:"max_results"`
	Filter     string    `json:"filter"`
	OrderBy    []string  `json:"order_by"`
	PageToken  string    `json:"page_token"`
	ViewType   string    `json:"view_type"`
}

func (s searchReq) search(viewType string) (store.Search, error) {
	vt, err := store.ParseViewType(viewType)
	return store.Search{Filter: s.Filter, OrderBy: s.OrderBy, MaxResults: int(s.MaxResults), PageToken: s.PageToken, ViewType: vt}, err
}

func (a *API) searchExperiments(r *http.Request) (any, error) {
	var req searchReq
	if err := Decode(r, &req); err != nil {
		return nil, err
	}
	q, err := req.search(req.ViewType)
	if err != nil {
		return nil, err
	}
	exps, token, err := a.store.SearchExperiments(r.Context(), q)
	if err != nil {
		return nil, err
	}
	return struct {
		Experiments   []Experiment `json:"experiments,omitempty"`
		NextPageToken string       `json:"next_page_token,omitempty"`
	}{WireAll(exps, wireExperiment), token}, nil
}

func (a *API) updateExperiment(r *http.Request) (any, error) {
	var req struct {
		ExperimentID string `json:"experiment_id"`
		NewName      string `json:"new_name"`
	}
	if err := Decode(r, &req); err != nil {
		return nil, err
	}
	if err := required("experiment_id", req.ExperimentID); err != nil {
		return nil, err
	}
	if req.NewName == "" {
		return empty{}, nil
	}
	return empty{}, a.store.RenameExperiment(r.Context(), req.ExperimentID, req.NewName)
}

// experimentOp decodes an experiment id and applies op to it.
func (a *API) experimentOp(r *http.Request, op func(*http.Request, string) error) (any, error) {
	var req experimentIDReq
	if err := Decode(r, &req); err != nil {
		return nil, err
	}
	if err := required("experiment_id", req.ExperimentID); err != nil {
		return nil, err
	}
	return empty{}, op(r, req.ExperimentID)
}

func (a *API) deleteExperiment(r *http.Request) (any, error) {
	return a.experimentOp(r, func(r *http.Request, id string) error { return a.store.DeleteExperiment(r.Context(), id) })
}

func (a *API) restoreExperiment(r *http.Request) (any, error) {
	return a.experimentOp(r, func(r *http.Request, id string) error { return a.store.RestoreExperiment(r.Context(), id) })
}

type experimentTagReq struct {
	ExperimentID string `json:"experiment_id"`
	Key          string `json:"key"`
	Value        string `json:"value"`
}

func (a *API) setExperimentTag(r *http.Request) (any, error) {
	var req experimentTagReq
	if err := Decode(r, &req); err != nil {
		return nil, err
	}
	if err := required("experiment_id", req.ExperimentID, "key", req.Key); err != nil {
		return nil, err
	}
	return empty{}, a.store.SetExperimentTag(r.Context(), req.ExperimentID, store.Tag{Key: req.Key, Value: req.Value})
}

func (a *API) deleteExperimentTag(r *http.Request) (any, error) {
	var req experimentTagReq
	if err := Decode(r, &req); err != nil {
		return nil, err
	}
	if err := required("experiment_id", req.ExperimentID, "key", req.Key); err != nil {
		return nil, err
	}
	return empty{}, a.store.DeleteExperimentTag(r.Context(), req.ExperimentID, req.Key)
}

// runIDReq is embedded in run requests; MLflow clients send run_id and,
// for older servers, run_uuid.
type runIDReq struct {
	RunID   string `json:"run_id"`
	RunUUID string `json:"run_uuid"`
}

func (r runIDReq) id() (string, error) {
	id := r.RunID
	if id == "" {
		id = r.RunUUID
	}
	return id, required("run_id", id)
}

type runResp struct {
	Run Run `json:"run"`
}

func (a *API) createRun(r *http.Request) (any, error) {
	var req struct {
		ExperimentID string      `json:"experiment_id"`
		UserID       string      `json:"user_id"`
		RunName      string      `json:"run_name"`
		StartTime    store.Int   `json:"start_time"`
		Tags         []store.Tag `json:"tags"`
	}
	if err := Decode(r, &req); err != nil {
		return nil, err
	}
	if req.ExperimentID == "" {
		req.ExperimentID = "0"
	}
	run, err := a.store.CreateRun(r.Context(), store.RunCreate{ExperimentID: req.ExperimentID, UserID: req.UserID,
		RunName: req.RunName, StartTime: int64(req.StartTime), Tags: req.Tags})
	if err != nil {
		return nil, err
	}
	return runResp{WireRun(run)}, nil
}

func (a *API) getRun(r *http.Request) (any, error) {
	var req runIDReq
	if err := Decode(r, &req); err != nil {
		return nil, err
	}
	id, err := req.id()
	if err != nil {
		return nil, err
	}
	run, err := a.store.GetRun(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return runResp{WireRun(run)}, nil
}

func (a *API) updateRun(r *http.Request) (any, error) {
	var req struct {
		runIDReq
		Status  string     `json:"status"`
		EndTime *store.Int `json:"end_time"`
		RunName string     `json:"run_name"`
	}
	if err := Decode(r, &req); err != nil {
		return nil, err
	}
	id, err := req.id()
	if err != nil {
		return nil, err
	}
	u := store.RunUpdate{RunID: id, Status: req.Status, RunName: req.RunName}
	if req.EndTime != nil {
		end := int64(*req.EndTime)
		u.EndTime = &end
	}
	info, err := a.store.UpdateRun(r.Context(), u)
	if err != nil {
		return nil, err
	}
	return struct {
		RunInfo RunInfo `json:"run_info"`
	}{wireRunInfo(info)}, nil
}

// runOp decodes a run id and applies op to it.
func (a *API) runOp(r *http.Request, op func(*http.Request, string) error) (any, error) {
	var req runIDReq
	if err := Decode(r, &req); err != nil {
		return nil, err
	}
	id, err := req.id()
	if err != nil {
		return nil, err
	}
	return empty{}, op(r, id)
}

func (a *API) deleteRun(r *http.Request) (any, error) {
	return a.runOp(r, func(r *http.Request, id string) error { return a.store.DeleteRun(r.Context(), id) })
}

func (a *API) restoreRun(r *http.Request) (any, error) {
	return a.runOp(r, func(r *http.Request, id string) error { return a.store.RestoreRun(r.Context(), id) })
}

func (a *API) logMetric(r *http.Request) (any, error) {
	var req struct {
		runIDReq
		store.Metric
	}
	// Metric has its own UnmarshalJSON, which would swallow the embedding
	// struct's, so the two parts are decoded separately.
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if err := unmarshal(body, &req.runIDReq); err != nil {
		return nil, err
	}
	if err := unmarshal(body, &req.Metric); err != nil {
		return nil, err
	}
	id, err := req.id()
	if err != nil {
		return nil, err
	}
	if err := required("key", req.Key); err != nil {
		return nil, err
	}
	return empty{}, a.store.LogBatch(r.Context(), store.Batch{RunID: id, Metrics: []store.Metric{req.Metric}})
}

type keyValueReq struct {
	runIDReq
	Key   string `json:"key"`
	Value string `json:"value"`
}

// decodeKeyValue reads a run id, key and value request and checks that
// run id and key are set.
func decodeKeyValue(r *http.Request) (id string, req keyValueReq, err error) {
	if err = Decode(r, &req); err != nil {
		return "", req, err
	}
	if id, err = req.id(); err != nil {
		return "", req, err
	}
	return id, req, required("key", req.Key)
}

func (a *API) logParam(r *http.Request) (any, error) {
	id, req, err := decodeKeyValue(r)
	if err != nil {
		return nil, err
	}
	return empty{}, a.store.LogBatch(r.Context(), store.Batch{RunID: id, Params: []store.Param{{Key: req.Key, Value: req.Value}}})
}

func (a *API) setTag(r *http.Request) (any, error) {
	id, req, err := decodeKeyValue(r)
	if err != nil {
		return nil, err
	}
	return empty{}, a.store.LogBatch(r.Context(), store.Batch{RunID: id, Tags: []store.Tag{{Key: req.Key, Value: req.Value}}})
}

func (a *API) deleteTag(r *http.Request) (any, error) {
	id, req, err := decodeKeyValue(r)
	if err != nil {
		return nil, err
	}
	return empty{}, a.store.DeleteTag(r.Context(), id, req.Key)
}

func (a *API) logBatch(r *http.Request) (any, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if len(body) > store.MaxBatchRequestBytes {
		return nil, store.Errorf(store.InvalidParameterValue, "log-batch request is %d bytes, over the limit of %d", len(body), store.MaxBatchRequestBytes)
	}
	var req struct {
		RunID   string         `json:"run_id"`
		Metrics []store.Metric `json:"metrics"`
		Params  []store.Param  `json:"params"`
		Tags    []store.Tag    `json:"tags"`
	}
	if err := unmarshal(body, &req); err != nil {
		return nil, err
	}
	if err := required("run_id", req.RunID); err != nil {
		return nil, err
	}
	return empty{}, a.store.LogBatch(r.Context(), store.Batch{RunID: req.RunID, Metrics: req.Metrics, Params: req.Params, Tags: req.Tags})
}

func (a *API) logInputs(r *http.Request) (any, error) {
	var req struct {
		RunID    string               `json:"run_id"`
		Datasets []store.DatasetInput `json:"datasets"`
		Models   []store.ModelInput   `json:"models"`
	}
	if err := Decode(r, &req); err != nil {
		return nil, err
	}
	if err := required("run_id", req.RunID); err != nil {
		return nil, err
	}
	return empty{}, a.store.LogInputs(r.Context(), req.RunID, req.Datasets, req.Models)
}

func (a *API) searchRuns(r *http.Request) (any, error) {
	var req struct {
		searchReq
		ExperimentIDs []string `json:"experiment_ids"`
		RunViewType   string   `json:"run_view_type"`
	}
	if err := Decode(r, &req); err != nil {
		return nil, err
	}
	q, err := req.search(req.RunViewType)
	if err != nil {
		return nil, err
	}
	runs, token, err := a.store.SearchRuns(r.Context(), store.RunSearch{Search: q, ExperimentIDs: req.ExperimentIDs})
	if err != nil {
		return nil, err
	}
	return struct {
		Runs          []Run  `json:"runs,omitempty"`
		NextPageToken string `json:"next_page_token,omitempty"`
	}{WireAll(runs, WireRun), token}, nil
}

func (a *API) getHistory(r *http.Request) (any, error) {
	var req struct {
		runIDReq
		MetricKey  string `json:"metric_key"`
		PageToken  string `json:"page_token"`
		MaxResults int64  `json:"max_results"`
	}
	if err := Decode(r, &req); err != nil {
		return nil, err
	}
	id, err := req.id()
	if err != nil {
		return nil, err
	}
	if err := required("metric_key", req.MetricKey); err != nil {
		return nil, err
	}
	ms, token, err := a.store.GetMetricHistory(r.Context(), store.HistoryRequest{RunID: id, Key: req.MetricKey,
		MaxResults: int(req.MaxResults), PageToken: req.PageToken})
	if err != nil {
		return nil, err
	}
	return historyJSON(ms, token), nil
}

// historyJSON encodes a get-history response by hand: histories run to
// hundreds of thousands of points, and encoding/json's reflection and
// per-value MarshalJSON calls would dominate the request.
func historyJSON(ms []store.Metric, token string) rawJSON {
	b := make([]byte, 0, 64+80*len(ms))
	b = append(b, '{')
	if len(ms) > 0 {
		b = append(b, `"metrics":[`...)
		key, _ := json.Marshal(ms[0].Key)
		for i, m := range ms {
			if i > 0 {
				b = append(b, ',')
			}
			if m.Key != ms[0].Key {
				key, _ = json.Marshal(m.Key)
			}
			b = append(b, `{"key":`...)
			b = append(b, key...)
			b = append(b, `,"value":`...)
			b = m.Value.AppendJSON(b)
			b = append(b, `,"timestamp":`...)
			b = strconv.AppendInt(b, m.Timestamp, 10)
			b = append(b, `,"step":`...)
			b = strconv.AppendInt(b, m.Step, 10)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if token != "" {
		if len(ms) > 0 {
			b = append(b, ',')
		}
		t, _ := json.Marshal(token)
		b = append(b, `"next_page_token":`...)
		b = append(b, t...)
	}
	return append(b, '}', '\n')
}

func (a *API) getHistoryBulk(r *http.Request) (any, error) {
	var req struct {
		RunIDs     []string `json:"run_ids"`
		MetricKey  string   `json:"metric_key"`
		StartStep  *int64   `json:"start_step"`
		EndStep    *int64   `json:"end_step"`
		MaxResults int64    `json:"max_results"`
	}
	if err := Decode(r, &req); err != nil {
		return nil, err
	}
	pts, err := a.store.GetMetricHistoryBulkInterval(r.Context(), store.IntervalRequest{RunIDs: req.RunIDs, Key: req.MetricKey,
		StartStep: req.StartStep, EndStep: req.EndStep, MaxResults: int(req.MaxResults)})
	if err != nil {
		return nil, err
	}
	resp := struct {
		Metrics []RunMetric `json:"metrics"`
	}{Metrics: make([]RunMetric, len(pts))}
	for i, p := range pts {
		resp.Metrics[i] = RunMetric{Metric: p.Metric, RunID: p.RunID}
	}
	return resp, nil
}
