package serve

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestHotSwapUnderLoadDropsNothing(t *testing.T) {
	v1, v2 := newLinear("1", 0), newLinear("2", 100)
	ts := startServer(t, Config{}, map[Model]BatchConfig{v1: {MaxBatchSize: 16, MaxQueueDelay: time.Millisecond}})
	var (
		stop      atomic.Bool
		failed    atomic.Int64
		fromNew   atomic.Int64
		total     atomic.Int64
		wg        sync.WaitGroup
		mixedRows atomic.Int64
	)
	x := [3]float32{1, 2, 3}
	for range 8 {
		wg.Go(func() {
			for !stop.Load() {
				y, r := ts.inferRow(t, "/v2/models/linear/infer", x, "")
				total.Add(1)
				switch {
				case y == nil:
					failed.Add(1)
					t.Errorf("request failed during swap: status %d: %s", r.status, r.body)
					return
				case approxEqual(y, v2.want(x)):
					fromNew.Add(1)
				case !approxEqual(y, v1.want(x)):
					mixedRows.Add(1)
				}
			}
		})
	}
	eventually(t, "load on version 1", func() bool { return total.Load() > 50 })
	if err := ts.repo.Swap(v2, BatchConfig{MaxBatchSize: 16, MaxQueueDelay: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	// Swap returned: version 1 is drained and unloaded.
	if ts.repo.Ready("linear", "1") || !ts.repo.Ready("linear", "2") {
		t.Error("after Swap, version 1 should be gone and version 2 ready")
	}
	before := fromNew.Load()
	eventually(t, "load on version 2", func() bool { return fromNew.Load() > before+50 })
	stop.Store(true)
	wg.Wait()
	if failed.Load() != 0 || mixedRows.Load() != 0 {
		t.Errorf("%d failed and %d wrong answers out of %d", failed.Load(), mixedRows.Load(), total.Load())
	}
	if len(v1.batchSizes()) == 0 || len(v2.batchSizes()) == 0 {
		t.Error("both versions should have served requests")
	}
}

func TestRepositoryVersions(t *testing.T) {
	repo := NewRepository(nil, nil)
	defer repo.Close()
	for _, v := range []string{"1", "2"} {
		if err := repo.Load(newLinear(v, 0), BatchConfig{}); err != nil {
			t.Fatal(err)
		}
	}
	x := []Tensor{{Name: "x", Datatype: FP32, Shape: []int64{1, 3}, Data: []float32{1, 2, 3}}}
	ctx := context.Background()
	for ver, want := range map[string]string{"": "2", "1": "1", "2": "2"} {
		if res, err := repo.Infer(ctx, "linear", ver, x); err != nil || res.Version != want {
			t.Errorf("Infer version %q: served by %q (%v), want %q", ver, res.Version, err, want)
		}
	}
	if err := repo.Unload("linear", "2"); err != nil {
		t.Fatal(err)
	}
	if res, err := repo.Infer(ctx, "linear", "", x); err != nil || res.Version != "1" {
		t.Errorf("after unloading 2, default served by %q (%v), want 1", res.Version, err)
	}
	if _, err := repo.Infer(ctx, "linear", "2", x); !errors.Is(err, ErrModelNotFound) {
		t.Errorf("unloaded version: %v, want ErrModelNotFound", err)
	}
	if err := repo.Unload("linear", "7"); !errors.Is(err, ErrModelNotFound) {
		t.Errorf("Unload of an unknown version: %v", err)
	}
	if got := repo.Models(); len(got) != 1 || got[0] != "linear" {
		t.Errorf("Models() = %v", got)
	}
}

// badModel has metadata that cannot be loaded with batching, and returns
// outputs that break its signature.
type badModel struct{ meta Metadata }

func (m badModel) Metadata() Metadata { return m.meta }
func (m badModel) Infer(context.Context, []Tensor) ([]Tensor, error) {
	return []Tensor{{Name: "y", Datatype: FP32, Shape: []int64{1}, Data: []float32{1, 2}}}, nil
}

func TestRepositoryRejectsBadModels(t *testing.T) {
	repo := NewRepository(nil, nil)
	defer repo.Close()
	fixed := Metadata{Name: "fixed", Version: "1",
		Inputs:  []TensorSpec{{Name: "x", Datatype: FP32, Shape: []int64{2}}},
		Outputs: []TensorSpec{{Name: "y", Datatype: FP32, Shape: []int64{1}}}}
	for _, tc := range []struct {
		name string
		meta Metadata
		cfg  BatchConfig
		want string
	}{
		{"batching a fixed first dimension", fixed, BatchConfig{MaxBatchSize: 4}, "variable first dimension"},
		{"no version", Metadata{Name: "a", Inputs: fixed.Inputs, Outputs: fixed.Outputs}, BatchConfig{}, "empty version"},
		{"bad datatype", Metadata{Name: "a", Version: "1", Inputs: []TensorSpec{{Name: "x", Datatype: "FP8"}}, Outputs: fixed.Outputs}, BatchConfig{}, "FP8"},
		{"negative config", fixed, BatchConfig{QueueSize: -1}, "negative"},
	} {
		if err := repo.Load(badModel{tc.meta}, tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Load error %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
	if err := repo.Load(badModel{fixed}, BatchConfig{}); err != nil {
		t.Fatal(err)
	}
	_, err := repo.Infer(context.Background(), "fixed", "", []Tensor{{Name: "x", Datatype: FP32, Shape: []int64{2}, Data: []float32{1, 2}}})
	if !errors.Is(err, ErrModelFailed) || !strings.Contains(err.Error(), `"y"`) {
		t.Errorf("model breaking its signature: %v, want ErrModelFailed naming output y", err)
	}
}

func TestNonFiniteAllowedWhenDeclared(t *testing.T) {
	m := badModel{Metadata{Name: "m", Version: "1",
		Inputs:  []TensorSpec{{Name: "x", Datatype: FP64, Shape: []int64{1}, AllowNonFinite: true}},
		Outputs: []TensorSpec{{Name: "y", Datatype: FP32, Shape: []int64{1}}}}}
	repo := NewRepository(nil, nil)
	defer repo.Close()
	if err := repo.Load(m, BatchConfig{}); err != nil {
		t.Fatal(err)
	}
	nan := []Tensor{{Name: "x", Datatype: FP64, Shape: []int64{1}, Data: []float64{float64(posInf())}}}
	if _, err := repo.Infer(context.Background(), "m", "", nan); errors.Is(err, ErrBadRequest) {
		t.Errorf("Inf in an input that allows it was rejected: %v", err)
	}
}

func posInf() float32 { var z float32; return 1 / z }

func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	m := newLinear("1", 0)
	release := m.gated()
	ts := startServer(t, Config{}, map[Model]BatchConfig{m: {MaxBatchSize: 4, MaxQueueDelay: time.Millisecond}})
	first := ts.inferAsync(t, [3]float32{1})
	<-m.entered // running
	second := ts.inferAsync(t, [3]float32{2})
	grpcDone := make(chan error, 1)
	go func() { _, err := ts.grpc.ModelInfer(context.Background(), rowRequest(3)); grpcDone <- err }()
	eventually(t, "HTTP and gRPC requests to queue", func() bool { return ts.queued("linear") == 2 })

	ts.cancel() // begin shutdown with one request running and two queued
	eventually(t, "server to report not ready", func() bool { return !ts.srv.ready() })
	select {
	case <-ts.done:
		t.Fatalf("Serve returned %v before in-flight requests finished", ts.err)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	for _, c := range []<-chan response{first, second} {
		if r := <-c; r.status != http.StatusOK {
			t.Errorf("in-flight request: status %d: %s", r.status, r.body)
		}
	}
	if err := <-grpcDone; err != nil {
		t.Errorf("in-flight gRPC request: %v", err)
	}
	<-ts.done
	if ts.err != nil {
		t.Fatalf("Serve: %v", ts.err)
	}
	if _, err := http.Get(ts.url + "/v2/health/live"); err == nil {
		t.Error("server still accepts connections after shutdown")
	}
	if len(ts.repo.Models()) != 0 {
		t.Error("models still loaded after shutdown")
	}
}

func TestRunFailsOnBadAddress(t *testing.T) {
	srv := NewServer(NewRepository(nil, nil), Config{HTTPAddr: "127.0.0.1:-1"})
	if err := srv.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "HTTP listener") {
		t.Errorf("Run on a bad address: %v", err)
	}
}

func TestPanicIsLoggedWithStack(t *testing.T) {
	var buf bytes.Buffer
	repo := NewRepository(nil, slog.New(slog.NewTextHandler(&buf, nil)))
	defer repo.Close()
	if err := repo.Load(newLinear("1", 0), BatchConfig{}); err != nil {
		t.Fatal(err)
	}
	x := []Tensor{{Name: "x", Datatype: FP32, Shape: []int64{1, 3}, Data: []float32{panicValue, 0, 0}}}
	_, err := repo.Infer(context.Background(), "linear", "", x)
	if !errors.Is(err, ErrModelFailed) || strings.Contains(err.Error(), "goroutine") {
		t.Errorf("panic error %q: want ErrModelFailed without a stack trace", err)
	}
	if log := buf.String(); !containsAll(log, "model panicked", "panic value", "stack=", "Infer") {
		t.Errorf("log %q lacks the panic and its stack", log)
	}
}
