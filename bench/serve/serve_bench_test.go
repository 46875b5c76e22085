package servebench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/mlenv/mlenv/internal/cputime"
	"github.com/mlenv/mlenv/serve"
)

var (
	loadSeconds  = flag.Duration("serve.duration", 3*time.Second, "length of each load run of BenchmarkServe")
	artifactPath = flag.String("serve.artifact", "", "model artifact directory (mlenv train's output) to benchmark instead of the plain Go MLP")
	protocol     = flag.String("serve.protocol", HTTP, "protocol of the load: http or grpc")
	binaryData   = flag.Bool("serve.binary", false, "HTTP load with the binary tensor data extension instead of JSON")
	requestRows  = flag.Int("serve.rows", 1, "rows per request of BenchmarkServe and BenchmarkServeOverload")
	prepared     = flag.Bool("serve.prepared", false, "with -serve.artifact, serve the artifact's Prepared view (encoded inputs)")
)

// benchModel returns the model the benchmarks serve: the -serve.artifact
// model artifact (its Prepared view with -serve.prepared) when given,
// otherwise the plain Go MLP.
func benchModel(tb testing.TB) serve.Model {
	tb.Helper()
	if *artifactPath == "" {
		return newMLP()
	}
	a, err := serve.LoadArtifact(*artifactPath, "model", "1", 1)
	if err != nil {
		tb.Fatal(err)
	}
	if !*prepared {
		return a
	}
	p, err := a.Prepared()
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// mlp is the benchmark model: y = w2 · relu(W1 x + b1) + b2 with x of 64
// features, 256 hidden units and one output, computed in plain Go.
type mlp struct {
	w1 [][]float32 // [hidden][in]
	b1 []float32
	w2 []float32
	b2 float32
}

const (
	features = 64
	hidden   = 256
)

func newMLP() *mlp {
	r := rand.New(rand.NewPCG(1, 2))
	m := &mlp{w1: make([][]float32, hidden), b1: make([]float32, hidden), w2: make([]float32, hidden)}
	for h := range hidden {
		m.w1[h] = make([]float32, features)
		for i := range features {
			m.w1[h][i] = float32(r.NormFloat64()) / 8
		}
		m.w2[h] = float32(r.NormFloat64()) / 16
	}
	return m
}

func (m *mlp) Metadata() serve.Metadata {
	return serve.Metadata{
		Name: "mlp", Version: "1", Platform: "go",
		Inputs:  []serve.TensorSpec{{Name: "x", Datatype: serve.FP32, Shape: []int64{-1, features}}},
		Outputs: []serve.TensorSpec{{Name: "y", Datatype: serve.FP32, Shape: []int64{-1, 1}}},
	}
}

func (m *mlp) Infer(_ context.Context, inputs []serve.Tensor) ([]serve.Tensor, error) {
	x := inputs[0].Data.([]float32)
	rows := len(x) / features
	y := make([]float32, rows)
	for r := range rows {
		xr := x[r*features : (r+1)*features]
		out := m.b2
		for h, w := range m.w1 {
			s := m.b1[h]
			for i, v := range xr {
				s += w[i] * v
			}
			out += m.w2[h] * max(s, 0)
		}
		y[r] = out
	}
	return []serve.Tensor{{Name: "y", Datatype: serve.FP32, Shape: []int64{int64(rows), 1}, Data: y}}, nil
}

// server is where startServer serves: the HTTP base URL and the gRPC
// address.
type server struct{ url, grpc string }

// load returns the Config of a closed-loop run against s with the
// protocol, encoding and rows of the -serve.protocol, -serve.binary and
// -serve.rows flags.
func (s server) load(model string, concurrency int) Config {
	cfg := Config{URL: s.url, Model: model, Concurrency: concurrency, Duration: *loadSeconds, Protocol: *protocol, Binary: *binaryData, Rows: *requestRows}
	if *protocol == GRPC {
		cfg.URL = s.grpc
	}
	return cfg
}

// newRepository returns a repository serving m, scheduled by cfg, with its
// metrics in reg unless reg is nil. It is closed when the test ends.
func newRepository(tb testing.TB, m serve.Model, cfg serve.BatchConfig, reg *prometheus.Registry) *serve.Repository {
	tb.Helper()
	var metrics *serve.Metrics
	if reg != nil {
		metrics = serve.NewMetrics(reg)
	}
	repo := serve.NewRepository(metrics, nil)
	tb.Cleanup(repo.Close)
	if err := repo.Load(m, cfg); err != nil {
		tb.Fatal(err)
	}
	return repo
}

// startServer serves the model over HTTP and gRPC on loopback ports until
// the test or benchmark ends. The serving metrics go to reg, unless it is
// nil.
func startServer(tb testing.TB, m serve.Model, cfg serve.BatchConfig, reg *prometheus.Registry) server {
	tb.Helper()
	repo := newRepository(tb, m, cfg, reg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	grpcLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve.NewServer(repo, serve.Config{}).Serve(ctx, ln, grpcLn) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Error(err)
		}
	})
	return server{url: "http://" + ln.Addr().String(), grpc: grpcLn.Addr().String()}
}

