package serve

import (
	"context"
	"encoding/binary"
	"slices"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	pb "github.com/mlenv/mlenv/serve/inferencepb"
)

// rowRequest is a gRPC request for one x row starting with first.
func rowRequest(first float32) *pb.ModelInferRequest {
	return &pb.ModelInferRequest{
		ModelName: "linear",
		Inputs: []*pb.ModelInferRequest_InferInputTensor{{
			Name: "x", Datatype: "FP32", Shape: []int64{1, 3},
			Contents: &pb.InferTensorContents{Fp32Contents: []float32{first, 0, 0}},
		}},
	}
}

func grpcCode(err error) string { return status.Code(err).String() }

func TestGRPCHealthAndMetadata(t *testing.T) {
	ts := startServer(t, Config{}, map[Model]BatchConfig{newLinear("4", 0): {}})
	ctx := context.Background()
	if r, err := ts.grpc.ServerLive(ctx, &pb.ServerLiveRequest{}); err != nil || !r.Live {
		t.Errorf("ServerLive: %v, %v", r, err)
	}
	if r, err := ts.grpc.ServerReady(ctx, &pb.ServerReadyRequest{}); err != nil || !r.Ready {
		t.Errorf("ServerReady: %v, %v", r, err)
	}
	if r, err := ts.grpc.ModelReady(ctx, &pb.ModelReadyRequest{Name: "linear", Version: "4"}); err != nil || !r.Ready {
		t.Errorf("ModelReady: %v, %v", r, err)
	}
	if _, err := ts.grpc.ModelReady(ctx, &pb.ModelReadyRequest{Name: "linear", Version: "5"}); grpcCode(err) != "NotFound" {
		t.Errorf("ModelReady of an unknown version: %v, want NOT_FOUND", err)
	}
	if r, err := ts.grpc.ServerMetadata(ctx, &pb.ServerMetadataRequest{}); err != nil || r.Name != serverName || len(r.Extensions) == 0 {
		t.Errorf("ServerMetadata: %v, %v", r, err)
	}
	r, err := ts.grpc.ModelMetadata(ctx, &pb.ModelMetadataRequest{Name: "linear"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "linear" || len(r.Versions) != 1 || r.Versions[0] != "4" || r.Platform != "go-test" ||
		len(r.Inputs) != 1 || r.Inputs[0].Datatype != "FP32" || len(r.Inputs[0].Shape) != 2 || r.Inputs[0].Shape[0] != -1 {
		t.Errorf("ModelMetadata: %v", r)
	}
	if _, err := ts.grpc.ModelMetadata(ctx, &pb.ModelMetadataRequest{Name: "nope"}); grpcCode(err) != "NotFound" {
		t.Errorf("ModelMetadata of an unknown model: %v, want NOT_FOUND", err)
	}
}

func TestGRPCInfer(t *testing.T) {
	m := newLinear("1", 0.25)
	ts := startServer(t, Config{}, map[Model]BatchConfig{m: {MaxBatchSize: 8}})
	ctx := context.Background()

	req := rowRequest(2)
	req.Id = "g-1"
	r, err := ts.grpc.ModelInfer(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if r.Id != "g-1" || r.ModelVersion != "1" || len(r.Outputs) != 1 || len(r.RawOutputContents) != 0 ||
		!approxEqual(r.Outputs[0].Contents.GetFp32Contents(), m.want([3]float32{2, 0, 0})) {
		t.Errorf("typed infer: %v", r)
	}

	req = rowRequest(2)
	req.Parameters = map[string]*pb.InferParameter{paramBinaryDataOutput: {ParameterChoice: &pb.InferParameter_BoolParam{BoolParam: true}}}
	if r, err := ts.grpc.ModelInfer(ctx, req); err != nil || len(r.RawOutputContents) != 1 || len(r.RawOutputContents[0]) != 8 {
		t.Errorf("binary_data_output: %v, %v, want 8 raw bytes", r, err)
	}
	req.Parameters = map[string]*pb.InferParameter{paramTimeout: {ParameterChoice: &pb.InferParameter_StringParam{StringParam: "1s"}}}
	if _, err := ts.grpc.ModelInfer(ctx, req); grpcCode(err) != "InvalidArgument" {
		t.Errorf("string timeout: %v, want INVALID_ARGUMENT", err)
	}

	x := []float32{1, 2, 3, 4, 5, 6}
	raw, _ := binary.Append(nil, binary.LittleEndian, x)
	r, err = ts.grpc.ModelInfer(ctx, &pb.ModelInferRequest{
		ModelName:        "linear",
		Inputs:           []*pb.ModelInferRequest_InferInputTensor{{Name: "x", Datatype: "FP32", Shape: []int64{2, 3}}},
		Outputs:          []*pb.ModelInferRequest_InferRequestedOutputTensor{{Name: "y"}},
		RawInputContents: [][]byte{raw},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.RawOutputContents) != 1 || r.Outputs[0].Contents != nil {
		t.Fatalf("raw infer returned %v, want raw_output_contents", r)
	}
	y := make([]float32, 4)
	binary.Decode(r.RawOutputContents[0], binary.LittleEndian, y)
	if want := append(m.want([3]float32{1, 2, 3}), m.want([3]float32{4, 5, 6})...); !approxEqual(y, want) {
		t.Errorf("raw y = %v, want %v", y, want)
	}
}

func TestGRPCErrors(t *testing.T) {
	ts := startServer(t, Config{}, map[Model]BatchConfig{newLinear("1", 0): {}})
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		edit func(*pb.ModelInferRequest)
		code string
	}{
		{"unknown model", func(r *pb.ModelInferRequest) { r.ModelName = "nope" }, "NotFound"},
		{"wrong input name", func(r *pb.ModelInferRequest) { r.Inputs[0].Name = "z" }, "InvalidArgument"},
		{"wrong datatype", func(r *pb.ModelInferRequest) {
			r.Inputs[0].Datatype = "INT32"
			r.Inputs[0].Contents = &pb.InferTensorContents{IntContents: []int32{1, 2, 3}}
		}, "InvalidArgument"},
		{"wrong shape", func(r *pb.ModelInferRequest) { r.Inputs[0].Shape = []int64{3, 1} }, "InvalidArgument"},
		{"count mismatch", func(r *pb.ModelInferRequest) { r.Inputs[0].Shape = []int64{2, 3} }, "InvalidArgument"},
		{"raw and contents", func(r *pb.ModelInferRequest) { r.RawInputContents = [][]byte{make([]byte, 12)} }, "InvalidArgument"},
		{"raw count", func(r *pb.ModelInferRequest) {
			r.Inputs[0].Contents = nil
			r.RawInputContents = [][]byte{make([]byte, 12), nil}
		}, "InvalidArgument"},
		{"raw size", func(r *pb.ModelInferRequest) {
			r.Inputs[0].Contents = nil
			r.RawInputContents = [][]byte{make([]byte, 11)}
		}, "InvalidArgument"},
		{"unknown output", func(r *pb.ModelInferRequest) {
			r.Outputs = []*pb.ModelInferRequest_InferRequestedOutputTensor{{Name: "q"}}
		}, "InvalidArgument"},
		{"panic", func(r *pb.ModelInferRequest) { r.Inputs[0].Contents.Fp32Contents[0] = panicValue }, "Internal"},
	} {
		req := rowRequest(1)
		tc.edit(req)
		if _, err := ts.grpc.ModelInfer(ctx, req); grpcCode(err) != tc.code {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
}

func TestGRPCDeadlineAndSizeLimit(t *testing.T) {
	m := newLinear("1", 0)
	release := m.gated()
	ts := startServer(t, Config{MaxRequestBytes: 4096}, map[Model]BatchConfig{m: {}})
	defer release()

	big := rowRequest(1)
	big.Inputs[0].Shape = []int64{1000, 3}
	big.Inputs[0].Contents.Fp32Contents = make([]float32, 3000)
	if _, err := ts.grpc.ModelInfer(context.Background(), big); grpcCode(err) != "ResourceExhausted" {
		t.Errorf("12 kB message with a 4 kB limit: %v, want RESOURCE_EXHAUSTED", err)
	}

	done := make(chan error, 1)
	go func() { _, err := ts.grpc.ModelInfer(context.Background(), rowRequest(1)); done <- err }()
	<-m.entered
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := ts.grpc.ModelInfer(ctx, rowRequest(42)); grpcCode(err) != "DeadlineExceeded" {
		t.Errorf("request past its deadline: %v, want DEADLINE_EXCEEDED", err)
	}
	// The client gives up at its deadline; the server sees the end of the
	// request a moment later. Wait for that before letting the model run.
	eventually(t, "the server to fail the request", func() bool { return ts.failures(t) == 1 })
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := ts.grpc.ModelInfer(context.Background(), rowRequest(7)); err != nil {
		t.Fatal(err)
	}
	for _, x := range m.seenFirst() {
		if x == 42 {
			t.Errorf("the expired gRPC request ran on the model: %v", m.seenFirst())
		}
	}
}

func TestGRPCHealthServiceAndReflection(t *testing.T) {
	ts := startServer(t, Config{}, map[Model]BatchConfig{newLinear("1", 0): {}})
	ctx := context.Background()
	r, err := healthpb.NewHealthClient(ts.conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("grpc.health.v1 Check: %v, %v", r, err)
	}
	stream, err := reflectionpb.NewServerReflectionClient(ts.conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.CloseSend()
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	if !slices.Contains(names, "inference.GRPCInferenceService") {
		t.Errorf("reflection lists %v, want inference.GRPCInferenceService", names)
	}
}
