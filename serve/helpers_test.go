package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/mlenv/mlenv/serve/inferencepb"
)

// linear is a test model computing y = W x + b for x of shape [rows, 3] and
// y of shape [rows, 2], recording the rows of every Infer call. An x row
// whose first value is panicValue makes Infer panic. When gate is set,
// Infer announces itself on entered and waits for gate to close.
type linear struct {
	version string
	w       [2][3]float32
	b       [2]float32

	entered chan struct{}
	gate    chan struct{}

	mu      sync.Mutex
	batches []int     // rows per Infer call
	seen    []float32 // first value of every row run
}

const panicValue = 666

func newLinear(version string, bias float32) *linear {
	return &linear{version: version, w: [2][3]float32{{1, 2, 3}, {-1, 0, 1}}, b: [2]float32{bias, -bias}}
}

func (m *linear) Metadata() Metadata {
	return Metadata{
		Name: "linear", Version: m.version, Platform: "go-test",
		Inputs:  []TensorSpec{{Name: "x", Datatype: FP32, Shape: []int64{-1, 3}}},
		Outputs: []TensorSpec{{Name: "y", Datatype: FP32, Shape: []int64{-1, 2}}},
	}
}

func (m *linear) Infer(_ context.Context, inputs []Tensor) ([]Tensor, error) {
	if m.gate != nil {
		m.entered <- struct{}{}
		<-m.gate
	}
	x := inputs[0].Data.([]float32)
	rows := len(x) / 3
	m.mu.Lock()
	m.batches = append(m.batches, rows)
	for r := range rows {
		m.seen = append(m.seen, x[3*r])
	}
	m.mu.Unlock()
	y := make([]float32, 2*rows)
	for r := range rows {
		if x[3*r] == panicValue {
			panic("test model: panic value")
		}
		for o := range 2 {
			y[2*r+o] = m.b[o]
			for i := range 3 {
				y[2*r+o] += m.w[o][i] * x[3*r+i]
			}
		}
	}
	return []Tensor{{Name: "y", Datatype: FP32, Shape: []int64{int64(rows), 2}, Data: y}}, nil
}

// want returns the model's output for one input row.
func (m *linear) want(x [3]float32) []float32 {
	y := []float32{m.b[0], m.b[1]}
	for o := range 2 {
		for i := range 3 {
			y[o] += m.w[o][i] * x[i]
		}
	}
	return y
}

// gated makes Infer block until release is called.
func (m *linear) gated() (release func()) {
	m.entered = make(chan struct{}, 64)
	m.gate = make(chan struct{})
	return sync.OnceFunc(func() { close(m.gate) })
}

func (m *linear) batchSizes() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.batches)
}

func (m *linear) seenFirst() []float32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.seen)
}

// testServer is a Server running on loopback HTTP and gRPC listeners.
type testServer struct {
	repo   *Repository
	srv    *Server
	reg    *prometheus.Registry
	url    string
	conn   *grpc.ClientConn
	grpc   pb.GRPCInferenceServiceClient
	cancel context.CancelFunc
	done   chan struct{} // closed when Serve returns
	err    error         // Serve's result, once done is closed
}

// startServer serves the models on loopback listeners until the test ends.
func startServer(t *testing.T, cfg Config, models map[Model]BatchConfig) *testServer {
	t.Helper()
	reg := prometheus.NewRegistry()
	repo := NewRepository(NewMetrics(reg), nil)
	for m, bc := range models {
		if err := repo.Load(m, bc); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Gatherer = reg
	srv := NewServer(repo, cfg)
	httpLn := listen(t)
	grpcLn := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{repo: repo, srv: srv, reg: reg, url: "http://" + httpLn.Addr().String(), cancel: cancel, done: make(chan struct{})}
	go func() {
		ts.err = srv.Serve(ctx, httpLn, grpcLn)
		close(ts.done)
	}()
	conn, err := grpc.NewClient(grpcLn.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ts.conn = conn
	ts.grpc = pb.NewGRPCInferenceServiceClient(conn)
	t.Cleanup(func() {
		conn.Close()
		ts.stop(t)
	})
	return ts
}

// stop shuts the server down and waits for Serve to return.
func (ts *testServer) stop(t *testing.T) {
	t.Helper()
	ts.cancel()
	select {
	case <-ts.done:
		if ts.err != nil {
			t.Errorf("Serve: %v", ts.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("server did not shut down")
	}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// response is an HTTP answer read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

// errorMessage returns the "error" field of a JSON error body.
func (r response) errorMessage(t *testing.T) string {
	t.Helper()
	var e struct{ Error string }
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == "" {
		t.Fatalf("status %d: body %q is not a JSON error", r.status, r.body)
	}
	return e.Error
}

func (ts *testServer) do(t *testing.T, method, path string, header http.Header, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(method, ts.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (ts *testServer) get(t *testing.T, path string) response {
	return ts.do(t, http.MethodGet, path, nil, nil)
}

func (ts *testServer) postJSON(t *testing.T, path, body string) response {
	return ts.do(t, http.MethodPost, path, http.Header{"Content-Type": {"application/json"}}, []byte(body))
}

// inferRow posts one x row as JSON and returns the decoded y and the status.
func (ts *testServer) inferRow(t *testing.T, path string, x [3]float32, params string) ([]float32, response) {
	t.Helper()
	if params == "" {
		params = "{}"
	}
	body := fmt.Sprintf(`{"parameters": %s, "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [%v, %v, %v]}]}`, params, x[0], x[1], x[2])
	r := ts.postJSON(t, path, body)
	if r.status != http.StatusOK {
		return nil, r
	}
	var out struct {
		ModelVersion string `json:"model_version"`
		Outputs      []struct {
			Name string
			Data []float32
		}
	}
	if err := json.Unmarshal(r.body, &out); err != nil || len(out.Outputs) != 1 {
		t.Fatalf("response %s: %v", r.body, err)
	}
	return out.Outputs[0].Data, r
}

// inferAsync posts one x row in the background; its answer arrives on the
// returned channel.
func (ts *testServer) inferAsync(t *testing.T, x [3]float32) <-chan response {
	c := make(chan response, 1)
	go func() {
		_, r := ts.inferRow(t, "/v2/models/linear/infer", x, "")
		c <- r
	}()
	return c
}

// eventually polls cond until it holds or the test times out.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// queued returns how many requests wait in the default version's queue.
func (ts *testServer) queued(name string) int { return queueLen(ts.repo, name) }

func approxEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if d := a[i] - b[i]; d > 1e-5 || d < -1e-5 {
			return false
		}
	}
	return true
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// failures returns the sum of mlenv_serve_request_errors_total.
func (ts *testServer) failures(t *testing.T) float64 {
	t.Helper()
	families, err := ts.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, f := range families {
		if f.GetName() == "mlenv_serve_request_errors_total" {
			for _, m := range f.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}
