package registry

import (
	"context"
	"net/url"
	"strconv"
	"strings"

	"github.com/mlenv/mlenv/track"
)

// Client reads the model registry of an MLflow-compatible server through
// a track.Client (sharing its connections and retries).
type Client struct {
	c *track.Client
}

// NewClient returns a registry client over c.
func NewClient(c *track.Client) *Client { return &Client{c: c} }

// SearchModels returns the registered models matching filter (MLflow
// syntax, "" for all), at most max of them, ordered by name.
func (rc *Client) SearchModels(ctx context.Context, filter string, max int) ([]RegisteredModel, error) {
	var resp struct {
		RegisteredModels []RegisteredModel `json:"registered_models"`
	}
	q := url.Values{"max_results": {strconv.Itoa(max)}}
	if filter != "" {
		q.Set("filter", filter)
	}
	err := rc.c.Do(ctx, "GET", "registered-models/search", q, &resp)
	return resp.RegisteredModels, err
}

// GetModel returns the registered model named name.
func (rc *Client) GetModel(ctx context.Context, name string) (*RegisteredModel, error) {
	var resp modelResp
	err := rc.c.Do(ctx, "GET", "registered-models/get", url.Values{"name": {name}}, &resp)
	return &resp.RegisteredModel, err
}

// GetVersion returns version of model name.
func (rc *Client) GetVersion(ctx context.Context, name, version string) (*ModelVersion, error) {
	var resp versionResp
	err := rc.c.Do(ctx, "GET", "model-versions/get", url.Values{"name": {name}, "version": {version}}, &resp)
	return &resp.ModelVersion, err
}

// GetVersionByAlias returns the version of model name that alias points
// to.
func (rc *Client) GetVersionByAlias(ctx context.Context, name, alias string) (*ModelVersion, error) {
	var resp versionResp
	err := rc.c.Do(ctx, "GET", "registered-models/alias", url.Values{"name": {name}, "alias": {alias}}, &resp)
	return &resp.ModelVersion, err
}

// SearchVersions returns the versions of model name, newest first.
func (rc *Client) SearchVersions(ctx context.Context, name string) ([]ModelVersion, error) {
	var resp versionsResp
	err := rc.c.Do(ctx, "GET", "model-versions/search", url.Values{"filter": {"name = " + quote(name)}}, &resp)
	return resp.ModelVersions, err
}

// quote writes s as a filter string literal.
func quote(s string) string {
	if strings.Contains(s, "'") {
		return `"` + s + `"`
	}
	return "'" + s + "'"
}
