// Package servebench is a load generator for any Open Inference Protocol
// (KServe v2) HTTP server, and the benchmark of mlenv's serve package built
// on it. Run measures throughput and latency percentiles either closed loop
// (a fixed number of concurrent callers, each sending its next request when
// the previous one is answered) or open loop (requests started at a fixed
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
	"time"
)

// Config describes one load run.
type Config struct {
	URL         string        // server base URL, for example http://127.0.0.1:8000
	Model       string        // model name
	Concurrency int           // concurrent callers (closed loop), or the cap on requests in flight (open loop)
	Duration    time.Duration // how long to send requests
	Rate        float64       // requests per second for an open loop; 0 means closed loop
	Rows        int           // rows per request for inputs with a variable first dimension; 0 means 1
	Client      *http.Client  // nil means a keep-alive client sized for Concurrency
}

// Stats summarises a run. Latencies are of successful requests.
type Stats struct {
	Offered   int           `json:"offered"`    // open loop: requests due by the rate
	Requests  int           `json:"requests"`   // answered with 200
	Rejected  int           `json:"rejected"`   // answered with 429 (queue full)
	Dropped   int           `json:"dropped"`    // open loop: not sent because Concurrency requests were in flight
	Failed    int           `json:"failed"`     // any other answer or transport error
	Seconds   float64       `json:"seconds"`    // wall time of the run
	PerSecond float64       `json:"per_second"` // successful requests per second
	P50       time.Duration `json:"p50_ns"`
	P90       time.Duration `json:"p90_ns"`
	P99       time.Duration `json:"p99_ns"`
	Max       time.Duration `json:"max_ns"`
	FirstErr  string        `json:"first_error,omitempty"`
}

// Run builds a request from the model's metadata (random values, Rows rows)
// and sends it repeatedly for cfg.Duration.
func Run(ctx context.Context, cfg Config) (Stats, error) {
	if cfg.Concurrency < 1 || cfg.Duration <= 0 || cfg.Rate < 0 {
		return Stats{}, fmt.Errorf("servebench: concurrency %d, duration %v, rate %v: need concurrency >= 1, duration > 0, rate >= 0", cfg.Concurrency, cfg.Duration, cfg.Rate)
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency, MaxConnsPerHost: cfg.Concurrency}}
	}
	body, err := buildRequest(ctx, client, cfg)
	if err != nil {
		return Stats{}, err
	}
	url := fmt.Sprintf("%s/v2/models/%s/infer", cfg.URL, cfg.Model)
	r := &recorder{}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	start := time.Now()
	if cfg.Rate > 0 {
		openLoop(ctx, cfg, func() { r.record(send(ctx, client, url, body)) }, r)
	} else {
		var wg sync.WaitGroup
		for range cfg.Concurrency {
			wg.Go(func() {
				for ctx.Err() == nil {
					r.record(send(ctx, client, url, body))
				}
			})
		}
		wg.Wait()
	}
	return r.stats(time.Since(start)), nil
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
	latency time.Duration
	status  int // 0 for a transport error
	err     error
}

// send posts body and reads the whole answer.
func send(ctx context.Context, client *http.Client, url string, body []byte) outcome {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return outcome{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return outcome{err: err}
	}
	msg, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	o := outcome{latency: time.Since(start), status: resp.StatusCode, err: err}
	if err == nil && resp.StatusCode != http.StatusOK {
		o.err = fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(msg))
	}
	return o
}

// recorder collects outcomes from concurrent callers.
type recorder struct {
	mu        sync.Mutex
	latencies []time.Duration
	stat      Stats
}

func (r *recorder) record(o outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case o.err == nil:
		r.latencies = append(r.latencies, o.latency)
	case o.status == http.StatusTooManyRequests:
		r.stat.Rejected++
	case errors.Is(o.err, context.DeadlineExceeded) || errors.Is(o.err, context.Canceled):
		// cut off by the end of the run: neither a success nor a failure
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

func (r *recorder) stats(elapsed time.Duration) Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stat
	s.Requests = len(r.latencies)
	s.Seconds = elapsed.Seconds()
	s.PerSecond = float64(s.Requests) / s.Seconds
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

// buildRequest reads the model's metadata and returns a JSON infer request
// with random data for every input: the first variable dimension becomes
// cfg.Rows, other variable dimensions 1.
func buildRequest(ctx context.Context, client *http.Client, cfg Config) ([]byte, error) {
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
	rows := int64(max(cfg.Rows, 1))
	var inputs []map[string]any
	for _, in := range meta.Inputs {
		shape := slices.Clone(in.Shape)
		n := int64(1)
		for i, d := range shape {
			if d < 0 {
				shape[i] = 1
				if i == 0 {
					shape[i] = rows
				}
			}
			n *= shape[i]
		}
		data, err := randomData(in.Datatype, int(n))
		if err != nil {
			return nil, fmt.Errorf("servebench: input %q: %w", in.Name, err)
		}
		inputs = append(inputs, map[string]any{"name": in.Name, "datatype": in.Datatype, "shape": shape, "data": data})
	}
	return json.Marshal(map[string]any{"inputs": inputs})
}

// randomData returns n random values valid for the datatype; BYTES
// elements are small decimal numbers, which categorical inputs take as ids.
func randomData(datatype string, n int) (any, error) {
	switch datatype {
	case "FP32", "FP64":
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = rand.NormFloat64()
		}
		return xs, nil
	case "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64":
		xs := make([]int, n)
		for i := range xs {
			xs[i] = rand.IntN(100)
		}
		return xs, nil
	case "BYTES":
		xs := make([]string, n)
		for i := range xs {
			xs[i] = strconv.Itoa(rand.IntN(100))
		}
		return xs, nil
	case "BOOL":
		xs := make([]bool, n)
		for i := range xs {
			xs[i] = rand.IntN(2) == 1
		}
		return xs, nil
	}
	return nil, fmt.Errorf("datatype %s not supported by the load generator", datatype)
}
