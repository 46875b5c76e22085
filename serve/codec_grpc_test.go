package serve

import (
	"math"
	"reflect"
	"strings"
	"testing"

	pb "github.com/mlenv/mlenv/serve/inferencepb"
)

func TestContentsRoundTrip(t *testing.T) {
	for d, data := range samples {
		c := toContents(Tensor{Name: "t", Datatype: d, Shape: []int64{3}, Data: data})
		got, err := fromContents(c, d)
		if err != nil || !reflect.DeepEqual(got, data) {
			t.Errorf("%s: %v (%v), want %v", d, got, err, data)
		}
	}
}

func TestContentsOutOfRange(t *testing.T) {
	for _, tc := range []struct {
		d Datatype
		c *pb.InferTensorContents
	}{
		{Int8, &pb.InferTensorContents{IntContents: []int32{1, 128}}},
		{Int16, &pb.InferTensorContents{IntContents: []int32{math.MinInt16 - 1}}},
		{Uint8, &pb.InferTensorContents{UintContents: []uint32{256}}},
		{Uint16, &pb.InferTensorContents{UintContents: []uint32{0, 0, math.MaxUint16 + 1}}},
	} {
		if _, err := fromContents(tc.c, tc.d); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("%s %v: error %v, want out of range", tc.d, tc.c, err)
		}
	}
}

func TestGRPCParams(t *testing.T) {
	got := grpcParams(map[string]*pb.InferParameter{
		"b": {ParameterChoice: &pb.InferParameter_BoolParam{BoolParam: true}},
		"i": {ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: -3}},
		"s": {ParameterChoice: &pb.InferParameter_StringParam{StringParam: "x"}},
		"d": {ParameterChoice: &pb.InferParameter_DoubleParam{DoubleParam: 2}},
		"u": {ParameterChoice: &pb.InferParameter_Uint64Param{Uint64Param: 5}},
	})
	want := map[string]any{"b": true, "i": int64(-3), "s": "x", "d": 2.0, "u": uint64(5)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("grpcParams = %v, want %v", got, want)
	}
	for key, ok := range map[string]bool{"d": true, "u": true, "i": false, "s": false} {
		if _, _, err := intParam(got, key); (err == nil) != ok {
			t.Errorf("intParam(%q): %v", key, err)
		}
	}
}
