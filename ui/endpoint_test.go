package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/mlenv/mlenv/store"
	"github.com/mlenv/mlenv/track"
)

// fakeVersions holds model versions by "name/version", with their tags.
type fakeVersions struct {
	fakeHistory
	tags map[string][]store.Tag
}

func (f *fakeVersions) GetModelVersion(_ context.Context, name, version string) (*store.ModelVersion, error) {
	tags, ok := f.tags[name+"/"+version]
	if !ok {
		return nil, store.Errorf(store.ResourceDoesNotExist, "model version %s/%s not found", name, version)
	}
	return &store.ModelVersion{Name: name, Version: version, Tags: tags}, nil
}

// fakeEndpoint serves version 1 of model m as ready, and metrics where m/1
// has answered requests (which the test may raise) with two kinds of
// failure and latencies of 10 ms (2 requests) and 30 ms (8), next to
// another version's series. The process started 100 s ago.
func fakeEndpoint(t *testing.T, requests *atomic.Int64) *httptest.Server {
	start := float64(time.Now().Add(-100*time.Second).UnixMilli()) / 1000
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/models/m/versions/1/ready", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `# TYPE mlenv_serve_requests_total counter
mlenv_serve_requests_total{model="m",version="1"} %d
mlenv_serve_requests_total{model="m",version="2"} 500
# TYPE mlenv_serve_request_errors_total counter
mlenv_serve_request_errors_total{code="400",model="m",version="1"} 3
mlenv_serve_request_errors_total{code="429",model="m",version="1"} 1
# TYPE mlenv_serve_request_duration_seconds histogram
mlenv_serve_request_duration_seconds_bucket{model="m",version="1",le="0.01"} 2
mlenv_serve_request_duration_seconds_bucket{model="m",version="1",le="0.04"} 10
mlenv_serve_request_duration_seconds_bucket{model="m",version="1",le="+Inf"} 10
mlenv_serve_request_duration_seconds_sum{model="m",version="1"} 0.26
mlenv_serve_request_duration_seconds_count{model="m",version="1"} 10
# TYPE process_start_time_seconds gauge
process_start_time_seconds %.3f
`, requests.Load(), start)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func endpointStatus(t *testing.T, h http.Handler, query string, wantStatus int) EndpointStatus {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", EndpointPath+"?"+query, nil))
	if rec.Code != wantStatus {
		t.Fatalf("GET %s?%s: status %d, want %d: %s", EndpointPath, query, rec.Code, wantStatus, rec.Body)
	}
	var st EndpointStatus
	if wantStatus == http.StatusOK {
		if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func TestEndpointStatus(t *testing.T) {
	var requests atomic.Int64
	requests.Store(10)
	ep := fakeEndpoint(t, &requests)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	h := newEndpointHandler(&fakeVersions{tags: map[string][]store.Tag{
		"m/1":    {{Key: "other", Value: "x"}, {Key: EndpointTag, Value: ep.URL}},
		"m/2":    {{Key: EndpointTag, Value: ep.URL}},
		"m/3":    nil,
		"down/1": {{Key: EndpointTag, Value: down.URL}},
		"bad/1":  {{Key: EndpointTag, Value: "file:///etc/passwd"}},
	}}, track.NewMux(http.NewServeMux(), nil))

	st := endpointStatus(t, h, "name=m&version=1", http.StatusOK)
	if !st.Ready || st.Problem != "" || st.URL != ep.URL || st.Requests != 10 || st.Errors != 4 {
		t.Errorf("first status: %+v; want ready, 10 requests, 4 errors", st)
	}
	// Rank 5 of 10 lies 3/8 into the (0.01, 0.04] bucket, rank 9.9 7.9/8.
	if math.Abs(st.P50-0.02125) > 1e-9 || math.Abs(st.P99-0.039625) > 1e-9 {
		t.Errorf("p50, p99 = %g, %g; want 0.02125, 0.039625", st.P50, st.P99)
	}
	// No earlier sample: the rate is taken since the process started.
	if st.RateWindow < 99 || st.RateWindow > 1000 || math.Abs(st.Rate*st.RateWindow-10) > 1e-6 {
		t.Errorf("first rate %g over %g s; want 10 requests since the start 100 s ago", st.Rate, st.RateWindow)
	}

	// A reading right after the first is too close to measure over.
	requests.Store(20)
	if st := endpointStatus(t, h, "name=m&version=1", http.StatusOK); st.RateWindow < 99 {
		t.Errorf("rate over %g s right after the first status; want it since the start", st.RateWindow)
	}
	// The first reading, moved 10 s back, is the one measured from.
	for k, r := range h.samples {
		h.samples[k] = reading{r.at.Add(-10 * time.Second), r.requests}
	}
	requests.Store(30)
	st = endpointStatus(t, h, "name=m&version=1", http.StatusOK)
	if st.RateWindow < 10 || st.RateWindow >= 99 || math.Abs(st.Rate*st.RateWindow-20) > 1e-6 {
		t.Errorf("rate %g over %g s; want the 20 requests since the first status 10 s ago", st.Rate, st.RateWindow)
	}

	if st := endpointStatus(t, h, "name=m&version=2", http.StatusOK); st.Ready || !strings.Contains(st.Problem, "404") {
		t.Errorf("version the endpoint does not serve: %+v; want not ready", st)
	}
	if st := endpointStatus(t, h, "name=down&version=1", http.StatusOK); st.Ready || !strings.Contains(st.Problem, "unreachable") {
		t.Errorf("endpoint down: %+v; want not ready, unreachable", st)
	}
	if st := endpointStatus(t, h, "name=bad&version=1", http.StatusOK); st.Ready || !strings.Contains(st.Problem, "not an http(s) URL") {
		t.Errorf("file URL in the tag: %+v; want it refused", st)
	}
	endpointStatus(t, h, "name=m&version=3", http.StatusNotFound)
	endpointStatus(t, h, "name=m&version=9", http.StatusNotFound)
	endpointStatus(t, h, "name=m", http.StatusBadRequest)
}

func TestQuantile(t *testing.T) {
	hist := func(count uint64, buckets ...float64) *dto.Histogram {
		h := &dto.Histogram{SampleCount: proto.Uint64(count)}
		for i := 0; i < len(buckets); i += 2 {
			h.Bucket = append(h.Bucket, &dto.Bucket{UpperBound: proto.Float64(buckets[i]), CumulativeCount: proto.Uint64(uint64(buckets[i+1]))})
		}
		return h
	}
	for _, c := range []struct {
		name string
		q    float64
		h    *dto.Histogram
		want float64
	}{
		{"first bucket from 0", 0.5, hist(4, 1, 4, math.Inf(1), 4), 0.5},
		{"interpolated", 0.5, hist(10, 0.1, 2, 0.2, 6, 0.4, 10), 0.175},
		{"past the finite buckets", 0.99, hist(10, 0.1, 2, math.Inf(1), 10), 0.1},
		{"empty", 0.5, hist(0, 0.1, 0), 0},
	} {
		if got := quantile(c.q, c.h); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: quantile(%g) = %g, want %g", c.name, c.q, got, c.want)
		}
	}
}