// BenchmarkServe runs closed-loop HTTP load on the MLP model with dynamic
// batching off (each request its own Infer call) and on (up to 64 rows,
// merging only waiting requests, or waiting up to 1 ms for more), at several
// concurrencies, over the protocol of -serve.protocol and -serve.binary.
// Each iteration is one load run of -serve.duration; it reports
// requests/s and p50/p99 latency.
func BenchmarkServe(b *testing.B) {
	for _, mode := range []struct {
		name string
		cfg  serve.BatchConfig
	}{
		{"batching=off", serve.BatchConfig{}},
		{"batching=on/delay=0", serve.BatchConfig{MaxBatchSize: 64}},
		{"batching=on/delay=1ms", serve.BatchConfig{MaxBatchSize: 64, MaxQueueDelay: time.Millisecond}},
	} {
		for _, conc := range []int{1, 8, 32, 128} {
			b.Run(fmt.Sprintf("%s/concurrency=%d", mode.name, conc), func(b *testing.B) {
				srv := startServer(b, benchModel(b), mode.cfg, nil)
				for b.Loop() {
					s, err := Run(context.Background(), srv.load(benchModel(b).Metadata().Name, conc))
					if err != nil {
						b.Fatal(err)
					}
					if s.Failed > 0 || s.Requests == 0 {
						b.Fatalf("%d failed, %d succeeded: %s", s.Failed, s.Requests, s.FirstErr)
					}
					b.ReportMetric(s.PerSecond, "req/s")
					b.ReportMetric(float64(s.P50.Microseconds())/1000, "p50-ms")
					b.ReportMetric(float64(s.P99.Microseconds())/1000, "p99-ms")
				}
			})
		}
	}
}

