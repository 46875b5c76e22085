// Package servebench is a load generator for any Open Inference Protocol
// (KServe v2) server, over HTTP (JSON, or the binary tensor data extension)
// or gRPC, and the benchmark of mlenv's serve package built on it. Run
// measures throughput and latency percentiles either closed loop (a fixed
// number of concurrent callers, each sending its next request when the
// previous one is answered) or open loop (requests started at a fixed
// rate, whatever the server's speed).
package servebench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/mlenv/mlenv/serve"
	pb "github.com/mlenv/mlenv/serve/inferencepb"
)

// The protocols Run speaks.
const (
	HTTP = "http" // HTTP/JSON, or the binary tensor data extension with Config.Binary
	GRPC = "grpc" // inference.GRPCInferenceService, inputs in raw_input_contents
)

// Config describes one load run.
type Config struct {
	// URL is the server's base URL for HTTP (http://127.0.0.1:8000) and its
	// address for gRPC (127.0.0.1:8001).
	URL   string
	Model string // model name
	// Protocol is HTTP (the default when empty) or GRPC. Over gRPC the
	// inputs go in raw_input_contents, as Triton's clients send them.
	Protocol string
	// Binary sends HTTP inputs with the binary tensor data extension and
	// asks for binary outputs, instead of JSON arrays.
	Binary      bool
	Concurrency int           // concurrent callers (closed loop), or the cap on requests in flight (open loop)
	Duration    time.Duration // how long to send requests
	Rate        float64       // requests per second for an open loop; 0 means closed loop
	Rows        int           // rows per request for inputs with a variable first dimension; 0 means 1
	Client      *http.Client  // HTTP only: nil means a keep-alive client sized for Concurrency
}

// Stats summarises a run. Latencies are of successful requests.
type Stats struct {
	Offered   int           `json:"offered"`    // open loop: requests due by the rate
	Requests  int           `json:"requests"`   // answered with success
	Rejected  int           `json:"rejected"`   // answered with HTTP 429 or gRPC RESOURCE_EXHAUSTED (queue full)
	Dropped   int           `json:"dropped"`    // open loop: not sent because Concurrency requests were in flight
	Failed    int           `json:"failed"`     // any other answer or transport error
	Seconds   float64       `json:"seconds"`    // wall time of the run, until the last answer
	PerSecond float64       `json:"per_second"` // successful requests answered within Config.Duration, per second of it
	P50       time.Duration `json:"p50_ns"`
	P90       time.Duration `json:"p90_ns"`
	P99       time.Duration `json:"p99_ns"`
	Max       time.Duration `json:"max_ns"`
	FirstErr  string        `json:"first_error,omitempty"`
}

// answerGrace is how long after cfg.Duration the requests still in flight
// may take to be answered before they count as failed.
const answerGrace = 10 * time.Second

// Run builds a request from the model's metadata (random values, Rows rows)
// and sends it repeatedly for cfg.Duration. Requests in flight at the end
// are waited for (up to answerGrace), so that the slowest ones are not cut
// from the latencies; the rate counts the answers within cfg.Duration.
func Run(ctx context.Context, cfg Config) (Stats, error) {
	if cfg.Concurrency < 1 || cfg.Duration <= 0 || cfg.Rate < 0 {
		return Stats{}, fmt.Errorf("servebench: concurrency %d, duration %v, rate %v: need concurrency >= 1, duration > 0, rate >= 0", cfg.Concurrency, cfg.Duration, cfg.Rate)
	}
	var (
		call caller
		stop func()
		err  error
	)
	switch cfg.Protocol {
	case "", HTTP:
		call, err = newHTTPCaller(ctx, cfg)
		stop = func() {}
	case GRPC:
		if cfg.Binary {
			return Stats{}, errors.New("servebench: Binary is for HTTP; gRPC requests always carry raw_input_contents")
		}
		call, stop, err = newGRPCCaller(ctx, cfg)
	default:
		return Stats{}, fmt.Errorf("servebench: protocol %q: want %q or %q", cfg.Protocol, HTTP, GRPC)
	}
	if err != nil {
		return Stats{}, err
	}
	defer stop()
	return run(ctx, cfg, call), nil
}

