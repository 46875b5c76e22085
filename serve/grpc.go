package serve

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"

	"google.golang.org/grpc/status"

	"github.com/mlenv/mlenv/buildinfo"
	pb "github.com/mlenv/mlenv/serve/inferencepb"
)

// grpcService implements inference.GRPCInferenceService on a Server.
type grpcService struct {
	pb.UnimplementedGRPCInferenceServiceServer
	s *Server
}

var _ pb.GRPCInferenceServiceServer = (*grpcService)(nil)

// error converts err to a gRPC status with the code of errorCodes, logging
// server-side failures.
func (g *grpcService) error(err error) error {
	httpStatus, code := errorStatus(err)
	if httpStatus >= http.StatusInternalServerError {
		g.s.log.Warn("inference request failed", "protocol", "grpc", "code", code, "err", err)
	}
	return status.Error(code, err.Error())
}

func (g *grpcService) ServerLive(context.Context, *pb.ServerLiveRequest) (*pb.ServerLiveResponse, error) {
	return &pb.ServerLiveResponse{Live: g.s.live()}, nil
}

func (g *grpcService) ServerReady(context.Context, *pb.ServerReadyRequest) (*pb.ServerReadyResponse, error) {
	return &pb.ServerReadyResponse{Ready: g.s.ready()}, nil
}

func (g *grpcService) ModelReady(_ context.Context, req *pb.ModelReadyRequest) (*pb.ModelReadyResponse, error) {
	if !g.s.repo.Ready(req.GetName(), req.GetVersion()) {
		return nil, g.error(fmt.Errorf("%w: model %q version %q is not loaded", ErrModelNotFound, req.GetName(), req.GetVersion()))
	}
	return &pb.ModelReadyResponse{Ready: !g.s.stopping.Load()}, nil
}

func (g *grpcService) ServerMetadata(context.Context, *pb.ServerMetadataRequest) (*pb.ServerMetadataResponse, error) {
	return &pb.ServerMetadataResponse{Name: serverName, Version: buildinfo.Version, Extensions: extensions}, nil
}

func (g *grpcService) ModelMetadata(_ context.Context, req *pb.ModelMetadataRequest) (*pb.ModelMetadataResponse, error) {
	meta, versions, err := g.s.repo.Metadata(req.GetName(), req.GetVersion())
	if err != nil {
		return nil, g.error(err)
	}
	specs := func(ts []TensorSpec) []*pb.ModelMetadataResponse_TensorMetadata {
		out := make([]*pb.ModelMetadataResponse_TensorMetadata, len(ts))
		for i, t := range ts {
			out[i] = &pb.ModelMetadataResponse_TensorMetadata{Name: t.Name, Datatype: string(t.Datatype), Shape: t.Shape}
		}
		return out
	}
	return &pb.ModelMetadataResponse{
		Name:     meta.Name,
		Versions: versions,
		Platform: meta.Platform,
		Inputs:   specs(meta.Inputs),
		Outputs:  specs(meta.Outputs),
	}, nil
}

// ModelInfer runs a request. Outputs come back in raw_output_contents when
// the request used raw_input_contents, asked for binary_data_output, or set
// binary_data on the output; otherwise in typed contents.
// The request is admitted to the model before its tensors are converted,
// so that a full queue turns it away at once.
func (g *grpcService) ModelInfer(ctx context.Context, req *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	a, err := g.s.repo.admit(req.GetModelName(), req.GetModelVersion())
	if err != nil {
		return nil, g.error(err)
	}
	resp, err := g.answer(ctx, req, a)
	a.done(err)
	if err != nil {
		return nil, g.error(err)
	}
	return resp, nil
}

