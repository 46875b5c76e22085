package servebench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mlenv/mlenv/serve"
)

// protocols are the ways Run can send requests, as Config fields.
var protocols = []struct {
	name     string
	protocol string
	binary   bool
}{{"http-json", HTTP, false}, {"http-binary", HTTP, true}, {"grpc", GRPC, false}}

// config returns a Config for p against srv.
func config(srv server, p string, binary bool, model string) Config {
	cfg := Config{URL: srv.url, Model: model, Protocol: p, Binary: binary}
	if p == GRPC {
		cfg.URL = srv.grpc
	}
	return cfg
}

func TestRunClosedLoop(t *testing.T) {
	srv := startServer(t, newMLP(), serve.BatchConfig{MaxBatchSize: 8, MaxQueueDelay: time.Millisecond}, nil)
	for _, p := range protocols {
		cfg := config(srv, p.protocol, p.binary, "mlp")
		cfg.Concurrency, cfg.Duration, cfg.Rows = 4, 200*time.Millisecond, 2
		s, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		if s.Requests == 0 || s.Failed != 0 || s.P50 <= 0 || s.P50 > s.P99 || s.P99 > s.Max || s.PerSecond <= 0 {
			t.Errorf("%s: stats %+v: want successful requests with ordered percentiles", p.name, s)
		}
	}
}

// slow answers after a fixed delay.
type slow struct {
	*mlp
	delay time.Duration
}

func (m slow) Infer(ctx context.Context, in []serve.Tensor) ([]serve.Tensor, error) {
	time.Sleep(m.delay)
	return m.mlp.Infer(ctx, in)
}

// TestRunWaitsForStragglers checks that a request still in flight when the
// run ends is waited for: counted with its latency, but not in the rate,
// which counts answers within the run's duration.
func TestRunWaitsForStragglers(t *testing.T) {
	srv := startServer(t, slow{newMLP(), 300 * time.Millisecond}, serve.BatchConfig{}, nil)
	cfg := config(srv, HTTP, false, "mlp")
	cfg.Concurrency, cfg.Duration = 1, 100*time.Millisecond
	s, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.Requests != 1 || s.Failed != 0 || s.Max < 300*time.Millisecond || s.PerSecond != 0 {
		t.Errorf("stats %+v: want the one 300 ms request answered after the 100 ms run, outside the rate", s)
	}
}

func TestRunOpenLoopCountsRejections(t *testing.T) {
	srv := startServer(t, slow{newMLP(), 20 * time.Millisecond}, serve.BatchConfig{QueueSize: 1}, nil)
	for _, p := range []string{HTTP, GRPC} {
		cfg := config(srv, p, false, "mlp")
		cfg.Concurrency, cfg.Rate, cfg.Duration = 16, 500, 300*time.Millisecond
		s, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if s.Requests == 0 || s.Rejected == 0 || s.Failed != 0 {
			t.Errorf("%s: stats %+v: a 1-deep queue at 10x overload should reject some requests and serve others", p, s)
		}
	}
}

func TestRunErrors(t *testing.T) {
	srv := startServer(t, newMLP(), serve.BatchConfig{}, nil)
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{config(srv, HTTP, false, "nope"), `"nope"`},
		{config(srv, GRPC, false, "nope"), `"nope"`},
		{config(srv, GRPC, true, "mlp"), "Binary is for HTTP"},
		{config(srv, "websocket", false, "mlp"), `protocol "websocket"`},
	} {
		tc.cfg.Concurrency, tc.cfg.Duration = 1, time.Millisecond
		if _, err := Run(context.Background(), tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one mentioning %s", tc.cfg, err, tc.want)
		}
	}
	if _, err := Run(context.Background(), Config{URL: srv.url, Model: "mlp", Concurrency: 0, Duration: time.Second}); err == nil {
		t.Error("concurrency 0 accepted")
	}
}
