// Package registry serves MLflow's model registry REST API: registered
// models, their versions, tags, aliases and stages. Models are addressed
// as name@alias or name/version, and a version's download URI resolves
// runs:/ sources to the run's artifact location.
package registry

import (
	"net/http"
	"strings"

	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/track"
)

// RegisteredModel is MLflow's RegisteredModel message.
type RegisteredModel struct {
	Name                 string         `json:"name"`
	CreationTimestamp    int64          `json:"creation_timestamp,omitempty"`
	LastUpdatedTimestamp int64          `json:"last_updated_timestamp,omitempty"`
	UserID               string         `json:"user_id,omitempty"`
	Description          string         `json:"description,omitempty"`
	LatestVersions       []ModelVersion `json:"latest_versions,omitempty"`
	Tags                 []store.Tag    `json:"tags,omitempty"`
	Aliases              []store.Alias  `json:"aliases,omitempty"`
}

// ModelVersion is MLflow's ModelVersion message.
type ModelVersion struct {
	Name                 string      `json:"name"`
	Version              string      `json:"version"`
	CreationTimestamp    int64       `json:"creation_timestamp,omitempty"`
	LastUpdatedTimestamp int64       `json:"last_updated_timestamp,omitempty"`
	UserID               string      `json:"user_id,omitempty"`
	CurrentStage         string      `json:"current_stage,omitempty"`
	Description          string      `json:"description,omitempty"`
	Source               string      `json:"source,omitempty"`
	RunID                string      `json:"run_id,omitempty"`
	Status               string      `json:"status,omitempty"`
	StatusMessage        string      `json:"status_message,omitempty"`
	Tags                 []store.Tag `json:"tags,omitempty"`
	RunLink              string      `json:"run_link,omitempty"`
	Aliases              []string    `json:"aliases,omitempty"`
	ModelID              string      `json:"model_id,omitempty"`
}

func wireModel(m *store.RegisteredModel) RegisteredModel {
	return RegisteredModel{Name: m.Name, CreationTimestamp: m.CreationTimestamp, LastUpdatedTimestamp: m.LastUpdatedTimestamp,
		UserID: m.UserID, Description: m.Description, Tags: m.Tags, Aliases: m.Aliases,
		LatestVersions: track.WireAll(m.LatestVersions, wireVersion)}
}

func wireVersion(v *store.ModelVersion) ModelVersion {
	return ModelVersion{Name: v.Name, Version: v.Version, CreationTimestamp: v.CreationTimestamp, LastUpdatedTimestamp: v.LastUpdatedTimestamp,
		UserID: v.UserID, CurrentStage: v.CurrentStage, Description: v.Description, Source: v.Source, RunID: v.RunID,
		Status: v.Status, StatusMessage: v.StatusMessage, Tags: v.Tags, RunLink: v.RunLink, Aliases: v.Aliases, ModelID: v.ModelID}
}

// API serves the model registry endpoints.
type API struct {
	reg  store.Registry
	runs store.Tracking
}

// NewAPI returns the registry API over reg; runs resolves runs:/ sources.
func NewAPI(reg store.Registry, runs store.Tracking) *API { return &API{reg: reg, runs: runs} }

