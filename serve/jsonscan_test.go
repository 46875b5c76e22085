package serve

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeInferRequestFields(t *testing.T) {
	body := `{"id": "r\u00e9q", "extra": {"a": [1, {"b": null}]},
		"parameters": {"timeout": 5, "tag": "t\u00e9", "flag": false, "gone": null, "nested": {"a": [1]}},
		"inputs": [{"datatype": "FP32", "data": [[1, -2.5e1], [3, 4]], "name": "x", "shape": [2, 2]},
		           {"name": "s", "shape": [1], "datatype": "BYTES", "data": ["a\"b"], "parameters": null}],
		"outputs": [{"name": "y", "parameters": {"binary_data": true}}]}`
	req, err := decodeInferRequest([]byte(body), -1)
	if err != nil {
		t.Fatal(err)
	}
	want := &inferRequest{
		id:     "réq",
		params: map[string]any{"timeout": 5.0, "tag": "té", "flag": false, "nested": json.RawMessage(`{"a": [1]}`)},
		inputs: []Tensor{
			{Name: "x", Datatype: FP32, Shape: []int64{2, 2}, Data: []float32{1, -25, 3, 4}},
			{Name: "s", Datatype: Bytes, Shape: []int64{1}, Data: [][]byte{[]byte(`a"b`)}},
		},
		outputs: []outputRequest{{name: "y", binary: true}},
	}
	if !reflect.DeepEqual(req, want) {
		t.Errorf("decoded %+v, want %+v", req, want)
	}
}

func TestDecodeInferRequestStrict(t *testing.T) {
	in := func(s string) string {
		return `{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1]}, ` + s + `]}`
	}
	for _, tc := range []struct{ body, want string }{
		{`{"inputs": [], "junk": [1, 2,]}`, "junk"},
		{`{"inputs": [] "outputs": []}`, "expected ',' or '}'"},
		{`{"inputs": []} x`, "trailing"},
		{`{"id": 7, "inputs": []}`, "id"},
		{in(`{"name": "z", "datatype": "FP32", "shape": [1.5], "data": [1]}`), "inputs[1]: shape"},
		{in(`{"name": "z", "datatype": "FP32", "shape": [1], "data": [01]}`), "inputs[1]: data"},
		{in(`{"name": "z", "datatype": "FP32", "shape": [1], "data": [NaN]}`), "inputs[1]: data"},
		{in(`{"name": "z", "datatype": "FP32", "shape": [1], "data": [1.]}`), "decimal point"},
		{in(`{"name": "z", "datatype": "FP32", "shape": [1], "data": [1e]}`), "exponent"},
		{in(`{"name": "z", "datatype": "BYTES", "shape": [1], "data": ["a` + "\n" + `"]}`), "control character"},
		{in(`{"name": "z", "datatype": "FP32", "shape": [1], "parameters": [1], "data": [1]}`), "inputs[1]: parameters"},
		{in(`{"name": "z", "datatype": "FP32", "shape": [2], "data": [[1], [2]}`), "inputs[1]: data"},
		{`{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1]}], "outputs": [{"name": "y", "parameters": {"binary_data": 1}}]}`, "outputs[0]: parameters"},
		{`{"parameters": {"timeout": 1e}, "inputs": []}`, "parameters: timeout"},
		{in(`{"name": "z", "datatype": "FP32", "shape": [1], "parameters": {"binary_data_size": [4]}}`), "binary_data_size"},
		{`{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": ` + strings.Repeat("[", maxJSONDepth+2) + `1` + strings.Repeat("]", maxJSONDepth+2) + `}]}`, "nested"},
	} {
		_, err := decodeInferRequest([]byte(tc.body), -1)
		if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want ErrBadRequest mentioning %q", tc.body, err, tc.want)
		}
	}
}

// oneRowRequest is a request shaped like one row of the DLRM example: 13
// numeric and 27 categorical columns.
func oneRowRequest() []byte {
	var b strings.Builder
	b.WriteString(`{"inputs": [`)
	for i := range 40 {
		if i > 0 {
			b.WriteString(", ")
		}
		if i < 13 {
			fmt.Fprintf(&b, `{"name": "i%d", "shape": [1], "datatype": "FP32", "data": [%d.25]}`, i, i)
		} else {
			fmt.Fprintf(&b, `{"name": "c%d", "shape": [1], "datatype": "BYTES", "data": ["%x"]}`, i, i*7919)
		}
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

func BenchmarkDecodeInferRequest(b *testing.B) {
	body := oneRowRequest()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeInferRequest(body, -1); err != nil {
			b.Fatal(err)
		}
	}
}
