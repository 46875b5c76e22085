package track

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/mlenv/mlenv/store"
)

// ClientOptions configure a Client. The zero value is valid.
type ClientOptions struct {
	// HTTPClient is used for every request; nil means a client with its
	// own keep-alive transport.
	HTTPClient *http.Client
	// Retries is how many times a failed request is retried; 0 means 5,
	// a negative value none.
	Retries int
	// Backoff is the first retry delay, doubled (with jitter) per retry up
	// to 10 s; 0 means 100 ms.
	Backoff time.Duration
}

// Client is a Go client of an MLflow-compatible tracking server (mlenv's
// or MLflow's own). It keeps connections alive and retries requests that
// failed with a connection error, 429 or 5xx, with exponential backoff.
// Retried writes are safe: log-batch ignores exact duplicate points and
// equal params. It is safe for concurrent use.
type Client struct {
	base    string
	hc      *http.Client
	retries int
	backoff time.Duration
}

// NewClient returns a client of the server at uri, such as
// http://127.0.0.1:5000.
func NewClient(uri string, opts ClientOptions) (*Client, error) {
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("tracking URI %q: want http://host:port or https://host:port", uri)
	}
	c := &Client{base: strings.TrimRight(uri, "/"), hc: opts.HTTPClient, retries: opts.Retries, backoff: opts.Backoff}
	if c.hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		c.hc = &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	}
	if c.retries == 0 {
		c.retries = 5
	}
	if c.backoff == 0 {
		c.backoff = 100 * time.Millisecond
	}
	return c, nil
}

// URI returns the server's base URI.
func (c *Client) URI() string { return c.base }

// Do sends an API request and decodes the response into resp (unless
// nil). path is relative to /api/2.0/mlflow/, such as "runs/get". For GET,
// req must be url.Values; otherwise it is sent as JSON. Server errors are
// returned as *store.Error with the server's code.
func (c *Client) Do(ctx context.Context, method, path string, req, resp any) error {
	u := c.base + Prefixes[0] + path
	var body []byte
	if method == http.MethodGet {
		if q, ok := req.(url.Values); ok && len(q) > 0 {
			u += "?" + q.Encode()
		}
	} else if req != nil {
		var err error
		if body, err = json.Marshal(req); err != nil {
			return fmt.Errorf("encode %s request: %w", path, err)
		}
	}
	delay := c.backoff
	for attempt := 0; ; attempt++ {
		raw, status, err := c.send(ctx, method, u, body)
		if err == nil && status == http.StatusOK {
			if resp == nil {
				return nil
			}
			if err := json.Unmarshal(raw, resp); err != nil {
				return fmt.Errorf("decode %s response: %w", path, err)
			}
			return nil
		}
		if err == nil {
			err = apiError(path, status, raw)
		}
		if !retryable(status, err) || attempt >= c.retries || ctx.Err() != nil {
			return err
		}
		sleep := delay/2 + rand.N(delay/2+1)
		select {
		case <-time.After(sleep):
		case <-ctx.Done():
			return err
		}
		delay = min(2*delay, 10*time.Second)
	}
}

func (c *Client) send(ctx context.Context, method, u string, body []byte) ([]byte, int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	return raw, res.StatusCode, err
}

// apiError turns an error response into a *store.Error.
func apiError(path string, status int, raw []byte) error {
	var e struct {
		ErrorCode store.Code `json:"error_code"`
		Message   string     `json:"message"`
	}
	if json.Unmarshal(raw, &e) != nil || e.ErrorCode == "" {
		e.ErrorCode, e.Message = codeOfStatus(status), strings.TrimSpace(string(raw))
	}
	return &store.Error{Code: e.ErrorCode, Message: fmt.Sprintf("%s: %s (HTTP %d)", path, e.Message, status)}
}

// codeOfStatus guesses the MLflow code of an error response that did
// not carry one (a proxy's, say), as MLflow's client does.
func codeOfStatus(status int) store.Code {
	switch status {
	case http.StatusBadRequest:
		return store.BadRequest
	case http.StatusNotFound:
		return store.EndpointNotFound
	case http.StatusTooManyRequests:
		return store.RequestLimitExceeded
	case http.StatusServiceUnavailable:
		return store.TemporarilyUnavailable
	}
	return store.InternalError
}

// retryable reports whether a request that got status or err may succeed
// when sent again.
func retryable(status int, err error) bool {
	if status == http.StatusTooManyRequests || status >= 500 {
		return true
	}
	if status != 0 {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "connection refused")
}

// CreateExperiment creates an experiment and returns its id.
func (c *Client) CreateExperiment(ctx context.Context, name string) (string, error) {
	var resp struct {
		ExperimentID string `json:"experiment_id"`
	}
	err := c.Do(ctx, "POST", "experiments/create", map[string]string{"name": name}, &resp)
	return resp.ExperimentID, err
}

// GetExperimentByName returns the experiment named name.
func (c *Client) GetExperimentByName(ctx context.Context, name string) (*Experiment, error) {
	var resp experimentResp
	err := c.Do(ctx, "GET", "experiments/get-by-name", url.Values{"experiment_name": {name}}, &resp)
	return &resp.Experiment, err
}

