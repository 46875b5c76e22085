package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/track"
)

// EndpointPath is the path of the served-endpoint status endpoint.
const EndpointPath = "/ui-api/endpoint"

// EndpointTag is the model-version tag in which mlenv serve records the
// base URL (http://host:port) of the endpoint serving that version. The
// UI reads the endpoint's health and metrics only at URLs found there.
const EndpointTag = "mlenv.endpoint"

// Names of the serving metrics (see package serve) the status reads.
const (
	requestsMetric = "mlenv_serve_requests_total"
	errorsMetric   = "mlenv_serve_request_errors_total"
	latencyMetric  = "mlenv_serve_request_duration_seconds"
	startMetric    = "process_start_time_seconds"
)

// EndpointTimeout bounds each request the status makes to an endpoint.
const EndpointTimeout = 2 * time.Second

// maxMetricsBody bounds how much of an endpoint's /metrics is read.
const maxMetricsBody = 8 << 20

// The request rate is taken between the current and the previous reading
// of a request count when that is between minRateWindow and sampleMaxAge
// old; a younger one is kept (a rate over milliseconds says little), an
// older one dropped.
const (
	minRateWindow = time.Second
	sampleMaxAge  = 10 * time.Minute
)

// EndpointStatus is the response of EndpointPath: the health and traffic
// of the endpoint serving one model version. Counts and latencies are
// those of that version since it was loaded. Problem says why the
// endpoint is not ready or its metrics could not be read; the numbers
// are then zero. RateWindow is the span in seconds the request rate is
// measured over: between this and an earlier status call (see
// minRateWindow), or since the endpoint's process started when there was
// none.
type EndpointStatus struct {
	Name       string  `json:"name"`
	Version    string  `json:"version"`
	URL        string  `json:"url"`
	Ready      bool    `json:"ready"`
	Problem    string  `json:"problem,omitempty"`
	Requests   float64 `json:"requests"`
	Errors     float64 `json:"errors"`
	Rate       float64 `json:"request_rate"`
	RateWindow float64 `json:"rate_window_seconds"`
	P50        float64 `json:"latency_p50_seconds"`
	P99        float64 `json:"latency_p99_seconds"`
}

// ModelVersions reads registered model versions; *store.SQLStore
// implements it.
type ModelVersions interface {
	GetModelVersion(ctx context.Context, name, version string) (*store.ModelVersion, error)
}

// endpointHandler serves GET EndpointPath?name=&version=. It remembers
// the last request count it saw per endpoint and version, to measure the
// request rate between two calls.
type endpointHandler struct {
	versions ModelVersions
	api      *track.Mux // writes errors
	client   *http.Client
	mu       sync.Mutex
	samples  map[string]reading // by URL, name and version
}

// reading is a request count read from an endpoint at a time.
type reading struct {
	at       time.Time
	requests float64
}

func newEndpointHandler(versions ModelVersions, api *track.Mux) *endpointHandler {
	client := &http.Client{
		Timeout: EndpointTimeout,
		// Only the recorded URL is read, never where it redirects to.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &endpointHandler{versions: versions, api: api, client: client, samples: map[string]reading{}}
}

func (h *endpointHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, version := r.URL.Query().Get("name"), r.URL.Query().Get("version")
	if name == "" || version == "" {
		h.api.WriteError(w, store.Errorf(store.InvalidParameterValue, "missing value for required parameter 'name' or 'version'"))
		return
	}
	v, err := h.versions.GetModelVersion(r.Context(), name, version)
	if err != nil {
		h.api.WriteError(w, err)
		return
	}
	i := slices.IndexFunc(v.Tags, func(t store.Tag) bool { return t.Key == EndpointTag })
	if i < 0 {
		h.api.WriteError(w, store.Errorf(store.ResourceDoesNotExist, "model %s version %s has no %s tag: no endpoint serves it", name, version, EndpointTag))
		return
	}
	out := h.status(r.Context(), name, version, v.Tags[i].Value)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// status reads the readiness and metrics of model name at version from
// the endpoint at base.
func (h *endpointHandler) status(ctx context.Context, name, version, base string) EndpointStatus {
	out := EndpointStatus{Name: name, Version: version, URL: base}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		out.Problem = fmt.Sprintf("tag %s = %q is not an http(s) URL", EndpointTag, base)
		return out
	}
	ready := u.JoinPath("v2/models", name, "versions", version, "ready")
	resp, err := h.get(ctx, ready.String())
	if err != nil {
		out.Problem = err.Error()
		return out
	}
	resp.Body.Close()
	if out.Ready = resp.StatusCode == http.StatusOK; !out.Ready {
		out.Problem = fmt.Sprintf("GET %s: %s", ready, resp.Status)
	}
	now := time.Now()
	fams, err := h.metrics(ctx, u.JoinPath("metrics").String())
	if err != nil {
		out.Problem = err.Error()
		return out
	}
	labels := map[string]string{"model": name, "version": version}
	out.Requests = sum(fams[requestsMetric], labels)
	out.Errors = sum(fams[errorsMetric], labels)
	if m := matching(fams[latencyMetric], labels); len(m) > 0 {
		out.P50 = quantile(0.5, m[0].GetHistogram())
		out.P99 = quantile(0.99, m[0].GetHistogram())
	}
	out.Rate, out.RateWindow = h.rate(base+" "+name+" "+version, now, out.Requests, fams[startMetric])
	return out
}

// get sends GET url, naming it in errors.
func (h *endpointHandler) get(ctx context.Context, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("endpoint unreachable: %w", err)
	}
	return resp, nil
}

