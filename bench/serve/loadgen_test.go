package servebench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mlenv/mlenv/serve"
)

func TestRunClosedLoop(t *testing.T) {
	url := startServer(t, newMLP(), serve.BatchConfig{MaxBatchSize: 8, MaxQueueDelay: time.Millisecond}, nil)
	s, err := Run(context.Background(), Config{URL: url, Model: "mlp", Concurrency: 4, Duration: 200 * time.Millisecond, Rows: 2})
	if err != nil {
		t.Fatal(err)
	}
	if s.Requests == 0 || s.Failed != 0 || s.P50 <= 0 || s.P50 > s.P99 || s.P99 > s.Max || s.PerSecond <= 0 {
		t.Errorf("stats %+v: want successful requests with ordered percentiles", s)
	}
}

// slow answers after a fixed delay, so that a tiny queue overflows.
type slow struct{ *mlp }

func (m slow) Infer(ctx context.Context, in []serve.Tensor) ([]serve.Tensor, error) {
	time.Sleep(20 * time.Millisecond)
	return m.mlp.Infer(ctx, in)
}

func TestRunOpenLoopCountsRejections(t *testing.T) {
	url := startServer(t, slow{newMLP()}, serve.BatchConfig{QueueSize: 1}, nil)
	s, err := Run(context.Background(), Config{URL: url, Model: "mlp", Concurrency: 16, Rate: 500, Duration: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if s.Requests == 0 || s.Rejected == 0 || s.Failed != 0 {
		t.Errorf("stats %+v: a 1-deep queue at 10x overload should reject some requests and serve others", s)
	}
}

func TestRunErrors(t *testing.T) {
	url := startServer(t, newMLP(), serve.BatchConfig{}, nil)
	if _, err := Run(context.Background(), Config{URL: url, Model: "nope", Concurrency: 1, Duration: time.Millisecond}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown model: %v", err)
	}
	if _, err := Run(context.Background(), Config{URL: url, Model: "mlp", Concurrency: 0, Duration: time.Second}); err == nil {
		t.Error("concurrency 0 accepted")
	}
}