// CreateRun starts a run.
func (c *Client) CreateRun(ctx context.Context, r store.RunCreate) (*store.Run, error) {
	var resp runResp
	req := map[string]any{"experiment_id": r.ExperimentID, "run_name": r.RunName, "user_id": r.UserID, "start_time": r.StartTime, "tags": r.Tags}
	if err := c.Do(ctx, "POST", "runs/create", req, &resp); err != nil {
		return nil, err
	}
	run := resp.Run.toStore()
	return &run, nil
}

// GetRun returns a run with its latest metrics, params and tags.
func (c *Client) GetRun(ctx context.Context, runID string) (*store.Run, error) {
	var resp runResp
	if err := c.Do(ctx, "GET", "runs/get", url.Values{"run_id": {runID}}, &resp); err != nil {
		return nil, err
	}
	run := resp.Run.toStore()
	return &run, nil
}

// EndRun sets a run's status (FINISHED, FAILED or KILLED) and end time.
func (c *Client) EndRun(ctx context.Context, runID, status string) error {
	return c.Do(ctx, "POST", "runs/update", map[string]any{"run_id": runID, "status": status, "end_time": time.Now().UnixMilli()}, nil)
}

// LogBatch logs metrics, params and tags of one run in one request; the
// caller keeps to MLflow's limits (1000 metrics, 100 params, 100 tags).
func (c *Client) LogBatch(ctx context.Context, b store.Batch) error {
	req := struct {
		RunID   string         `json:"run_id"`
		Metrics []store.Metric `json:"metrics,omitempty"`
		Params  []store.Param  `json:"params,omitempty"`
		Tags    []store.Tag    `json:"tags,omitempty"`
	}{b.RunID, b.Metrics, b.Params, b.Tags}
	return c.Do(ctx, "POST", "runs/log-batch", req, nil)
}

// SearchRuns returns one page of runs and the next page's token.
func (c *Client) SearchRuns(ctx context.Context, s store.RunSearch) ([]store.Run, string, error) {
	req := map[string]any{"experiment_ids": s.ExperimentIDs, "filter": s.Filter, "order_by": s.OrderBy,
		"max_results": s.MaxResults, "page_token": s.PageToken, "run_view_type": viewTypeName(s.ViewType)}
	var resp struct {
		Runs          []Run  `json:"runs"`
		NextPageToken string `json:"next_page_token"`
	}
	if err := c.Do(ctx, "POST", "runs/search", req, &resp); err != nil {
		return nil, "", err
	}
	out := make([]store.Run, len(resp.Runs))
	for i := range resp.Runs {
		out[i] = resp.Runs[i].toStore()
	}
	return out, resp.NextPageToken, nil
}

func viewTypeName(v store.ViewType) string {
	return [...]string{"ACTIVE_ONLY", "DELETED_ONLY", "ALL"}[v]
}

// GetMetricHistory returns every point of one metric of a run.
func (c *Client) GetMetricHistory(ctx context.Context, runID, key string) ([]store.Metric, error) {
	var resp struct {
		Metrics []store.Metric `json:"metrics"`
	}
	err := c.Do(ctx, "GET", "metrics/get-history", url.Values{"run_id": {runID}, "metric_key": {key}}, &resp)
	return resp.Metrics, err
}

// artifactURL returns the artifact proxy URL of the artifact at p, a path
// relative to the proxy's root such as "1/RUN_ID/artifacts/model/model.json"
// (what follows "mlflow-artifacts:/" in a run's artifact URI).
func (c *Client) artifactURL(p string) string {
	return c.base + "/api/2.0/mlflow-artifacts/artifacts/" + (&url.URL{Path: strings.TrimPrefix(p, "/")}).EscapedPath()
}

// UploadArtifact stores the local file as the proxied artifact at p (see
// DownloadArtifact for the form of p). It is not retried: the body is a
// stream.
func (c *Client) UploadArtifact(ctx context.Context, p, file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	res, err := c.artifactDo(ctx, http.MethodPut, "upload", p, f)
	if err != nil {
		return err
	}
	return res.Body.Close()
}

// DeleteArtifact removes the proxied artifact at p (see DownloadArtifact
// for the form of p), as MLflow's artifact proxy does for DELETE; a
// directory is removed with everything under it.
func (c *Client) DeleteArtifact(ctx context.Context, p string) error {
	res, err := c.artifactDo(ctx, http.MethodDelete, "delete", p, nil)
	if err != nil {
		return err
	}
	return res.Body.Close()
}

// DownloadArtifact copies the proxied artifact at p into the local file,
// creating or truncating it. p is relative to the artifact proxy's root:
// what follows "mlflow-artifacts:/" in a run's or model version's
// artifact URI, joined with the artifact's path under it.
func (c *Client) DownloadArtifact(ctx context.Context, p, file string) error {
	res, err := c.artifactDo(ctx, http.MethodGet, "download", p, nil)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	out, err := os.Create(file)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, res.Body)
	return errors.Join(err, out.Close())
}

// artifactDo sends a request with method and body to the artifact proxy
// for the artifact at p and returns the response if its status is 2xx;
// the caller closes its body. verb names the operation in errors.
func (c *Client) artifactDo(ctx context.Context, method, verb, p string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.artifactURL(p), body)
	if err != nil {
		return nil, err
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s artifact %s: %w", verb, p, err)
	}
	if res.StatusCode/100 != 2 {
		raw, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		res.Body.Close()
		return nil, fmt.Errorf("%s artifact: %w", verb, apiError(p, res.StatusCode, raw))
	}
	return res, nil
}