// metrics reads and parses the Prometheus text exposition at url.
func (h *endpointHandler) metrics(ctx context.Context, url string) (map[string]*dto.MetricFamily, error) {
	resp, err := h.get(ctx, url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(io.LimitReader(resp.Body, maxMetricsBody))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return fams, nil
}

// rate returns the request rate of the series key and the seconds it is
// measured over: since the previous reading of key, or since the process
// start the endpoint reports when there is none in range (or the counter
// was reset). It records the new reading unless the previous one is
// younger than minRateWindow, and drops stale ones.
func (h *endpointHandler) rate(key string, now time.Time, requests float64, start *dto.MetricFamily) (float64, float64) {
	h.mu.Lock()
	prev, ok := h.samples[key]
	for k, s := range h.samples {
		if now.Sub(s.at) > sampleMaxAge {
			delete(h.samples, k)
		}
	}
	window := now.Sub(prev.at)
	if !ok || window >= minRateWindow {
		h.samples[key] = reading{now, requests}
	}
	h.mu.Unlock()
	if ok && requests >= prev.requests && window >= minRateWindow && window <= sampleMaxAge {
		return (requests - prev.requests) / window.Seconds(), window.Seconds()
	}
	if start == nil || len(start.GetMetric()) == 0 {
		return 0, 0
	}
	up := float64(now.UnixMilli())/1000 - start.GetMetric()[0].GetGauge().GetValue()
	if up <= 0 {
		return 0, 0
	}
	return requests / up, up
}

// matching returns the metrics of fam whose labels include labels.
func matching(fam *dto.MetricFamily, labels map[string]string) []*dto.Metric {
	var out []*dto.Metric
	for _, m := range fam.GetMetric() {
		n := 0
		for _, l := range m.GetLabel() {
			if v, ok := labels[l.GetName()]; ok && v == l.GetValue() {
				n++
			}
		}
		if n == len(labels) {
			out = append(out, m)
		}
	}
	return out
}

// sum adds the counter values of fam's metrics matching labels.
func sum(fam *dto.MetricFamily, labels map[string]string) float64 {
	total := 0.0
	for _, m := range matching(fam, labels) {
		total += m.GetCounter().GetValue()
	}
	return total
}

// quantile estimates the q-quantile of a cumulative histogram as
// Prometheus's histogram_quantile does: linear interpolation inside the
// bucket holding the rank, the lowest bucket starting at 0. A rank past
// the last finite bucket answers that bucket's upper bound; an empty
// histogram answers 0.
func quantile(q float64, hist *dto.Histogram) float64 {
	total := float64(hist.GetSampleCount())
	if total == 0 {
		return 0
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for _, b := range hist.GetBucket() {
		upper, count := b.GetUpperBound(), float64(b.GetCumulativeCount())
		if math.IsInf(upper, 1) {
			break
		}
		if count >= rank {
			if count == below {
				return upper
			}
			return lower + (upper-lower)*(rank-below)/(count-below)
		}
		lower, below = upper, count
	}
	return lower
}
