package serve

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestBatchingMergesConcurrentRequests(t *testing.T) {
	m := newLinear("1", 2)
	// The delay is long so that slow machines still merge; a full batch of 8
	// rows closes at once.
	ts := startServer(t, Config{}, map[Model]BatchConfig{m: {MaxBatchSize: 8, MaxQueueDelay: 2 * time.Second}})
	const n = 8
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			x := [3]float32{float32(i), float32(2 * i), 1}
			y, r := ts.inferRow(t, "/v2/models/linear/infer", x, "")
			if y == nil {
				t.Errorf("request %d: status %d: %s", i, r.status, r.body)
				return
			}
			if want := m.want(x); !approxEqual(y, want) {
				t.Errorf("request %d got %v, want its own row %v", i, y, want)
			}
		})
	}
	wg.Wait()
	sizes := m.batchSizes()
	if total := sum(sizes); total != n {
		t.Fatalf("batches %v hold %d rows, want %d", sizes, total, n)
	}
	if slices.Max(sizes) < 2 {
		t.Errorf("batches %v: concurrent requests were never merged", sizes)
	}
}

func sum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

func TestBatchingRespectsMaxBatchSize(t *testing.T) {
	m := newLinear("1", 0)
	release := m.gated()
	repo := NewRepository(nil, nil)
	if err := repo.Load(m, BatchConfig{MaxBatchSize: 3, MaxQueueDelay: time.Second}); err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	var wg sync.WaitGroup
	rows := []int64{1, 2, 2, 1, 3}
	infer := func(r int64) {
		x := make([]float32, 3*r)
		for i := range r {
			x[3*i] = float32(r)
		}
		res, err := repo.Infer(context.Background(), "linear", "", []Tensor{{Name: "x", Datatype: FP32, Shape: []int64{r, 3}, Data: x}})
		if err != nil {
			t.Error(err)
			return
		}
		if got := res.Outputs[0].Shape[0]; got != r {
			t.Errorf("request of %d rows got %d rows back", r, got)
		}
		if y := res.Outputs[0].Data.([]float32); y[0] != float32(r) {
			t.Errorf("request of %d rows got y[0] = %v, someone else's row", r, y[0])
		}
	}
	wg.Go(func() { infer(rows[0]) })
	<-m.entered // the first batch runs alone and blocks; the rest queue up
	for _, r := range rows[1:] {
		wg.Go(func() { infer(r) })
	}
	eventually(t, "requests to queue", func() bool { return queueLen(repo, "linear") == len(rows)-1 })
	release()
	wg.Wait()
	sizes := m.batchSizes()
	if sum(sizes) != 9 || slices.Max(sizes) > 3 {
		t.Errorf("batches %v: want 9 rows in batches of at most 3", sizes)
	}
	if _, err := repo.Infer(context.Background(), "linear", "", []Tensor{{Name: "x", Datatype: FP32, Shape: []int64{4, 3}, Data: make([]float32, 12)}}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("4 rows with max batch size 3: err %v, want ErrBadRequest", err)
	}
}

// queueLen returns how many requests wait in the default version's queue.
func queueLen(repo *Repository, name string) int {
	v, err := repo.acquire(name, "")
	if err != nil {
		return -1
	}
	defer v.refs.Done()
	return len(v.batcher.queue)
}

func TestQueueFullRejectsAtOnce(t *testing.T) {
	m := newLinear("1", 0)
	release := m.gated()
	ts := startServer(t, Config{}, map[Model]BatchConfig{m: {QueueSize: 1}})
	defer release()
	first := ts.inferAsync(t, [3]float32{1})
	<-m.entered // the model is busy with the first request
	second := ts.inferAsync(t, [3]float32{2})
	eventually(t, "second request to queue", func() bool { return ts.queued("linear") == 1 })

	_, r := ts.inferRow(t, "/v2/models/linear/infer", [3]float32{3}, "")
	if r.status != http.StatusTooManyRequests || !containsAll(r.errorMessage(t), "queue full", `"linear"`) {
		t.Fatalf("third request: status %d: %s, want 429", r.status, r.body)
	}
	if _, err := ts.grpc.ModelInfer(context.Background(), rowRequest(3)); grpcCode(err) != "ResourceExhausted" {
		t.Fatalf("gRPC request at a full queue: %v, want RESOURCE_EXHAUSTED", err)
	}
	// The queue is checked before the body is read: a malformed request is
	// turned away as excess, not decoded.
	if r := ts.postJSON(t, "/v2/models/linear/infer", `{"inputs": [`); r.status != http.StatusTooManyRequests {
		t.Fatalf("malformed request at a full queue: status %d: %s, want 429", r.status, r.body)
	}
	release()
	for _, c := range []<-chan response{first, second} {
		if r := <-c; r.status != http.StatusOK {
			t.Errorf("admitted request: status %d: %s", r.status, r.body)
		}
	}
}

