package store

import "context"

// RegisteredModel is a named model with versions.
type RegisteredModel struct {
	Name                 string
	CreationTimestamp    int64
	LastUpdatedTimestamp int64
	UserID               string
	Description          string
	// LatestVersions holds the newest version in each stage.
	LatestVersions []ModelVersion
	Tags           []Tag
	Aliases        []Alias
}

// Alias names one version of a registered model, as in name@alias.
type Alias struct {
	Alias   string `json:"alias"`
	Version string `json:"version"`
}

// ModelVersion is one version of a registered model.
type ModelVersion struct {
	Name                 string
	Version              string
	CreationTimestamp    int64
	LastUpdatedTimestamp int64
	UserID               string
	CurrentStage         string
	Description          string
	Source               string
	RunID                string
	RunLink              string
	Status               string
	StatusMessage        string
	Tags                 []Tag
	Aliases              []string
	// ModelID is the MLflow 3 logged model the version was registered
	// from, or "".
	ModelID string
}

// ModelVersionCreate holds the fields of a new model version. ModelID
// names the logged model it comes from, which must exist; when it is
// empty and Source is models:/<model id>, that id is taken.
type ModelVersionCreate struct {
	Name        string
	Source      string
	RunID       string
	RunLink     string
	Description string
	Tags        []Tag
	ModelID     string
}

// Registry stores registered models, their versions, tags and aliases.
type Registry interface {
	CreateRegisteredModel(ctx context.Context, name, description string, tags []Tag) (*RegisteredModel, error)
	GetRegisteredModel(ctx context.Context, name string) (*RegisteredModel, error)
	RenameRegisteredModel(ctx context.Context, name, newName string) (*RegisteredModel, error)
	UpdateRegisteredModel(ctx context.Context, name, description string) (*RegisteredModel, error)
	// DeleteRegisteredModel deletes a model with its versions, tags and
	// aliases.
	DeleteRegisteredModel(ctx context.Context, name string) error
	SearchRegisteredModels(ctx context.Context, s Search) ([]RegisteredModel, string, error)
	SetRegisteredModelTag(ctx context.Context, name string, tag Tag) error
	DeleteRegisteredModelTag(ctx context.Context, name, key string) error
	SetRegisteredModelAlias(ctx context.Context, name, alias, version string) error
	DeleteRegisteredModelAlias(ctx context.Context, name, alias string) error
	GetModelVersionByAlias(ctx context.Context, name, alias string) (*ModelVersion, error)
	// GetLatestVersions returns the newest version in each of stages, or
	// in every stage when stages is empty.
	GetLatestVersions(ctx context.Context, name string, stages []string) ([]ModelVersion, error)

	// CreateModelVersion adds the next version number of a model.
	CreateModelVersion(ctx context.Context, c ModelVersionCreate) (*ModelVersion, error)
	GetModelVersion(ctx context.Context, name, version string) (*ModelVersion, error)
	UpdateModelVersion(ctx context.Context, name, version, description string) (*ModelVersion, error)
	DeleteModelVersion(ctx context.Context, name, version string) error
	SearchModelVersions(ctx context.Context, s Search) ([]ModelVersion, string, error)
	SetModelVersionTag(ctx context.Context, name, version string, tag Tag) error
	DeleteModelVersionTag(ctx context.Context, name, version, key string) error
	// TransitionModelVersionStage moves a version to stage; with
	// archiveExisting, other versions in that stage move to Archived.
	TransitionModelVersionStage(ctx context.Context, name, version, stage string, archiveExisting bool) (*ModelVersion, error)
}