// Register adds the registry endpoints to m, with MLflow's methods.
func (a *API) Register(m *track.Mux) {
	m.Handle("POST", "registered-models/create", a.createModel)
	m.Handle("GET", "registered-models/get", a.getModel)
	m.Handle("POST", "registered-models/rename", a.renameModel)
	m.Handle("PATCH", "registered-models/update", a.updateModel)
	m.Handle("DELETE", "registered-models/delete", a.deleteModel)
	m.Handle("GET", "registered-models/search", a.searchModels)
	m.Handle("POST", "registered-models/get-latest-versions", a.latestVersions)
	m.Handle("GET", "registered-models/get-latest-versions", a.latestVersions)
	m.Handle("POST", "registered-models/set-tag", a.setModelTag)
	m.Handle("DELETE", "registered-models/delete-tag", a.deleteModelTag)
	m.Handle("POST", "registered-models/alias", a.setAlias)
	m.Handle("DELETE", "registered-models/alias", a.deleteAlias)
	m.Handle("GET", "registered-models/alias", a.getByAlias)

	m.Handle("POST", "model-versions/create", a.createVersion)
	m.Handle("GET", "model-versions/get", a.getVersion)
	m.Handle("PATCH", "model-versions/update", a.updateVersion)
	m.Handle("DELETE", "model-versions/delete", a.deleteVersion)
	m.Handle("GET", "model-versions/search", a.searchVersions)
	m.Handle("POST", "model-versions/set-tag", a.setVersionTag)
	m.Handle("DELETE", "model-versions/delete-tag", a.deleteVersionTag)
	m.Handle("POST", "model-versions/transition-stage", a.transitionStage)
	m.Handle("GET", "model-versions/get-download-uri", a.downloadURI)
}

type empty struct{}

// nameReq carries the fields most registry requests share.
type nameReq struct {
	Name        string      `json:"name"`
	Version     string      `json:"version"`
	Description string      `json:"description"`
	Key         string      `json:"key"`
	Value       string      `json:"value"`
	Alias       string      `json:"alias"`
	Tags        []store.Tag `json:"tags"`
}

// decode reads a request and checks that the named fields are set.
func decode(r *http.Request, v any, fields ...func() (string, string)) error {
	if err := track.Decode(r, v); err != nil {
		return err
	}
	for _, f := range fields {
		name, value := f()
		if value == "" {
			return store.Errorf(store.InvalidParameterValue, "missing value for required parameter '%s'", name)
		}
	}
	return nil
}

func (q *nameReq) name() (string, string)    { return "name", q.Name }
func (q *nameReq) version() (string, string) { return "version", q.Version }
func (q *nameReq) key() (string, string)     { return "key", q.Key }
func (q *nameReq) alias() (string, string)   { return "alias", q.Alias }

type modelResp struct {
	RegisteredModel RegisteredModel `json:"registered_model"`
}

type versionResp struct {
	ModelVersion ModelVersion `json:"model_version"`
}

// modelResult wraps a store result as a registered_model response.
func modelResult(m *store.RegisteredModel, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return modelResp{wireModel(m)}, nil
}

// versionResult wraps a store result as a model_version response.
func versionResult(v *store.ModelVersion, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return versionResp{wireVersion(v)}, nil
}

func (a *API) createModel(r *http.Request) (any, error) {
	var q nameReq
	if err := decode(r, &q, q.name); err != nil {
		return nil, err
	}
	return modelResult(a.reg.CreateRegisteredModel(r.Context(), q.Name, q.Description, q.Tags))
}

func (a *API) getModel(r *http.Request) (any, error) {
	var q nameReq
	if err := decode(r, &q, q.name); err != nil {
		return nil, err
	}
	return modelResult(a.reg.GetRegisteredModel(r.Context(), q.Name))
}

func (a *API) renameModel(r *http.Request) (any, error) {
	var q struct {
		nameReq
		NewName string `json:"new_name"`
	}
	if err := decode(r, &q, q.name, func() (string, string) { return "new_name", q.NewName }); err != nil {
		return nil, err
	}
	return modelResult(a.reg.RenameRegisteredModel(r.Context(), q.Name, q.NewName))
}

func (a *API) updateModel(r *http.Request) (any, error) {
	var q nameReq
	if err := decode(r, &q, q.name); err != nil {
		return nil, err
	}
	return modelResult(a.reg.UpdateRegisteredModel(r.Context(), q.Name, q.Description))
}

func (a *API) deleteModel(r *http.Request) (any, error) {
	var q nameReq
	if err := decode(r, &q, q.name); err != nil {
		return nil, err
	}
	return empty{}, a.reg.DeleteRegisteredModel(r.Context(), q.Name)
}

