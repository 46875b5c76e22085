package ui

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/track"
)

// MetricHistory reads metric histories; *store.SQLStore implements it.
type MetricHistory interface {
	// GetMetricHistory returns every point of one metric of one run when
	// r.MaxResults is 0, ordered by step, timestamp and value.
	GetMetricHistory(ctx context.Context, r store.HistoryRequest) ([]store.Metric, string, error)
	// GetMetricHistoryBulkInterval returns the points of a metric at up to
	// r.MaxResults steps from r.StartStep on, ordered by step; the UI uses
	// it to pick up points logged after a cached series was read.
	GetMetricHistoryBulkInterval(ctx context.Context, r store.IntervalRequest) ([]store.RunMetric, error)
	// ReduceMetricHistory returns a few points of each step bucket of a
	// metric, and its counts; the UI uses it for the first view of a
	// long series, which it then does not read whole.
	ReduceMetricHistory(ctx context.Context, r store.ReduceRequest) (*store.Reduced, error)
}

var _ MetricHistory = (*store.SQLStore)(nil)

// LargeSeries is how many points a metric needs for a step-axis view
// that finds it uncached to be reduced in the database instead of read
// whole into the cache.
const LargeSeries = 100_000

// Limits of the max_points parameter of HistoryPath.
const (
	DefaultMaxPoints = 1000
	MaxMaxPoints     = 20000
)

// History is the response of HistoryPath: the downsampled points as
// parallel arrays. Total counts every point of the metric; InRange counts
// those inside [min_x, max_x] with a finite value and NonFinite those
// there with a NaN or ±Inf value, which are left out (a chart cannot
// place them).
type History struct {
	RunID     string    `json:"run_id"`
	Key       string    `json:"metric_key"`
	Axis      string    `json:"x_axis"`
	Total     int       `json:"total"`
	InRange   int       `json:"in_range"`
	NonFinite int       `json:"non_finite"`
	X         []float64 `json:"x"`
	Y         []float64 `json:"y"`
}

// historyQuery is a parsed HistoryPath request.
type historyQuery struct {
	runID, key string
	axis       string // "step" or "time"
	maxPoints  int
	minX, maxX float64
}

// historyHandler serves GET HistoryPath?run_id=&metric_key=
// [&max_points=][&x_axis=step|time][&min_x=][&max_x=].
type historyHandler struct {
	metrics MetricHistory
	api     *track.Mux // writes errors
	log     *slog.Logger
	cache   *seriesCache
	maxAge  time.Duration
}

func (h *historyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q, err := parseHistoryQuery(r.URL.Query())
	if err != nil {
		h.api.WriteError(w, err)
		return
	}
	out, err := h.history(r.Context(), q)
	if err != nil {
		h.api.WriteError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(out); err != nil {
		h.log.Warn("write metric history", "run_id", q.runID, "key", q.key, "err", err)
	}
}

// history answers q from the cache, from a reduction in the store for
// a large uncached series on the step axis, or from a full read.
func (h *historyHandler) history(ctx context.Context, q historyQuery) (History, error) {
	id := seriesID{q.runID, q.key}
	if q.axis == "step" && h.cache.get(id) == nil {
		out, ok, err := h.reduced(ctx, q)
		if err != nil || ok {
			return out, err
		}
	}
	pts, err := h.load(ctx, id)
	if err != nil {
		return History{}, err
	}
	return downsample(q, pts), nil
}

// reduced answers q from ReduceMetricHistory, with enough buckets for
// LTTB to pick q.maxPoints from, and reports false when the series has
// fewer than LargeSeries points, so that reading it whole is cheap.
func (h *historyHandler) reduced(ctx context.Context, q historyQuery) (History, bool, error) {
	req := store.ReduceRequest{RunID: q.runID, Key: q.key, Buckets: min(q.maxPoints, store.MaxReduceBuckets),
		MinStep: stepBound(math.Ceil(q.minX)), MaxStep: stepBound(math.Floor(q.maxX))}
	red, err := h.metrics.ReduceMetricHistory(ctx, req)
	if err != nil || red.Total < LargeSeries {
		return History{}, false, err
	}
	pts := make([]sample, len(red.Points))
	for i, m := range red.Points {
		pts[i] = sample{m.Step, m.Timestamp, float64(m.Value)}
	}
	out := downsample(q, pts)
	out.Total, out.InRange, out.NonFinite = red.Total, red.InRange, red.NonFinite
	return out, true, nil
}

// stepBound returns x as a step bound, or nil when x is beyond every step.
func stepBound(x float64) *int64 {
	if x <= math.MinInt64 || x >= math.MaxInt64 {
		return nil
	}
	n := int64(x)
	return &n
}

// downsample selects the finite points of ms inside the query's range on
// its axis, counting the others there, and reduces them with LTTB.
func downsample(q historyQuery, ms []sample) History {
	out := History{RunID: q.runID, Key: q.key, Axis: q.axis, Total: len(ms)}
	pts := make([]Point, 0, len(ms))
	for _, m := range ms {
		x := float64(m.step)
		if q.axis == "time" {
			x = float64(m.time)
		}
		switch y := m.value; {
		case x < q.minX || x > q.maxX:
		case math.IsNaN(y) || math.IsInf(y, 0):
			out.NonFinite++
		default:
			pts = append(pts, Point{x, y})
		}
	}
	if q.axis == "time" {
		slices.SortStableFunc(pts, func(a, b Point) int { return cmp.Compare(a.X, b.X) })
	}
	out.InRange = len(pts)
	pts = LTTB(pts, q.maxPoints)
	out.X, out.Y = make([]float64, len(pts)), make([]float64, len(pts))
	for i, p := range pts {
		out.X[i], out.Y[i] = p.X, p.Y
	}
	return out
}

// parseHistoryQuery reads and checks the parameters of HistoryPath.
func parseHistoryQuery(v url.Values) (historyQuery, error) {
	q := historyQuery{runID: v.Get("run_id"), key: v.Get("metric_key"), axis: v.Get("x_axis"),
		maxPoints: DefaultMaxPoints, minX: math.Inf(-1), maxX: math.Inf(1)}
	if q.runID == "" {
		return q, store.Errorf(store.InvalidParameterValue, "missing value for required parameter 'run_id'")
	}
	if q.key == "" {
		return q, store.Errorf(store.InvalidParameterValue, "missing value for required parameter 'metric_key'")
	}
	switch q.axis {
	case "":
		q.axis = "step"
	case "step", "time":
	default:
		return q, store.Errorf(store.InvalidParameterValue, "invalid x_axis %q: want step or time", q.axis)
	}
	if s := v.Get("max_points"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 3 || n > MaxMaxPoints {
			return q, store.Errorf(store.InvalidParameterValue, "invalid max_points %q: want an integer from 3 to %d", s, MaxMaxPoints)
		}
		q.maxPoints = n
	}
	for _, b := range []struct {
		name string
		dst  *float64
	}{{"min_x", &q.minX}, {"max_x", &q.maxX}} {
		s := v.Get(b.name)
		if s == "" {
			continue
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) {
			return q, store.Errorf(store.InvalidParameterValue, "invalid %s %q: want a number", b.name, s)
		}
		*b.dst = f
	}
	if q.minX > q.maxX {
		return q, store.Errorf(store.InvalidParameterValue, "min_x %g is greater than max_x %g", q.minX, q.maxX)
	}
	return q, nil
}
