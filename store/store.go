package store

import "context"

// Store is the persistence interface of the tracking server. All methods
// are safe for concurrent use. Failures a client can cause are *Error
// values with an MLflow code; anything else is an internal error.
type Store interface {
	Tracking
	Registry
	// Close stops the writer, waiting for acknowledged writes, and closes
	// the database.
	Close() error
}

// Tracking stores experiments, runs, params, tags, metrics and logged
// models.
type Tracking interface {
	LoggedModels

	// CreateExperiment creates an experiment and returns its id. An empty
	// artifactLocation means the default location for the new id.
	CreateExperiment(ctx context.Context, name, artifactLocation string, tags []Tag) (string, error)
	GetExperiment(ctx context.Context, id string) (*Experiment, error)
	GetExperimentByName(ctx context.Context, name string) (*Experiment, error)
	// SearchExperiments returns one page of experiments and the token of
	// the next page ("" on the last page).
	SearchExperiments(ctx context.Context, s Search) ([]Experiment, string, error)
	RenameExperiment(ctx context.Context, id, newName string) error
	// DeleteExperiment marks an experiment and its runs deleted;
	// RestoreExperiment undoes it.
	DeleteExperiment(ctx context.Context, id string) error
	RestoreExperiment(ctx context.Context, id string) error
	SetExperimentTag(ctx context.Context, id string, tag Tag) error
	DeleteExperimentTag(ctx context.Context, id, key string) error

	CreateRun(ctx context.Context, r RunCreate) (*Run, error)
	GetRun(ctx context.Context, runID string) (*Run, error)
	UpdateRun(ctx context.Context, u RunUpdate) (*RunInfo, error)
	DeleteRun(ctx context.Context, runID string) error
	RestoreRun(ctx context.Context, runID string) error
	// LogBatch logs metrics, params and tags to an active run atomically.
	// Params are immutable: logging a param again with another value fails
	// with InvalidParameterValue. Metrics naming a model_id are linked to
	// that logged model too, which must exist.
	LogBatch(ctx context.Context, b Batch) error
	DeleteTag(ctx context.Context, runID, key string) error
	// LogInputs records the data sets and models a run used.
	LogInputs(ctx context.Context, runID string, datasets []DatasetInput, models []ModelInput) error
	// SearchRuns returns one page of runs and the token of the next page.
	SearchRuns(ctx context.Context, s RunSearch) ([]Run, string, error)
	// GetMetricHistory returns the points of one metric ordered by step,
	// timestamp and value, a page at a time.
	GetMetricHistory(ctx context.Context, r HistoryRequest) ([]Metric, string, error)
	GetMetricHistoryBulkInterval(ctx context.Context, r IntervalRequest) ([]RunMetric, error)
	// ReduceMetricHistory reduces one metric to a few points per step
	// bucket in the database, for charts of long series.
	ReduceMetricHistory(ctx context.Context, r ReduceRequest) (*Reduced, error)
}
