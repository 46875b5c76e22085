package serve

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func TestHTTPInferJSON(t *testing.T) {
	m := newLinear("1", 0.5)
	ts := startServer(t, Config{}, map[Model]BatchConfig{m: {}})
	for name, data := range map[string]string{
		"flat":   `[1, 2, 3, 4, 5, 6]`,
		"nested": `[[1, 2, 3], [4, 5, 6]]`,
	} {
		t.Run(name, func(t *testing.T) {
			r := ts.postJSON(t, "/v2/models/linear/infer", `{"id": "req-7", "inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 3], "data": `+data+`}]}`)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			var out jsonInferResponseForTest
			if err := json.Unmarshal(r.body, &out); err != nil {
				t.Fatal(err)
			}
			if out.ID != "req-7" || out.ModelName != "linear" || out.ModelVersion != "1" {
				t.Errorf("id, model, version = %q, %q, %q", out.ID, out.ModelName, out.ModelVersion)
			}
			want := append(m.want([3]float32{1, 2, 3}), m.want([3]float32{4, 5, 6})...)
			if len(out.Outputs) != 1 || out.Outputs[0].Name != "y" || out.Outputs[0].Datatype != "FP32" ||
				!approxEqual(out.Outputs[0].Data, want) || len(out.Outputs[0].Shape) != 2 || out.Outputs[0].Shape[0] != 2 {
				t.Errorf("outputs %+v, want y [2 2] %v", out.Outputs, want)
			}
		})
	}
}

type jsonInferResponseForTest struct {
	ModelName    string `json:"model_name"`
	ModelVersion string `json:"model_version"`
	ID           string `json:"id"`
	Outputs      []struct {
		Name       string
		Datatype   string
		Shape      []int64
		Parameters map[string]any
		Data       []float32
	}
}

func TestHTTPBinaryRoundTrip(t *testing.T) {
	m := newLinear("1", 1)
	ts := startServer(t, Config{}, map[Model]BatchConfig{m: {}})
	x := []float32{1, 2, 3, -1, 0.5, 2}
	raw, _ := binary.Append(nil, binary.LittleEndian, x)
	header := []byte(`{"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 3], "parameters": {"binary_data_size": 24}}],` +
		` "outputs": [{"name": "y", "parameters": {"binary_data": true}}]}`)
	r := ts.do(t, http.MethodPost, "/v2/models/linear/versions/1/infer",
		http.Header{headerContentLength: {strconv.Itoa(len(header))}}, append(header, raw...))
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	n, err := strconv.Atoi(r.header.Get(headerContentLength))
	if err != nil || n > len(r.body) {
		t.Fatalf("%s = %q for a %d-byte body", headerContentLength, r.header.Get(headerContentLength), len(r.body))
	}
	var out jsonInferResponseForTest
	if err := json.Unmarshal(r.body[:n], &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Outputs) != 1 || out.Outputs[0].Parameters[paramBinaryDataSize] != float64(16) || out.Outputs[0].Data != nil {
		t.Fatalf("output header %+v, want binary_data_size 16 and no data", out.Outputs)
	}
	y := make([]float32, 4)
	if _, err := binary.Decode(r.body[n:], binary.LittleEndian, y); err != nil || len(r.body[n:]) != 16 {
		t.Fatalf("binary part of %d bytes: %v", len(r.body[n:]), err)
	}
	want := append(m.want([3]float32{1, 2, 3}), m.want([3]float32{-1, 0.5, 2})...)
	if !approxEqual(y, want) {
		t.Errorf("y = %v, want %v", y, want)
	}
}

func TestHTTPBinaryDataOutputParameter(t *testing.T) {
	ts := startServer(t, Config{}, map[Model]BatchConfig{newLinear("1", 0): {}})
	r := ts.postJSON(t, "/v2/models/linear/infer", `{"parameters": {"binary_data_output": true}, "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 1, 1]}]}`)
	if r.status != http.StatusOK || r.header.Get(headerContentLength) == "" {
		t.Fatalf("status %d, %s %q: %s", r.status, headerContentLength, r.header.Get(headerContentLength), r.body)
	}
}