type searchReq struct {
	Filter     string    `json:"filter"`
	MaxResults store.Int `json:"max_results"`
	OrderBy    []string  `json:"order_by"`
	PageToken  string    `json:"page_token"`
}

func (q searchReq) search() store.Search {
	return store.Search{Filter: q.Filter, MaxResults: int(q.MaxResults), OrderBy: q.OrderBy, PageToken: q.PageToken}
}

func (a *API) searchModels(r *http.Request) (any, error) {
	var q searchReq
	if err := track.Decode(r, &q); err != nil {
		return nil, err
	}
	ms, token, err := a.reg.SearchRegisteredModels(r.Context(), q.search())
	if err != nil {
		return nil, err
	}
	return struct {
		RegisteredModels []RegisteredModel `json:"registered_models,omitempty"`
		NextPageToken    string            `json:"next_page_token,omitempty"`
	}{track.WireAll(ms, wireModel), token}, nil
}

type versionsResp struct {
	ModelVersions []ModelVersion `json:"model_versions,omitempty"`
	NextPageToken string         `json:"next_page_token,omitempty"`
}

func (a *API) latestVersions(r *http.Request) (any, error) {
	var q struct {
		Name   string   `json:"name"`
		Stages []string `json:"stages"`
	}
	if err := decode(r, &q, func() (string, string) { return "name", q.Name }); err != nil {
		return nil, err
	}
	vs, err := a.reg.GetLatestVersions(r.Context(), q.Name, q.Stages)
	if err != nil {
		return nil, err
	}
	return versionsResp{ModelVersions: track.WireAll(vs, wireVersion)}, nil
}

func (a *API) setModelTag(r *http.Request) (any, error) {
	var q nameReq
	if err := decode(r, &q, q.name, q.key); err != nil {
		return nil, err
	}
	return empty{}, a.reg.SetRegisteredModelTag(r.Context(), q.Name, store.Tag{Key: q.Key, Value: q.Value})
}

func (a *API) deleteModelTag(r *http.Request) (any, error) {
	var q nameReq
	if err := decode(r, &q, q.name, q.key); err != nil {
		return nil, err
	}
	return empty{}, a.reg.DeleteRegisteredModelTag(r.Context(), q.Name, q.Key)
}

func (a *API) setAlias(r *http.Request) (any, error) {
	var q nameReq
	if err := decode(r, &q, q.name, q.alias, q.version); err != nil {
		return nil, err
	}
	return empty{}, a.reg.SetRegisteredModelAlias(r.Context(), q.Name, q.Alias, q.Version)
}

func (a *API) deleteAlias(r *http.Request) (any, error) {
	var q nameReq
	if err := decode(r, &q, q.name, q.alias); err != nil {
		return nil, err
	}
	return empty{}, a.reg.DeleteRegisteredModelAlias(r.Context(), q.Name, q.Alias)
}

func (a *API) getByAlias(r *http.Request) (any, error) {
	var q nameReq
	if err := decode(r, &q, q.name, q.alias); err != nil {
		return nil, err
	}
	return versionResult(a.reg.GetModelVersionByAlias(r.Context(), q.Name, q.Alias))
}

func (a *API) createVersion(r *http.Request) (any, error) {
	var q struct {
		nameReq
		Source  string `json:"source"`
		RunID   string `json:"run_id"`
		RunLink string `json:"run_link"`
		ModelID string `json:"model_id"`
	}
	if err := decode(r, &q, q.name, func() (string, string) { return "source", q.Source }); err != nil {
		return nil, err
	}
	return versionResult(a.reg.CreateModelVersion(r.Context(), store.ModelVersionCreate{Name: q.Name, Source: q.Source,
		RunID: q.RunID, RunLink: q.RunLink, Description: q.Description, Tags: q.Tags, ModelID: q.ModelID}))
}

