package ui

import (
	"cmp"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/mlenv/mlenv/store"
)

// fakeHistory serves one run's metrics from memory, kept ordered by step
// and timestamp, and counts full reads.
type fakeHistory struct {
	runID     string
	points    map[string][]store.Metric
	fullReads int
}

// GetModelVersion finds no version: the fake registry is empty.
func (f *fakeHistory) GetModelVersion(_ context.Context, name, version string) (*store.ModelVersion, error) {
	return nil, store.Errorf(store.ResourceDoesNotExist, "model version %s/%s not found", name, version)
}

func (f *fakeHistory) GetMetricHistory(_ context.Context, r store.HistoryRequest) ([]store.Metric, string, error) {
	if r.RunID != f.runID {
		return nil, "", store.Errorf(store.ResourceDoesNotExist, "run %q not found", r.RunID)
	}
	if r.MaxResults != 0 || r.PageToken != "" {
		return nil, "", store.Errorf(store.InvalidParameterValue, "want every point in one call")
	}
	f.fullReads++
	return slices.Clone(f.points[r.Key]), "", nil
}

// GetMetricHistoryBulkInterval returns the points from r.StartStep on at
// the first r.MaxResults-1 distinct steps and the last one, as the store
// samples long ranges.
func (f *fakeHistory) GetMetricHistoryBulkInterval(_ context.Context, r store.IntervalRequest) ([]store.RunMetric, error) {
	if len(r.RunIDs) != 1 || r.RunIDs[0] != f.runID || r.StartStep == nil || r.EndStep != nil {
		return nil, store.Errorf(store.InvalidParameterValue, "unexpected interval request %+v", r)
	}
	var steps []int64
	for _, m := range f.points[r.Key] {
		if m.Step >= *r.StartStep && (len(steps) == 0 || steps[len(steps)-1] != m.Step) {
			steps = append(steps, m.Step)
		}
	}
	if len(steps) > r.MaxResults {
		steps = append(steps[:r.MaxResults-1], steps[len(steps)-1])
	}
	var out []store.RunMetric
	for _, m := range f.points[r.Key] {
		if slices.Contains(steps, m.Step) {
			out = append(out, store.RunMetric{Metric: m, RunID: f.runID})
		}
	}
	return out, nil
}

// ReduceMetricHistory reports only the metric's total: the fakes stay
// below LargeSeries, so the handler goes on to read them whole.
func (f *fakeHistory) ReduceMetricHistory(_ context.Context, r store.ReduceRequest) (*store.Reduced, error) {
	if r.RunID != f.runID {
		return nil, store.Errorf(store.ResourceDoesNotExist, "run %q not found", r.RunID)
	}
	return &store.Reduced{Total: len(f.points[r.Key])}, nil
}

// log adds points to metric key in order.
func (f *fakeHistory) log(key string, ms ...store.Metric) {
	f.points[key] = append(f.points[key], ms...)
	slices.SortFunc(f.points[key], func(a, b store.Metric) int {
		return cmp.Or(cmp.Compare(a.Step, b.Step), cmp.Compare(a.Timestamp, b.Timestamp))
	})
}

// newFake returns a run with metric "loss" of n points at steps 0..n-1,
// timestamps counting down from 1e6 (so time order reverses step order),
// and NaN at every 1000th step.
func newFake(n int) *fakeHistory {
	ms := make([]store.Metric, n)
	for i := range ms {
		v := float64(i % 97)
		if i%1000 == 999 {
			v = math.NaN()
		}
		ms[i] = store.Metric{Key: "loss", Value: store.Float(v), Step: int64(i), Timestamp: 1_000_000 - int64(i)}
	}
	return &fakeHistory{runID: "r1", points: map[string][]store.Metric{"loss": ms}}
}

func get(t *testing.T, h http.Handler, target string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
	return w
}

