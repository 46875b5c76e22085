package serve

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecodeInferRequest feeds arbitrary bodies and header lengths to the
// HTTP request decoder: it must never panic, must fail only with
// ErrBadRequest, and every tensor it accepts must be valid and survive a raw
// encode/decode round trip.
func FuzzDecodeInferRequest(f *testing.F) {
	f.Add([]byte(`{"id": "a", "inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 3], "data": [1, 2, 3, 4, 5, 6]}]}`), int64(-1))
	f.Add([]byte(`{"inputs": [{"name": "x", "datatype": "INT64", "shape": [2, 2], "data": [[1, 2], [3, 4]]}], "outputs": [{"name": "y", "parameters": {"binary_data": true}}]}`), int64(-1))
	f.Add([]byte(`{"inputs": [{"name": "s", "datatype": "BYTES", "shape": [2], "data": ["ab", ""]}, {"name": "b", "datatype": "BOOL", "shape": [1], "data": [true]}]}`), int64(-1))
	f.Add([]byte(`{"parameters": {"timeout": 5, "binary_data_output": true}, "inputs": [{"name": "u", "datatype": "UINT8", "shape": [3], "data": [0, 1, 255]}]}`), int64(-1))
	header := `{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "parameters": {"binary_data_size": 4}}, {"name": "s", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": 6}}]}`
	f.Add([]byte(header+"\x00\x00\x80\x3f\x02\x00\x00\x00hi"), int64(len(header)))
	f.Add([]byte(`{"inputs": [{"name": "x", "datatype": "FP16", "shape": [1], "data": [1]}]}`), int64(-1))
	f.Add([]byte(`{"inputs": [{"name": "x", "datatype": "INT8", "shape": [9223372036854775807, 2], "data": []}]}`), int64(-1))
	f.Add([]byte(`not json`), int64(3))
	f.Fuzz(func(t *testing.T, body []byte, headerLen int64) {
		req, err := decodeInferRequest(body, headerLen)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("error %v does not wrap ErrBadRequest", err)
			}
			return
		}
		for _, in := range req.inputs {
			if err := in.Validate(); err != nil {
				t.Fatalf("decoder accepted an invalid tensor: %v", err)
			}
			raw := in.AppendRaw(nil)
			got, err := decodeRaw(raw, in.Datatype, in.Len())
			if err != nil || !bytes.Equal(Tensor{Name: in.Name, Datatype: in.Datatype, Data: got}.AppendRaw(nil), raw) {
				t.Fatalf("tensor %q does not round-trip: %v", in.Name, err)
			}
		}
	})
}