func (a *API) getVersion(r *http.Request) (any, error) {
	var q nameReq
	if err := decode(r, &q, q.name, q.version); err != nil {
		return nil, err
	}
	return versionResult(a.reg.GetModelVersion(r.Context(), q.Name, q.Version))
}

func (a *API) updateVersion(r *http.Request) (any, error) {
	var q nameReq
	if err := decode(r, &q, q.name, q.version); err != nil {
		return nil, err
	}
	return versionResult(a.reg.UpdateModelVersion(r.Context(), q.Name, q.Version, q.Description))
}

func (a *API) deleteVersion(r *http.Request) (any, error) {
	var q nameReq
	if err := decode(r, &q, q.name, q.version); err != nil {
		return nil, err
	}
	return empty{}, a.reg.DeleteModelVersion(r.Context(), q.Name, q.Version)
}

func (a *API) searchVersions(r *http.Request) (any, error) {
	var q searchReq
	if err := track.Decode(r, &q); err != nil {
		return nil, err
	}
	vs, token, err := a.reg.SearchModelVersions(r.Context(), q.search())
	if err != nil {
		return nil, err
	}
	return versionsResp{ModelVersions: track.WireAll(vs, wireVersion), NextPageToken: token}, nil
}

func (a *API) setVersionTag(r *http.Request) (any, error) {
	var q nameReq
	if err := decode(r, &q, q.name, q.version, q.key); err != nil {
		return nil, err
	}
	return empty{}, a.reg.SetModelVersionTag(r.Context(), q.Name, q.Version, store.Tag{Key: q.Key, Value: q.Value})
}

func (a *API) deleteVersionTag(r *http.Request) (any, error) {
	var q nameReq
	if err := decode(r, &q, q.name, q.version, q.key); err != nil {
		return nil, err
	}
	return empty{}, a.reg.DeleteModelVersionTag(r.Context(), q.Name, q.Version, q.Key)
}

func (a *API) transitionStage(r *http.Request) (any, error) {
	var q struct {
		nameReq
		Stage           string `json:"stage"`
		ArchiveExisting bool   `json:"archive_existing_versions"`
	}
	if err := decode(r, &q, q.name, q.version, func() (string, string) { return "stage", q.Stage }); err != nil {
		return nil, err
	}
	return versionResult(a.reg.TransitionModelVersionStage(r.Context(), q.Name, q.Version, q.Stage, q.ArchiveExisting))
}

func (a *API) downloadURI(r *http.Request) (any, error) {
	var q nameReq
	if err := decode(r, &q, q.name, q.version); err != nil {
		return nil, err
	}
	v, err := a.reg.GetModelVersion(r.Context(), q.Name, q.Version)
	if err != nil {
		return nil, err
	}
	uri, err := a.resolveSource(r, v.Source)
	if err != nil {
		return nil, err
	}
	return map[string]string{"artifact_uri": uri}, nil
}

// resolveSource turns runs:/<run_id>/<path> into the run's artifact URI
// joined with path and models:/<model id> into the logged model's
// artifact location; other sources are returned as they are.
func (a *API) resolveSource(r *http.Request, source string) (string, error) {
	if id := store.LoggedModelIDOf(source); id != "" {
		m, err := a.runs.GetLoggedModel(r.Context(), id)
		if err != nil {
			return "", err
		}
		return m.ArtifactLocation, nil
	}
	rest, ok := strings.CutPrefix(source, "runs:/")
	if !ok {
		return source, nil
	}
	runID, sub, _ := strings.Cut(strings.TrimPrefix(rest, "/"), "/")
	run, err := a.runs.GetRun(r.Context(), runID)
	if err != nil {
		return "", err
	}
	if sub == "" {
		return run.Info.ArtifactURI, nil
	}
	return strings.TrimRight(run.Info.ArtifactURI, "/") + "/" + sub, nil
}
