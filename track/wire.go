package track

import "github.com/mlenv/mlenv/store"

// The wire messages of MLflow's REST API (mlflow/protos/service.proto) in
// their JSON form: snake_case names, 64-bit integers as numbers, empty
// repeated fields left out.

// Experiment is MLflow's Experiment message.
type Experiment struct {
	ExperimentID     string      `json:"experiment_id"`
	Name             string      `json:"name"`
	ArtifactLocation string      `json:"artifact_location,omitempty"`
	LifecycleStage   string      `json:"lifecycle_stage"`
	LastUpdateTime   int64       `json:"last_update_time,omitempty"`
	CreationTime     int64       `json:"creation_time,omitempty"`
	Tags             []store.Tag `json:"tags,omitempty"`
}

// RunInfo is MLflow's RunInfo message. RunUUID repeats RunID for older
// clients.
type RunInfo struct {
	RunID          string `json:"run_id"`
	RunUUID        string `json:"run_uuid"`
	RunName        string `json:"run_name,omitempty"`
	ExperimentID   string `json:"experiment_id"`
	UserID         string `json:"user_id,omitempty"`
	Status         string `json:"status"`
	StartTime      int64  `json:"start_time,omitempty"`
	EndTime        *int64 `json:"end_time,omitempty"`
	ArtifactURI    string `json:"artifact_uri,omitempty"`
	LifecycleStage string `json:"lifecycle_stage"`
}

// RunData is MLflow's RunData message.
type RunData struct {
	Metrics []store.Metric `json:"metrics,omitempty"`
	Params  []store.Param  `json:"params,omitempty"`
	Tags    []store.Tag    `json:"tags,omitempty"`
}

// RunInputs is MLflow's RunInputs message.
type RunInputs struct {
	DatasetInputs []store.DatasetInput `json:"dataset_inputs,omitempty"`
	ModelInputs   []store.ModelInput   `json:"model_inputs,omitempty"`
}

// RunOutputs is MLflow's RunOutputs message.
type RunOutputs struct {
	ModelOutputs []store.ModelOutput `json:"model_outputs,omitempty"`
}

// Run is MLflow's Run message.
type Run struct {
	Info    RunInfo    `json:"info"`
	Data    RunData    `json:"data"`
	Inputs  RunInputs  `json:"inputs"`
	Outputs RunOutputs `json:"outputs"`
}

// RunMetric is a metric point with its run, as get-history-bulk-interval
// returns it.
type RunMetric struct {
	store.Metric
	RunID string `json:"run_id"`
}

// WireAll converts each element of xs with f; it returns nil for no
// elements, so that empty lists are left out of responses.
func WireAll[T, U any](xs []T, f func(*T) U) []U {
	if len(xs) == 0 {
		return nil
	}
	out := make([]U, len(xs))
	for i := range xs {
		out[i] = f(&xs[i])
	}
	return out
}

func wireExperiment(e *store.Experiment) Experiment {
	return Experiment{
		ExperimentID: e.ID, Name: e.Name, ArtifactLocation: e.ArtifactLocation, LifecycleStage: e.LifecycleStage,
		LastUpdateTime: e.LastUpdateTime, CreationTime: e.CreationTime, Tags: e.Tags,
	}
}

func wireRunInfo(i *store.RunInfo) RunInfo {
	return RunInfo{
		RunID: i.RunID, RunUUID: i.RunID, RunName: i.RunName, ExperimentID: i.ExperimentID, UserID: i.UserID,
		Status: i.Status, StartTime: i.StartTime, EndTime: i.EndTime, ArtifactURI: i.ArtifactURI, LifecycleStage: i.LifecycleStage,
	}
}

// WireRun converts a store run to its wire message.
func WireRun(r *store.Run) Run {
	return Run{
		Info:    wireRunInfo(&r.Info),
		Data:    RunData{Metrics: r.Metrics, Params: r.Params, Tags: r.Tags},
		Inputs:  RunInputs{DatasetInputs: r.Inputs, ModelInputs: r.ModelInputs},
		Outputs: RunOutputs{ModelOutputs: r.ModelOutputs},
	}
}

// toStore converts a wire run back to the store form, for the client.
func (r *Run) toStore() store.Run {
	i := r.Info
	id := i.RunID
	if id == "" {
		id = i.RunUUID
	}
	return store.Run{
		Info: store.RunInfo{RunID: id, ExperimentID: i.ExperimentID, RunName: i.RunName, UserID: i.UserID, Status: i.Status,
			StartTime: i.StartTime, EndTime: i.EndTime, ArtifactURI: i.ArtifactURI, LifecycleStage: i.LifecycleStage},
		Metrics: r.Data.Metrics, Params: r.Data.Params, Tags: r.Data.Tags, Inputs: r.Inputs.DatasetInputs,
		ModelInputs: r.Inputs.ModelInputs, ModelOutputs: r.Outputs.ModelOutputs,
	}
}