func history(t *testing.T, h http.Handler, query string) History {
	t.Helper()
	w := get(t, h, HistoryPath+"?"+query)
	if w.Code != http.StatusOK {
		t.Fatalf("%s: status %d: %s", query, w.Code, w.Body)
	}
	var out History
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestHistoryDownsamples(t *testing.T) {
	h := Handler(newFake(10_000), nil)
	got := history(t, h, "run_id=r1&metric_key=loss&max_points=500")
	if got.Total != 10_000 || got.NonFinite != 10 || got.InRange != 9_990 {
		t.Errorf("total/non_finite/in_range = %d/%d/%d, want 10000/10/9990", got.Total, got.NonFinite, got.InRange)
	}
	if len(got.X) != 500 || len(got.Y) != 500 {
		t.Fatalf("got %d/%d points, want 500", len(got.X), len(got.Y))
	}
	if got.X[0] != 0 || got.X[499] != 9_998 {
		t.Errorf("first/last step = %g/%g, want 0 and 9998 (9999 is NaN)", got.X[0], got.X[499])
	}
	if got.Axis != "step" {
		t.Errorf("x_axis = %q, want step by default", got.Axis)
	}

	got = history(t, h, "run_id=r1&metric_key=loss&min_x=100&max_x=199")
	if got.InRange != 100 || len(got.X) != 100 || got.X[0] != 100 || got.X[99] != 199 {
		t.Errorf("range 100..199: in_range %d, %d points from %g to %g; want all 100", got.InRange, len(got.X), got.X[0], got.X[len(got.X)-1])
	}
	// Non-finite values are counted where they fall in the range.
	got = history(t, h, "run_id=r1&metric_key=loss&min_x=900&max_x=1099")
	if got.Total != 10_000 || got.NonFinite != 1 || got.InRange != 199 {
		t.Errorf("range 900..1099: total/non_finite/in_range = %d/%d/%d, want 10000/1/199", got.Total, got.NonFinite, got.InRange)
	}

	got = history(t, h, "run_id=r1&metric_key=loss&x_axis=time&max_points=3")
	if len(got.X) != 3 || got.X[0] != 1_000_000-9_998 || got.X[2] != 1_000_000 {
		t.Errorf("time axis: x = %v, want ordered timestamps from %d to 1000000", got.X, 1_000_000-9_998)
	}

	if got = history(t, h, "run_id=r1&metric_key=absent"); got.Total != 0 || len(got.X) != 0 {
		t.Errorf("absent metric: %+v, want no points", got)
	}
}

func TestHistoryErrors(t *testing.T) {
	h := Handler(newFake(10), nil)
	for _, c := range []struct {
		query, want string
		status      int
	}{
		{"metric_key=loss", "'run_id'", 400},
		{"run_id=r1", "'metric_key'", 400},
		{"run_id=r1&metric_key=loss&max_points=2", "max_points", 400},
		{"run_id=r1&metric_key=loss&max_points=x", "max_points", 400},
		{"run_id=r1&metric_key=loss&x_axis=epoch", "x_axis", 400},
		{"run_id=r1&metric_key=loss&min_x=NaN", "min_x", 400},
		{"run_id=r1&metric_key=loss&min_x=5&max_x=1", "greater than max_x", 400},
		{"run_id=nope&metric_key=loss", `run "nope" not found`, 404},
	} {
		w := get(t, h, HistoryPath+"?"+c.query)
		var body struct{ ErrorCode, Message string }
		json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != c.status || !strings.Contains(body.Message, c.want) {
			t.Errorf("%s: %d %q, want %d mentioning %q", c.query, w.Code, body.Message, c.status, c.want)
		}
	}
}

func TestPagesAndAssets(t *testing.T) {
	h := Handler(newFake(1), nil)
	w := get(t, h, "/")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `src="static/app.js"`) {
		t.Fatalf("index: %d %q", w.Code, w.Body.String())
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("index CSP = %q", csp)
	}
	for _, f := range []string{"app.js", "chart.js", "plots.js", "run.js", "runs.js", "compare.js", "models.js", "util.js", "style.css"} {
		w := get(t, h, "/static/"+f)
		if w.Code != 200 || w.Body.Len() == 0 {
			t.Errorf("/static/%s: status %d, %d bytes", f, w.Code, w.Body.Len())
		}
	}
	if ct := get(t, h, "/static/app.js").Header().Get("Content-Type"); !strings.Contains(ct, "javascript") {
		t.Errorf("app.js served as %q; module scripts need a JavaScript type", ct)
	}
	for _, p := range []string{"/", "/static/app.js"} {
		etag := get(t, h, p).Header().Get("ETag")
		r := httptest.NewRequest(http.MethodGet, p, nil)
		r.Header.Set("If-None-Match", etag)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if etag == "" || w.Code != http.StatusNotModified {
			t.Errorf("%s with If-None-Match %s: status %d, want 304", p, etag, w.Code)
		}
	}
	if w := get(t, h, "/static/missing.js"); w.Code != 404 {
		t.Errorf("missing asset: status %d, want 404", w.Code)
	}
	if w := get(t, h, "/elsewhere"); w.Code != 404 {
		t.Errorf("unknown path: status %d, want 404", w.Code)
	}
	if w := get(t, h, "/ajax-api/2.0/mlflow/runs/get?run_id=r1"); w.Code != 404 || !strings.Contains(w.Body.String(), "ENDPOINT_NOT_FOUND") {
		t.Errorf("API path without the API mounted: %d %s, want 404 ENDPOINT_NOT_FOUND", w.Code, w.Body)
	}
}