// answer converts, runs and answers the request admitted as a.
func (g *grpcService) answer(ctx context.Context, req *pb.ModelInferRequest, a *admission) (*pb.ModelInferResponse, error) {
	r, err := decodeGRPCRequest(req)
	if err != nil {
		return nil, err
	}
	ctx, cancel, allRaw, err := r.options(ctx)
	defer cancel()
	if err != nil {
		return nil, err
	}
	res, err := a.infer(ctx, r.inputs)
	if err != nil {
		return nil, err
	}
	outputs, err := r.selectOutputs(res.Outputs, allRaw || len(req.GetRawInputContents()) > 0)
	if err != nil {
		return nil, err
	}
	return encodeGRPCResponse(res, r.id, outputs), nil
}

// decodeGRPCRequest converts a gRPC request; errors wrap ErrBadRequest.
func decodeGRPCRequest(req *pb.ModelInferRequest) (*inferRequest, error) {
	raw := req.GetRawInputContents()
	if len(raw) > 0 && len(raw) != len(req.GetInputs()) {
		return nil, fmt.Errorf("%w: raw_input_contents: %d entries for %d inputs", ErrBadRequest, len(raw), len(req.GetInputs()))
	}
	if len(req.GetInputs()) == 0 {
		return nil, fmt.Errorf("%w: inputs: none given", ErrBadRequest)
	}
	r := &inferRequest{id: req.GetId(), params: grpcParams(req.GetParameters())}
	for i, in := range req.GetInputs() {
		var rawData []byte
		if len(raw) > 0 {
			rawData = raw[i]
		}
		t, err := grpcInput(in, rawData, len(raw) > 0)
		if err != nil {
			return nil, fmt.Errorf("%w: inputs[%d] (%q): %w", ErrBadRequest, i, in.GetName(), err)
		}
		r.inputs = append(r.inputs, t)
	}
	for i, o := range req.GetOutputs() {
		b, err := boolParam(grpcParams(o.GetParameters()), paramBinaryData)
		if err != nil {
			return nil, fmt.Errorf("%w: outputs[%d].parameters: %w", ErrBadRequest, i, err)
		}
		r.outputs = append(r.outputs, outputRequest{name: o.GetName(), binary: b})
	}
	return r, nil
}

// grpcParams converts protocol parameters to the values intParam and
// boolParam read.
func grpcParams(params map[string]*pb.InferParameter) map[string]any {
	out := make(map[string]any, len(params))
	for k, p := range params {
		switch c := p.GetParameterChoice().(type) {
		case *pb.InferParameter_BoolParam:
			out[k] = c.BoolParam
		case *pb.InferParameter_Int64Param:
			out[k] = c.Int64Param
		case *pb.InferParameter_StringParam:
			out[k] = c.StringParam
		case *pb.InferParameter_DoubleParam:
			out[k] = c.DoubleParam
		case *pb.InferParameter_Uint64Param:
			out[k] = c.Uint64Param
		}
	}
	return out
}

// grpcInput converts one input tensor, from raw when isRaw, else from its
// typed contents.
func grpcInput(in *pb.ModelInferRequest_InferInputTensor, raw []byte, isRaw bool) (Tensor, error) {
	if in.GetName() == "" {
		return Tensor{}, errors.New("name: empty")
	}
	d, err := ParseDatatype(in.GetDatatype())
	if err != nil {
		return Tensor{}, fmt.Errorf("datatype: %w", err)
	}
	n, err := NumElements(in.GetShape())
	if err != nil {
		return Tensor{}, err
	}
	t := Tensor{Name: in.GetName(), Datatype: d, Shape: in.GetShape()}
	if isRaw {
		if in.GetContents() != nil {
			return Tensor{}, errors.New("contents: not allowed with raw_input_contents")
		}
		if t.Data, err = decodeRaw(raw, d, n); err != nil {
			return Tensor{}, fmt.Errorf("raw_input_contents: %w", err)
		}
		return t, nil
	}
	if t.Data, err = fromContents(in.GetContents(), d); err != nil {
		return Tensor{}, fmt.Errorf("contents: %w", err)
	}
	if got := t.Len(); got != n {
		return Tensor{}, fmt.Errorf("contents: %d elements, shape %v needs %d", got, t.Shape, n)
	}
	return t, nil
}