// run sends requests with call, closed or open loop as cfg says, for
// cfg.Duration, then waits for those in flight.
func run(ctx context.Context, cfg Config, call caller) Stats {
	start := time.Now()
	r := &recorder{until: start.Add(cfg.Duration)}
	sending, stopSending := context.WithTimeout(ctx, cfg.Duration)
	defer stopSending()
	reqCtx, cancel := context.WithTimeout(ctx, cfg.Duration+answerGrace)
	defer cancel()
	if cfg.Rate > 0 {
		openLoop(sending, cfg, func() { r.record(call(reqCtx)) }, r)
	} else {
		var wg sync.WaitGroup
		for range cfg.Concurrency {
			wg.Go(func() {
				for sending.Err() == nil {
					r.record(call(reqCtx))
				}
			})
		}
		wg.Wait()
	}
	return r.stats(time.Since(start), cfg.Duration)
}

// openLoop starts request i at i/Rate seconds after the start, catching up
// at once when it falls behind (so the offered rate holds even where timers
// are coarse), and drops a start when Concurrency requests are in flight.
func openLoop(ctx context.Context, cfg Config, fire func(), r *recorder) {
	slots := make(chan struct{}, cfg.Concurrency)
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	start := time.Now()
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := 0; ; i++ {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		} else if ctx.Err() != nil {
			return
		}
		r.offer()
		select {
		case slots <- struct{}{}:
			wg.Go(func() {
				fire()
				<-slots
			})
		default:
			r.drop()
		}
	}
}

// outcome is the result of one request.
type outcome struct {
	latency  time.Duration
	rejected bool // the server turned it away as overloaded
	err      error
}

// caller sends the prepared request once and reports how it went.
type caller func(ctx context.Context) outcome

// newHTTPCaller reads the model's metadata and returns a caller that posts
// one infer request, JSON or binary, and reads the whole answer.
func newHTTPCaller(ctx context.Context, cfg Config) (caller, error) {
	client := cfg.Client
	if client == nil {
		client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency, MaxConnsPerHost: cfg.Concurrency}}
	}
	specs, err := httpMetadata(ctx, client, cfg)
	if err != nil {
		return nil, err
	}
	inputs, err := randomInputs(specs, cfg.Rows)
	if err != nil {
		return nil, err
	}
	body, headerLen := jsonBody(inputs)
	if cfg.Binary {
		body, headerLen = binaryBody(inputs)
	}
	url := fmt.Sprintf("%s/v2/models/%s/infer", cfg.URL, cfg.Model)
	return func(ctx context.Context) outcome {
		start := time.Now()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return outcome{err: err}
		}
		req.Header.Set("Content-Type", "application/json")
		if headerLen >= 0 {
			req.Header.Set("Content-Type", "application/octet-stream")
			req.Header.Set("Inference-Header-Content-Length", strconv.Itoa(headerLen))
		}
		resp, err := client.Do(req)
		if err != nil {
			return outcome{err: err}
		}
		msg, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		o := outcome{latency: time.Since(start), rejected: resp.StatusCode == http.StatusTooManyRequests, err: err}
		if err == nil && resp.StatusCode != http.StatusOK {
			o.err = fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(msg))
		}
		return o
	}, nil
}

// grpcConns is how many connections the gRPC callers share (each carries
// many concurrent calls), so that one connection's reader and writer do
// not bound the rate.
const grpcConns = 4