func TestExpiredRequestsAreDropped(t *testing.T) {
	m := newLinear("1", 0)
	release := m.gated()
	ts := startServer(t, Config{}, map[Model]BatchConfig{m: {MaxBatchSize: 4}})
	defer release()
	first := ts.inferAsync(t, [3]float32{1})
	<-m.entered
	// Queued behind the blocked batch with a 20 ms deadline: it must expire
	// in the queue and never reach the model.
	_, r := ts.inferRow(t, "/v2/models/linear/infer", [3]float32{42}, `{"timeout": 20000}`)
	if r.status != http.StatusGatewayTimeout || !containsAll(r.errorMessage(t), "deadline exceeded") {
		t.Fatalf("expired request: status %d: %s, want 504", r.status, r.body)
	}
	release()
	if r := <-first; r.status != http.StatusOK {
		t.Fatalf("first request: status %d: %s", r.status, r.body)
	}
	if y, r := ts.inferRow(t, "/v2/models/linear/infer", [3]float32{7}, ""); y == nil {
		t.Fatalf("later request: status %d: %s", r.status, r.body)
	}
	if seen := m.seenFirst(); slices.Contains(seen, 42) || !slices.Equal(seen, []float32{1, 7}) {
		t.Errorf("model ran rows starting %v, want [1 7] without the expired 42", seen)
	}
}

func TestInstancesRunConcurrently(t *testing.T) {
	m := newLinear("1", 0)
	release := m.gated()
	repo := NewRepository(nil, nil)
	if err := repo.Load(m, BatchConfig{Instances: 2}); err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			x := []Tensor{{Name: "x", Datatype: FP32, Shape: []int64{1, 3}, Data: []float32{float32(i), 0, 0}}}
			if _, err := repo.Infer(context.Background(), "linear", "", x); err != nil {
				t.Error(err)
			}
		})
	}
	<-m.entered
	<-m.entered // two Infer calls are blocked at once
	eventually(t, "third request to queue", func() bool { return queueLen(repo, "linear") == 1 })
	release()
	wg.Wait()
	if got := len(m.batchSizes()); got != 3 {
		t.Errorf("%d Infer calls, want 3", got)
	}
}

// echo returns its input, which has two variable dimensions.
type echo struct{ entered, gate chan struct{} }

func (echo) Metadata() Metadata {
	return Metadata{Name: "echo", Version: "1",
		Inputs:  []TensorSpec{{Name: "x", Datatype: Int64, Shape: []int64{-1, -1}}},
		Outputs: []TensorSpec{{Name: "y", Datatype: Int64, Shape: []int64{-1, -1}}}}
}

func (m echo) Infer(_ context.Context, in []Tensor) ([]Tensor, error) {
	m.entered <- struct{}{}
	<-m.gate
	return []Tensor{{Name: "y", Datatype: Int64, Shape: in[0].Shape, Data: in[0].Data}}, nil
}

func TestBatchingKeepsInnerShapesApart(t *testing.T) {
	m := echo{entered: make(chan struct{}, 8), gate: make(chan struct{})}
	repo := NewRepository(nil, nil)
	if err := repo.Load(m, BatchConfig{MaxBatchSize: 8}); err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	var wg sync.WaitGroup
	infer := func(width int64) {
		data := make([]int64, width)
		for i := range data {
			data[i] = width
		}
		res, err := repo.Infer(context.Background(), "echo", "", []Tensor{{Name: "x", Datatype: Int64, Shape: []int64{1, width}, Data: data}})
		if err != nil {
			t.Error(err)
			return
		}
		if y := res.Outputs[0]; !slices.Equal(y.Shape, []int64{1, width}) || !slices.Equal(y.Data.([]int64), data) {
			t.Errorf("width %d: got %v %v", width, y.Shape, y.Data)
		}
	}
	wg.Go(func() { infer(1) })
	<-m.entered
	for i, w := range []int64{2, 2, 3} { // queued in this order
		wg.Go(func() { infer(w) })
		eventually(t, "request to queue", func() bool { return queueLen(repo, "echo") == i+1 })
	}
	close(m.gate)
	wg.Wait()
	if n := len(m.entered); n != 2 {
		t.Errorf("%d more Infer calls, want 2: the width-2 pair merged, the width-3 request alone", n)
	}
}