func TestHTTPErrors(t *testing.T) {
	ts := startServer(t, Config{MaxRequestBytes: 4096}, map[Model]BatchConfig{newLinear("1", 0): {}})
	nan := make([]byte, 0, 12)
	nan, _ = binary.Append(nan, binary.LittleEndian, []float32{1, float32(math.NaN()), 3})
	nanHeader := `{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "parameters": {"binary_data_size": 12}}]}`
	input := func(s string) string { return `{"inputs": [` + s + `]}` }
	plain := input(`{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}`)
	for _, tc := range []struct {
		name, path string
		header     http.Header
		body       string
		status     int
		mention    []string // substrings the error must contain
	}{
		{"unknown model", "/v2/models/nope/infer", nil, input(`{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}`), 404, []string{`"nope"`}},
		{"unknown version", "/v2/models/linear/versions/9/infer", nil, input(`{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}`), 404, []string{`"9"`}},
		{"wrong input name", "/v2/models/linear/infer", nil, input(`{"name": "z", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}`), 400, []string{"inputs[0].name", `"z"`}},
		{"missing input", "/v2/models/linear/infer", nil, `{"inputs": []}`, 400, []string{"inputs"}},
		{"wrong shape", "/v2/models/linear/infer", nil, input(`{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}`), 400, []string{`input "x"`, "shape"}},
		{"wrong datatype", "/v2/models/linear/infer", nil, input(`{"name": "x", "datatype": "INT32", "shape": [1, 3], "data": [1, 2, 3]}`), 400, []string{`input "x"`, "datatype INT32"}},
		{"unsupported datatype", "/v2/models/linear/infer", nil, input(`{"name": "x", "datatype": "FP16", "shape": [1, 3], "data": [1, 2, 3]}`), 400, []string{"inputs[0]", "datatype", "FP16"}},
		{"too few elements", "/v2/models/linear/infer", nil, input(`{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 2]}`), 400, []string{"inputs[0]", "data", "2 elements"}},
		{"not a number", "/v2/models/linear/infer", nil, input(`{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, "a", 3]}`), 400, []string{"inputs[0]", "element 1"}},
		{"NaN", "/v2/models/linear/infer", http.Header{headerContentLength: {strconv.Itoa(len(nanHeader))}}, nanHeader + string(nan), 400, []string{`input "x"`, "element 1", "NaN"}},
		{"malformed JSON", "/v2/models/linear/infer", nil, `{"inputs": [`, 400, []string{"request JSON"}},
		{"unknown output", "/v2/models/linear/infer", nil, `{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}], "outputs": [{"name": "q"}]}`, 400, []string{"outputs[0].name", `"q"`}},
		{"bad header length", "/v2/models/linear/infer", http.Header{headerContentLength: {"-3"}}, input(""), 400, []string{headerContentLength}},
		{"header length past body", "/v2/models/linear/infer", http.Header{headerContentLength: {"999"}}, input(""), 400, []string{headerContentLength, "999"}},
		{"binary size past body", "/v2/models/linear/infer", http.Header{headerContentLength: {strconv.Itoa(len(nanHeader))}}, nanHeader + "abc", 400, []string{"binary_data_size", "12"}},
		{"unclaimed binary", "/v2/models/linear/infer", http.Header{headerContentLength: {strconv.Itoa(len(plain))}}, plain + "xyz", 400, []string{"3 bytes"}},
		{"bad timeout", "/v2/models/linear/infer", nil, `{"parameters": {"timeout": "soon"}, "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}]}`, 400, []string{"timeout"}},
		{"oversized body", "/v2/models/linear/infer", nil, input(`{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3` + strings.Repeat(" ", 5000) + `]}`), 413, []string{"4096 bytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do(t, http.MethodPost, tc.path, tc.header, []byte(tc.body))
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if msg := r.errorMessage(t); !containsAll(msg, tc.mention...) {
				t.Errorf("error %q does not mention %q", msg, tc.mention)
			}
		})
	}
	// The server still answers after all of the above.
	if y, r := ts.inferRow(t, "/v2/models/linear/infer", [3]float32{1, 2, 3}, ""); y == nil {
		t.Fatalf("after bad requests: status %d: %s", r.status, r.body)
	}
}

