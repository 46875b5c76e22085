package servebench

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mlenv/mlenv/serve"
)

var (
	loadSeconds  = flag.Duration("serve.duration", 3*time.Second, "length of each load run of BenchmarkServe")
	artifactPath = flag.String("serve.artifact", "", "model artifact directory (mlenv train's output) to benchmark instead of the plain Go MLP")
	protocol     = flag.String("serve.protocol", HTTP, "protocol of the load: http or grpc")
	binaryData   = flag.Bool("serve.binary", false, "HTTP load with the binary tensor data extension instead of JSON")
)

// benchModel returns the model the benchmarks serve: the -serve.artifact
// model artifact when given, otherwise the plain Go MLP.
func benchModel(tb testing.TB) serve.Model {
	tb.Helper()
	if *artifactPath == "" {
		return newMLP()
	}
	m, err := serve.LoadArtifact(*artifactPath, "model", "1", 1)
	if err != nil {
		tb.Fatal(err)
	}
	return m
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
// protocol and encoding of the -serve.protocol and -serve.binary flags.
func (s server) load(model string, concurrency int) Config {
	cfg := Config{URL: s.url, Model: model, Concurrency: concurrency, Duration: *loadSeconds, Protocol: *protocol, Binary: *binaryData}
	if *protocol == GRPC {
		cfg.URL = s.grpc
	}
	return cfg
}

// startServer serves the model over HTTP and gRPC on loopback ports until
// the test or benchmark ends. The serving metrics go to reg, unless it is
// nil.
func startServer(tb testing.TB, m serve.Model, cfg serve.BatchConfig, reg *prometheus.Registry) server {
	tb.Helper()
	var metrics *serve.Metrics
	if reg != nil {
		metrics = serve.NewMetrics(reg)
	}
	repo := serve.NewRepository(metrics, nil)
	if err := repo.Load(m, cfg); err != nil {
		tb.Fatal(err)
	}
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
			cpu := cpuTime(b)
			for b.Loop() {
				if _, err := m.Infer(context.Background(), inputs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64((cpuTime(b)-cpu).Nanoseconds())/1e3/float64(rows*b.N), "cpu-us/row")
		})
	}
}

// cpuTime returns the user and system CPU time the process has used.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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

// serverQuantile returns the upper edge of the latency histogram bucket
// that holds quantile q of mlenv_serve_request_duration_seconds.
func serverQuantile(tb testing.TB, reg *prometheus.Registry, q float64) float64 {
	tb.Helper()
	families, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "mlenv_serve_request_duration_seconds" {
			continue
		}
		h := f.GetMetric()[0].GetHistogram()
		want := q * float64(h.GetSampleCount())
		for _, bucket := range h.GetBucket() {
			if float64(bucket.GetCumulativeCount()) >= want {
				return bucket.GetUpperBound()
			}
		}
		return math.Inf(1)
	}
	tb.Fatal("no latency histogram gathered")
	return 0
}