func TestHistoryCache(t *testing.T) {
	f := newFake(100)
	h := Handler(f, nil)
	q := "run_id=r1&metric_key=loss&max_points=5000"
	history(t, h, q)
	if got := history(t, h, q); got.Total != 100 || f.fullReads != 1 {
		t.Fatalf("second request: %d points after %d full reads, want 100 after 1", got.Total, f.fullReads)
	}

	// Points at new steps are appended without a full read.
	f.log("loss", store.Metric{Key: "loss", Value: 7, Step: 100, Timestamp: 5}, store.Metric{Key: "loss", Value: 8, Step: 150, Timestamp: 6})
	got := history(t, h, q)
	if got.Total != 102 || got.X[len(got.X)-1] != 150 || got.Y[len(got.Y)-1] != 8 || f.fullReads != 1 {
		t.Errorf("after logging 2 points: total %d, last (%g, %g), %d full reads; want 102, (150, 8), 1",
			got.Total, got.X[len(got.X)-1], got.Y[len(got.Y)-1], f.fullReads)
	}

	// Another point at the last cached step forces a full read.
	f.log("loss", store.Metric{Key: "loss", Value: 9, Step: 150, Timestamp: 7})
	if got := history(t, h, q); got.Total != 103 || f.fullReads != 2 {
		t.Errorf("after a point at the last step: total %d after %d full reads, want 103 after 2", got.Total, f.fullReads)
	}

	// A tail longer than one interval read reloads the series.
	for i := range 2 * tailSteps {
		f.log("loss", store.Metric{Key: "loss", Value: 1, Step: int64(1000 + i), Timestamp: 8})
	}
	if got := history(t, h, q); got.Total != 103+2*tailSteps || f.fullReads != 3 {
		t.Errorf("after a long tail: total %d after %d full reads, want %d after 3", got.Total, f.fullReads, 103+2*tailSteps)
	}
}

func TestSeriesCacheEvicts(t *testing.T) {
	c := newSeriesCache(10)
	put := func(run string, n int) { c.put(&series{id: seriesID{run, "k"}, points: make([]sample, n)}) }
	put("a", 4)
	put("b", 4)
	c.get(seriesID{"a", "k"}) // a is now the most recently used
	put("c", 4)
	if c.get(seriesID{"b", "k"}) != nil || c.get(seriesID{"a", "k"}) == nil || c.get(seriesID{"c", "k"}) == nil || c.used != 8 {
		t.Errorf("after overflowing the budget: used %d, entries %v; want b evicted, 8 used", c.used, c.entries)
	}
	put("a", 6) // replacing a series updates the count
	if c.used != 10 {
		t.Errorf("after replacing a: used %d, want 10", c.used)
	}
	put("huge", 11)
	if c.get(seriesID{"huge", "k"}) != nil || c.used != 10 {
		t.Errorf("a series over the budget was kept (used %d)", c.used)
	}
}