// BenchmarkServeOverload measures the batching server's capacity closed loop
// (concurrency 32), then offers twice that rate open loop to a fresh server.
// With a bounded queue of 128 requests the excess must be rejected with 429
// at once, so the latency of the requests that are served stays bounded
// instead of growing with a backlog. It reports the served and rejected
// rates, the client-side p99, the server-side p99 (admission to answer, from
// the latency histogram: the upper edge of its bucket), and the starts the
// generator itself skipped because 256 requests were in flight.
func BenchmarkServeOverload(b *testing.B) {
	cfg := serve.BatchConfig{MaxBatchSize: 64, QueueSize: 128}
	name := benchModel(b).Metadata().Name
	for b.Loop() {
		capacity, err := Run(context.Background(), startServer(b, benchModel(b), cfg, nil).load(name, 32))
		if err != nil {
			b.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		over := startServer(b, benchModel(b), cfg, reg).load(name, 256)
		over.Rate = 2 * capacity.PerSecond
		s, err := Run(context.Background(), over)
		if err != nil {
			b.Fatal(err)
		}
		if s.Failed > 0 {
			b.Fatalf("%d failed: %s", s.Failed, s.FirstErr)
		}
		b.ReportMetric(capacity.PerSecond, "capacity-req/s")
		b.ReportMetric(float64(s.Offered)/s.Seconds, "offered-req/s")
		b.ReportMetric(s.PerSecond, "served-req/s")
		b.ReportMetric(float64(s.Rejected)/s.Seconds, "rejected-req/s")
		b.ReportMetric(float64(s.Dropped)/s.Seconds, "gen-dropped-req/s")
		b.ReportMetric(float64(s.P99.Microseconds())/1000, "p99-ms")
		b.ReportMetric(serverQuantile(b, reg, 0.99)*1000, "server-p99-ms")
	}
}

// BenchmarkRepository sends one-row requests to the model through
// serve.Repository.Infer, in process, with no HTTP or gRPC: what dynamic
// batching and the bounded queue do by themselves, apart from the
// transport's per-request cost. 32 callers, closed loop, with batching off
// (max batch 1) and on (max batch 64, no queue delay or 500 µs); then, as BenchmarkServeOverload
// does, twice the batching capacity offered open loop (at most 512 in
// flight) to a fresh repository with a 128-request queue. It reports
// req/s, p50/p99 latency, the process's CPU time per request and the mean
// batch size; under overload also the rejected rate.
func BenchmarkRepository(b *testing.B) {
	m := benchModel(b)
	name := m.Metadata().Name
	inputs := randomTensors(b, m.Metadata(), 1)
	measure := func(b *testing.B, cfg serve.BatchConfig, load Config) Stats {
		reg := prometheus.NewRegistry()
		call := repositoryCaller(newRepository(b, m, cfg, reg), name, inputs)
		cpu := cputime.Process()
		s := run(context.Background(), load, call)
		if s.Failed > 0 || s.Requests == 0 {
			b.Fatalf("%d failed, %d succeeded: %s", s.Failed, s.Requests, s.FirstErr)
		}
		b.ReportMetric(s.PerSecond, "req/s")
		b.ReportMetric(float64(s.P50.Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(s.P99.Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64((cputime.Process()-cpu).Nanoseconds())/1e3/float64(s.Requests), "cpu-us/req")
		b.ReportMetric(meanBatch(b, reg), "rows/batch")
		return s
	}
	closed := Config{Concurrency: 32, Duration: *loadSeconds}
	for _, mode := range []struct {
		name string
		cfg  serve.BatchConfig
	}{
		{"batch=1", serve.BatchConfig{MaxBatchSize: 1}},
		{"batch=64/delay=0", serve.BatchConfig{MaxBatchSize: 64}},
		{"batch=64/delay=500us", serve.BatchConfig{MaxBatchSize: 64, MaxQueueDelay: 500 * time.Microsecond}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			for b.Loop() {
				measure(b, mode.cfg, closed)
			}
		})
	}
	b.Run("overload", func(b *testing.B) {
		cfg := serve.BatchConfig{MaxBatchSize: 64, QueueSize: 128}
		for b.Loop() {
			capacity := measure(b, cfg, closed)
			s := measure(b, cfg, Config{Concurrency: 512, Rate: 2 * capacity.PerSecond, Duration: *loadSeconds})
			b.ReportMetric(capacity.PerSecond, "capacity-req/s")
			b.ReportMetric(float64(s.Rejected)/s.Seconds, "rejected-req/s")
		}
	})
}

// repositoryCaller returns a caller that runs inputs on model name through
// repo.Infer; a full queue counts as a rejection.
func repositoryCaller(repo *serve.Repository, name string, inputs []serve.Tensor) caller {
	return func(ctx context.Context) outcome {
		start := time.Now()
		_, err := repo.Infer(ctx, name, "", inputs)
		return outcome{latency: time.Since(start), rejected: errors.Is(err, serve.ErrQueueFull), err: err}
	}
}

// BenchmarkRawInfer calls the model's Infer directly, without a server, on
// batches of random inputs (as the load generator sends them), and reports
// rows/s, the ceiling that served throughput is compared with, and the
// process's CPU time per row (all threads, the garbage collector's
// included), to set against the server's.
func BenchmarkRawInfer(b *testing.B) {
	m := benchModel(b)
	for _, rows := range []int{1, 32, 64} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			inputs := randomTensors(b, m.Metadata(), rows)
			cpu := cputime.Process()
			for b.Loop() {
				if _, err := m.Infer(context.Background(), inputs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64((cputime.Process()-cpu).Nanoseconds())/1e3/float64(rows*b.N), "cpu-us/row")
		})
	}
}

// randomTensors returns inputs for meta with rows rows, drawn as the load
// generator draws a request's values.
func randomTensors(tb testing.TB, meta serve.Metadata, rows int) []serve.Tensor {
	tb.Helper()
	var specs []tensorMeta
	for _, s := range meta.Inputs {
		specs = append(specs, tensorMeta{Name: s.Name, Datatype: string(s.Datatype), Shape: s.Shape})
	}
	ts, err := randomInputs(specs, rows)
	if err != nil {
		tb.Fatal(err)
	}
	return ts
}

// meanBatch returns the mean of the mlenv_serve_batch_size histogram.
func meanBatch(tb testing.TB, reg *prometheus.Registry) float64 {
	h := histogram(tb, reg, "mlenv_serve_batch_size")
	return h.GetSampleSum() / float64(h.GetSampleCount())
}

// histogram returns the histogram name of reg's first series.
func histogram(tb testing.TB, reg *prometheus.Registry, name string) *dto.Histogram {
	tb.Helper()
	families, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()[0].GetHistogram()
		}
	}
	tb.Fatalf("no histogram %s gathered", name)
	return nil
}

// serverQuantile returns the upper edge of the latency histogram bucket
// that holds quantile q of mlenv_serve_request_duration_seconds.
func serverQuantile(tb testing.TB, reg *prometheus.Registry, q float64) float64 {
	tb.Helper()
	h := histogram(tb, reg, "mlenv_serve_request_duration_seconds")
	want := q * float64(h.GetSampleCount())
	for _, bucket := range h.GetBucket() {
		if float64(bucket.GetCumulativeCount()) >= want {
			return bucket.GetUpperBound()
		}
	}
	return math.Inf(1)
}
