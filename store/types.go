// Package store persists mlenv's tracking and model-registry data in SQL:
// SQLite (the embedded default) or PostgreSQL. Both are served by one
// database/sql implementation with a small dialect, so the HTTP layer never
// imports a driver. Schema migrations are embedded, numbered and frozen, and
// are applied when a store is opened.
//
// Writes go through a single writer goroutine that groups the writes pending
// at one moment into one transaction (group commit) and acknowledges each
// only after that transaction committed durably. Reads use a separate pool.
package store

// Lifecycle stages of experiments and runs.
const (
	LifecycleActive  = "active"
	LifecycleDeleted = "deleted"
)

// ViewType selects experiments or runs by lifecycle stage in searches.
type ViewType int

// View types, with MLflow's names ACTIVE_ONLY, DELETED_ONLY and ALL.
const (
	ActiveOnly ViewType = iota
	DeletedOnly
	AllViews
)

// ParseViewType maps MLflow's view type names (and "" meaning ACTIVE_ONLY)
// to a ViewType.
func ParseViewType(s string) (ViewType, error) {
	switch s {
	case "", "ACTIVE_ONLY", "1":
		return ActiveOnly, nil
	case "DELETED_ONLY", "2":
		return DeletedOnly, nil
	case "ALL", "3":
		return AllViews, nil
	}
	return 0, Errorf(InvalidParameterValue, "invalid view_type %q: want ACTIVE_ONLY, DELETED_ONLY or ALL", s)
}

// Tag is a key-value pair attached to an experiment, run, dataset input,
// registered model or model version.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Param is an immutable run parameter.
type Param struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Metric is one point of a metric series. Timestamp is in milliseconds
// since the Unix epoch. Value may be NaN or ±Inf. ModelID, when set on a
// logged point, links it to a logged model as well as to its run, on the
// data set DatasetName and DatasetDigest name (both optional); points read
// back from a run's history leave the three empty.
type Metric struct {
	Key           string `json:"key"`
	Value         Float  `json:"value"`
	Timestamp     int64  `json:"timestamp"`
	Step          int64  `json:"step"`
	ModelID       string `json:"model_id,omitempty"`
	DatasetName   string `json:"dataset_name,omitempty"`
	DatasetDigest string `json:"dataset_digest,omitempty"`
}

// RunMetric is a metric point together with the run it belongs to, as
// returned by bulk history queries.
type RunMetric struct {
	Metric
	RunID string
}

// Experiment is a named group of runs.
type Experiment struct {
	ID               string
	Name             string
	ArtifactLocation string
	LifecycleStage   string
	CreationTime     int64
	LastUpdateTime   int64
	Tags             []Tag
}

// RunInfo is the metadata of a run.
type RunInfo struct {
	RunID          string
	ExperimentID   string
	RunName        string
	UserID         string
	Status         string
	StartTime      int64
	EndTime        *int64
	ArtifactURI    string
	LifecycleStage string
}

// Dataset describes a data set used as a run input.
type Dataset struct {
	Name       string `json:"name"`
	Digest     string `json:"digest"`
	SourceType string `json:"source_type"`
	Source     string `json:"source"`
	Schema     string `json:"schema,omitempty"`
	Profile    string `json:"profile,omitempty"`
}

// DatasetInput is a data set together with tags describing its role in a
// run (for example mlflow.data.context=training).
type DatasetInput struct {
	Tags    []Tag   `json:"tags"`
	Dataset Dataset `json:"dataset"`
}

// ModelInput names a logged model (or model version) a run used as an
// input.
type ModelInput struct {
	ModelID string `json:"model_id"`
}

// ModelOutput names a logged model a run produced, and the step at which
// it did.
type ModelOutput struct {
	ModelID string `json:"model_id"`
	Step    int64  `json:"step"`
}

// Run is a run with its data: latest metric values, params, tags, dataset
// and model inputs, and model outputs.
type Run struct {
	Info         RunInfo
	Metrics      []Metric
	Params       []Param
	Tags         []Tag
	Inputs       []DatasetInput
	ModelInputs  []ModelInput
	ModelOutputs []ModelOutput
}

// RunCreate holds the fields of a new run.
type RunCreate struct {
	ExperimentID string
	UserID       string
	RunName      string
	StartTime    int64
	Tags         []Tag
}

// RunUpdate holds the fields runs/update may change; empty or nil fields
// stay as they are.
type RunUpdate struct {
	RunID   string
	Status  string
	EndTime *int64
	RunName string
}

// Batch is a log-batch request: metrics, params and tags for one run.
type Batch struct {
	RunID   string
	Metrics []Metric
	Params  []Param
	Tags    []Tag
}

// Search is a search request shared by experiments, runs, registered
// models and model versions. Filter uses MLflow's search syntax and
// OrderBy its "key [ASC|DESC]" clauses. PageToken is opaque and comes from
// a previous page.
type Search struct {
	Filter     string
	OrderBy    []string
	MaxResults int
	PageToken  string
	ViewType   ViewType
}

// RunSearch is a runs search over a set of experiments.
type RunSearch struct {
	Search
	ExperimentIDs []string
}

// HistoryRequest selects points of one metric of one run, a page at a time.
type HistoryRequest struct {
	RunID      string
	Key        string
	MaxResults int
	PageToken  string
}

// IntervalRequest selects points of one metric for several runs between
// StartStep and EndStep (inclusive, both optional), sampled down to at most
// MaxResults points per run.
type IntervalRequest struct {
	RunIDs     []string
	Key        string
	StartStep  *int64
	EndStep    *int64
	MaxResults int
}