// newGRPCCaller connects to the server, reads the model's metadata and
// returns a caller that sends one ModelInfer request with its inputs in
// raw_input_contents, and a function that closes the connections.
func newGRPCCaller(ctx context.Context, cfg Config) (caller, func(), error) {
	clients := make([]pb.GRPCInferenceServiceClient, min(cfg.Concurrency, grpcConns))
	var conns []*grpc.ClientConn
	closeAll := func() {
		for _, c := range conns {
			c.Close()
		}
	}
	for i := range clients {
		conn, err := grpc.NewClient(cfg.URL, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("servebench: %w", err)
		}
		conns = append(conns, conn)
		clients[i] = pb.NewGRPCInferenceServiceClient(conn)
	}
	meta, err := clients[0].ModelMetadata(ctx, &pb.ModelMetadataRequest{Name: cfg.Model})
	if err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("servebench: model metadata of %q: %w", cfg.Model, err)
	}
	var specs []tensorMeta
	for _, in := range meta.GetInputs() {
		specs = append(specs, tensorMeta{Name: in.GetName(), Datatype: in.GetDatatype(), Shape: in.GetShape()})
	}
	inputs, err := randomInputs(specs, cfg.Rows)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	req := &pb.ModelInferRequest{ModelName: cfg.Model}
	for _, t := range inputs {
		req.Inputs = append(req.Inputs, &pb.ModelInferRequest_InferInputTensor{Name: t.Name, Datatype: string(t.Datatype), Shape: t.Shape})
		req.RawInputContents = append(req.RawInputContents, t.AppendRaw(nil))
	}
	var next atomic.Uint64
	return func(ctx context.Context) outcome {
		client := clients[next.Add(1)%uint64(len(clients))]
		start := time.Now()
		if _, err := client.ModelInfer(ctx, req); err != nil {
			return outcome{err: err, rejected: status.Code(err) == codes.ResourceExhausted}
		}
		return outcome{latency: time.Since(start)}
	}, closeAll, nil
}

// recorder collects outcomes from concurrent callers.
type recorder struct {
	until time.Time // the end of the sending window

	mu        sync.Mutex
	latencies []time.Duration
	inWindow  int // successes answered before until
	stat      Stats
}

func (r *recorder) record(o outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case o.err == nil:
		r.latencies = append(r.latencies, o.latency)
		if time.Now().Before(r.until) {
			r.inWindow++
		}
	case o.rejected:
		r.stat.Rejected++
	default:
		r.stat.Failed++
		if r.stat.FirstErr == "" {
			r.stat.FirstErr = o.err.Error()
		}
	}
}

func (r *recorder) offer() {
	r.mu.Lock()
	r.stat.Offered++
	r.mu.Unlock()
}

func (r *recorder) drop() {
	r.mu.Lock()
	r.stat.Dropped++
	r.mu.Unlock()
}

// stats summarises the run: elapsed is its wall time, window the sending
// window.
func (r *recorder) stats(elapsed, window time.Duration) Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stat
	s.Requests = len(r.latencies)
	s.Seconds = elapsed.Seconds()
	s.PerSecond = float64(r.inWindow) / window.Seconds()
	if n := len(r.latencies); n > 0 {
		slices.Sort(r.latencies)
		at := func(q float64) time.Duration { return r.latencies[min(n-1, int(q*float64(n)))] }
		s.P50, s.P90, s.P99, s.Max = at(0.50), at(0.90), at(0.99), r.latencies[n-1]
	}
	return s
}

// tensorMeta is a tensor of the protocol's model metadata response.
type tensorMeta struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

// httpMetadata reads the model's inputs from its metadata endpoint.
func httpMetadata(ctx context.Context, client *http.Client, cfg Config) ([]tensorMeta, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/v2/models/%s", cfg.URL, cfg.Model), nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("servebench: model metadata: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("servebench: model metadata of %q: status %d: %s", cfg.Model, resp.StatusCode, bytes.TrimSpace(msg))
	}
	var meta struct{ Inputs []tensorMeta }
	if err := json.NewDecoder(resp.Body).Decode(&meta); err != nil {
		return nil, fmt.Errorf("servebench: model metadata of %q: %w", cfg.Model, err)
	}
	return meta.Inputs, nil
}

// randomInputs returns a tensor of random values for every input: the first
// variable dimension becomes rows (at least 1), other variable dimensions 1.
func randomInputs(specs []tensorMeta, rows int) ([]serve.Tensor, error) {
	var inputs []serve.Tensor
	for _, in := range specs {
		shape := slices.Clone(in.Shape)
		n := int64(1)
		for i, d := range shape {
			if d < 0 {
				shape[i] = 1
				if i == 0 {
					shape[i] = int64(max(rows, 1))
				}
			}
			n *= shape[i]
		}
		t, err := randomTensor(in.Name, serve.Datatype(in.Datatype), shape, int(n))
		if err != nil {
			return nil, fmt.Errorf("servebench: input %q: %w", in.Name, err)
		}
		inputs = append(inputs, t)
	}
	return inputs, nil
}