func TestHTTPMetadataAndHealth(t *testing.T) {
	ts := startServer(t, Config{}, map[Model]BatchConfig{newLinear("1", 0): {}, newLinear("2", 0): {}})
	for _, tc := range []struct {
		path   string
		status int
		body   string // substring of the body, if any
	}{
		{"/v2", 200, `"extensions":["binary_tensor_data"]`},
		{"/v2/health/live", 200, ""},
		{"/v2/health/ready", 200, ""},
		{"/v2/models/linear", 200, `"inputs":[{"name":"x","datatype":"FP32","shape":[-1,3]}]`},
		{"/v2/models/linear/versions/1", 200, `"outputs":[{"name":"y","datatype":"FP32","shape":[-1,2]}]`},
		{"/v2/models/linear/ready", 200, ""},
		{"/v2/models/linear/versions/2/ready", 200, ""},
		{"/v2/models/linear/versions/3/ready", 404, `version \"3\"`},
		{"/v2/models/other", 404, `model \"other\"`},
	} {
		r := ts.get(t, tc.path)
		if r.status != tc.status || !strings.Contains(string(r.body), tc.body) {
			t.Errorf("GET %s: %d %s, want %d with %s", tc.path, r.status, r.body, tc.status, tc.body)
		}
	}
	var meta struct{ Versions []string }
	if err := json.Unmarshal(ts.get(t, "/v2/models/linear").body, &meta); err != nil || len(meta.Versions) != 2 {
		t.Errorf("versions %v (%v), want both loaded versions", meta.Versions, err)
	}
}

func TestHTTPTimeoutParameterDoesNotOverflow(t *testing.T) {
	ts := startServer(t, Config{}, map[Model]BatchConfig{newLinear("1", 0): {}})
	if y, r := ts.inferRow(t, "/v2/models/linear/infer", [3]float32{1}, `{"timeout": 9223372036854775807}`); y == nil {
		t.Fatalf("huge timeout: status %d: %s", r.status, r.body)
	}
}

func TestHTTPPanicFailsOnlyItsBatch(t *testing.T) {
	ts := startServer(t, Config{}, map[Model]BatchConfig{newLinear("1", 0): {}})
	_, r := ts.inferRow(t, "/v2/models/linear/infer", [3]float32{panicValue, 0, 0}, "")
	if r.status != http.StatusInternalServerError || !strings.Contains(r.errorMessage(t), "panicked") {
		t.Fatalf("panicking model: status %d: %s", r.status, r.body)
	}
	if y, r := ts.inferRow(t, "/v2/models/linear/infer", [3]float32{1, 0, 0}, ""); y == nil {
		t.Fatalf("after a panic: status %d: %s", r.status, r.body)
	}
}

func TestHTTPMetrics(t *testing.T) {
	m := newLinear("1", 0)
	ts := startServer(t, Config{}, map[Model]BatchConfig{m: {MaxBatchSize: 4}})
	for range 3 {
		ts.inferRow(t, "/v2/models/linear/infer", [3]float32{1, 2, 3}, "")
	}
	ts.postJSON(t, "/v2/models/linear/infer", `{"inputs": [{"name": "z", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}]}`)
	r := ts.get(t, "/metrics")
	body := string(bytes.ReplaceAll(r.body, []byte("\r"), nil))
	for _, want := range []string{
		`mlenv_serve_requests_total{model="linear",version="1"} 4`,
		`mlenv_serve_request_errors_total{code="400",model="linear",version="1"} 1`,
		`mlenv_serve_request_duration_seconds_count{model="linear",version="1"} 4`,
		`mlenv_serve_batch_size_count{model="linear",version="1"} 3`,
		`mlenv_serve_batch_size_sum{model="linear",version="1"} 3`,
		`mlenv_serve_queue_depth{model="linear",version="1"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestReadBody(t *testing.T) {
	// Content-Length unknown, exact, too small and above the limit: the
	// whole body comes back each time.
	for _, size := range []int64{-1, 5, 3, 100} {
		got, err := readBody(strings.NewReader("hello"), size, 10)
		if err != nil || string(got) != "hello" {
			t.Errorf("size %d: read %q, %v", size, got, err)
		}
	}
}