// fromContents returns the typed contents field of datatype d as the Go
// slice of d, checking that narrower integer types are in range.
func fromContents(c *pb.InferTensorContents, d Datatype) (any, error) {
	switch d {
	case Bool:
		return orEmpty(c.GetBoolContents()), nil
	case Int8:
		return narrow[int32, int8](c.GetIntContents(), math.MinInt8, math.MaxInt8)
	case Int16:
		return narrow[int32, int16](c.GetIntContents(), math.MinInt16, math.MaxInt16)
	case Int32:
		return orEmpty(c.GetIntContents()), nil
	case Int64:
		return orEmpty(c.GetInt64Contents()), nil
	case Uint8:
		return narrow[uint32, uint8](c.GetUintContents(), 0, math.MaxUint8)
	case Uint16:
		return narrow[uint32, uint16](c.GetUintContents(), 0, math.MaxUint16)
	case Uint32:
		return orEmpty(c.GetUintContents()), nil
	case Uint64:
		return orEmpty(c.GetUint64Contents()), nil
	case FP32:
		return orEmpty(c.GetFp32Contents()), nil
	case FP64:
		return orEmpty(c.GetFp64Contents()), nil
	case Bytes:
		return orEmpty(c.GetBytesContents()), nil
	}
	return nil, fmt.Errorf("unsupported datatype %q", d)
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// narrow converts wide protobuf integers to a narrower Go type, failing on
// the first value outside [lo, hi].
func narrow[W int32 | uint32, N int8 | int16 | uint8 | uint16](wide []W, lo, hi W) ([]N, error) {
	out := make([]N, len(wide))
	for i, v := range wide {
		if v < lo || v > hi {
			return nil, fmt.Errorf("element %d: %d out of range for %v", i, v, reflect.TypeFor[N]())
		}
		out[i] = N(v)
	}
	return out, nil
}

// widen converts a narrow Go integer slice to its protobuf field type.
func widen[N int8 | int16 | uint8 | uint16, W int32 | uint32](narrow []N) []W {
	out := make([]W, len(narrow))
	for i, v := range narrow {
		out[i] = W(v)
	}
	return out
}

// toContents returns t's data as typed protobuf contents.
func toContents(t Tensor) *pb.InferTensorContents {
	c := &pb.InferTensorContents{}
	switch data := t.Data.(type) {
	case []bool:
		c.BoolContents = data
	case []int8:
		c.IntContents = widen[int8, int32](data)
	case []int16:
		c.IntContents = widen[int16, int32](data)
	case []int32:
		c.IntContents = data
	case []int64:
		c.Int64Contents = data
	case []uint8:
		c.UintContents = widen[uint8, uint32](data)
	case []uint16:
		c.UintContents = widen[uint16, uint32](data)
	case []uint32:
		c.UintContents = data
	case []uint64:
		c.Uint64Contents = data
	case []float32:
		c.Fp32Contents = data
	case []float64:
		c.Fp64Contents = data
	case [][]byte:
		c.BytesContents = data
	}
	return c
}

// encodeGRPCResponse builds the response; if any output is raw, all are,
// since raw_output_contents is indexed like outputs.
func encodeGRPCResponse(res Result, id string, outputs []selectedOutput) *pb.ModelInferResponse {
	resp := &pb.ModelInferResponse{ModelName: res.Model, ModelVersion: res.Version, Id: id}
	raw := false
	for _, o := range outputs {
		raw = raw || o.binary
	}
	for _, o := range outputs {
		out := &pb.ModelInferResponse_InferOutputTensor{Name: o.Name, Datatype: string(o.Datatype), Shape: o.Shape}
		if raw {
			resp.RawOutputContents = append(resp.RawOutputContents, o.Tensor.AppendRaw(nil))
		} else {
			out.Contents = toContents(o.Tensor)
		}
		resp.Outputs = append(resp.Outputs, out)
	}
	return resp
}