// randomTensor returns a tensor of n random values valid for the datatype:
// normal floats, integers 0 or 1 (ids valid in any vocabulary of two or
// more), and BYTES elements that are small decimal numbers, which
// categorical inputs take as category values.
func randomTensor(name string, d serve.Datatype, shape []int64, n int) (serve.Tensor, error) {
	t := serve.Tensor{Name: name, Datatype: d, Shape: shape}
	switch d {
	case serve.FP32:
		t.Data = randomSlice(n, func() float32 { return float32(rand.NormFloat64()) })
	case serve.FP64:
		t.Data = randomSlice(n, rand.NormFloat64)
	case serve.Int8:
		t.Data = randomSlice(n, func() int8 { return int8(rand.IntN(2)) })
	case serve.Int16:
		t.Data = randomSlice(n, func() int16 { return int16(rand.IntN(2)) })
	case serve.Int32:
		t.Data = randomSlice(n, func() int32 { return int32(rand.IntN(2)) })
	case serve.Int64:
		t.Data = randomSlice(n, func() int64 { return int64(rand.IntN(2)) })
	case serve.Uint8:
		t.Data = randomSlice(n, func() uint8 { return uint8(rand.IntN(2)) })
	case serve.Uint16:
		t.Data = randomSlice(n, func() uint16 { return uint16(rand.IntN(2)) })
	case serve.Uint32:
		t.Data = randomSlice(n, func() uint32 { return uint32(rand.IntN(2)) })
	case serve.Uint64:
		t.Data = randomSlice(n, func() uint64 { return uint64(rand.IntN(2)) })
	case serve.Bool:
		t.Data = randomSlice(n, func() bool { return rand.IntN(2) == 1 })
	case serve.Bytes:
		t.Data = randomSlice(n, func() []byte { return strconv.AppendInt(nil, int64(rand.IntN(100)), 10) })
	default:
		return serve.Tensor{}, fmt.Errorf("datatype %s not supported by the load generator", d)
	}
	return t, nil
}

func randomSlice[T any](n int, draw func() T) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = draw()
	}
	return s
}

// jsonBody encodes an infer request with the inputs' data as JSON arrays;
// the header length is -1, since the whole body is JSON.
func jsonBody(inputs []serve.Tensor) ([]byte, int) {
	var in []map[string]any
	for _, t := range inputs {
		in = append(in, map[string]any{"name": t.Name, "datatype": t.Datatype, "shape": t.Shape, "data": jsonData(t.Data)})
	}
	body, err := json.Marshal(map[string]any{"inputs": in})
	if err != nil {
		panic(err) // slices of numbers, booleans and strings always encode
	}
	return body, -1
}

// jsonData is a tensor's data as encoding/json should write it: BYTES as
// strings and UINT8 as numbers, where it would write base64.
func jsonData(data any) any {
	switch d := data.(type) {
	case [][]byte:
		strs := make([]string, len(d))
		for i, s := range d {
			strs[i] = string(s)
		}
		return strs
	case []uint8:
		nums := make([]int, len(d))
		for i, v := range d {
			nums[i] = int(v)
		}
		return nums
	}
	return data
}

// binaryBody encodes an infer request with the binary tensor data
// extension: a JSON header naming each input's binary_data_size and asking
// for binary outputs, then the inputs' raw data. It returns the body and
// the header's length.
func binaryBody(inputs []serve.Tensor) ([]byte, int) {
	var in []map[string]any
	var raw []byte
	for _, t := range inputs {
		n := len(raw)
		raw = t.AppendRaw(raw)
		in = append(in, map[string]any{"name": t.Name, "datatype": t.Datatype, "shape": t.Shape,
			"parameters": map[string]any{"binary_data_size": len(raw) - n}})
	}
	header, err := json.Marshal(map[string]any{"inputs": in, "parameters": map[string]any{"binary_data_output": true}})
	if err != nil {
		panic(err)
	}
	return append(header, raw...), len(header)
}
