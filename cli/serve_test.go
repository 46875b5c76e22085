package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/mlenv/mlenv/data"
	"github.com/mlenv/mlenv/modelfile"
	"github.com/mlenv/mlenv/registry"
	pb "github.com/mlenv/mlenv/serve/inferencepb"
	"github.com/mlenv/mlenv/serve/onnxpb"
	"github.com/mlenv/mlenv/ui"
)

// tinySpec is a job spec that trains in a second or two on inCTRDir's data.
const tinySpec = `name: tiny
experiment: serve-test
data:
  train: {path: mlenv-data/ctr-train.parquet}
  validation: {path: mlenv-data/ctr-valid.parquet}
  features:
    - {name: I1, type: numeric, log: true}
    - {name: I2, type: numeric, normalize: standard}
    - {name: C1, type: categorical}
    - {name: C2, type: categorical}
    - {name: tags, type: multi_hot}
  label: {name: label, type: binary}
model:
  arch: mlp
  params: {hidden: [16], embedding_dim: 4}
training:
  batch_size: 256
  epochs: 1
  seed: 1
`

// lockedBuffer is a bytes.Buffer safe for a command writing while the test
// reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serveRows reads the first n validation rows as a client sends them:
// numbers as float64 (the data are integers, exact in FP32), categories
// as strings and tags as lists.
func serveRows(t *testing.T, n int) []map[string]any {
	t.Helper()
	src := data.Source{Path: filepath.Join("mlenv-data", "ctr-valid.parquet"), Format: data.FormatParquet}
	cols := []string{"I1", "I2", "C1", "C2", "tags"}
	var rows []map[string]any
	for rec, err := range src.Records(cols) {
		if err != nil {
			t.Fatal(err)
		}
		if rows = append(rows, rec.Raw(cols)); len(rows) == n {
			break
		}
	}
	return rows
}

// TestServeEndToEnd trains a model with mlenv train (recorded in the
// embedded tracking directory), registers it with an alias and by path,
// serves the alias, the version and the artifact directory with mlenv
// serve, queries them over HTTP/JSON and gRPC against modelfile's Predict,
// load-tests one with mlenv bench serve, moves the alias and sees the
// server switch versions, and stops the server with SIGTERM.
func TestServeEndToEnd(t *testing.T) {
	dir := inCTRDir(t)
	if err := os.WriteFile("tiny.yaml", []byte(tinySpec), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, "train", "tiny.yaml", "--json")
	var summary struct {
		Model string `json:"model"`
		RunID string `json:"run_id"`
	}
	if err := json.Unmarshal([]byte(out), &summary); code != exitOK || err != nil || summary.RunID == "" {
		t.Fatalf("train: code %d, out %q, stderr %q", code, out, stderr)
	}
	model, err := modelfile.Load(summary.Model)
	if err != nil {
		t.Fatal(err)
	}
	rows := serveRows(t, 5)
	want, err := model.Predict(rows)
	if err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	uri, stopTracking, err := serveEmbedded(ctx, filepath.Join(dir, ".mlenv"))
	if err != nil {
		t.Fatal(err)
	}
	defer stopTracking()
	register := func(wantVersion string) {
		t.Helper()
		code, out, stderr := runCLI(t, "models", "register", "ctr", "--run", summary.RunID, "--alias", "prod", "--uri", uri)
		if code != exitOK || !strings.Contains(out, "registered ctr/"+wantVersion+" ") {
			t.Fatalf("models register: code %d, out %q, stderr %q", code, out, stderr)
		}
	}
	register("1")
	code, out, stderr = runCLI(t, "models", "register", "local", "--path", summary.Model, "--uri", uri)
	if code != exitOK || !strings.Contains(out, "registered local/1 from /") {
		t.Fatalf("models register --path: code %d, out %q, stderr %q", code, out, stderr)
	}

	srv := startServe(t, "ctr@prod", "local/1", summary.Model, "--uri", uri, "--poll", "50ms", "--max-batch-size", "16")
	base, grpcAddr := srv.base, srv.grpcAddr

	for _, name := range []string{"ctr", "local", "tiny"} {
		ver, got := inferHTTP(t, base, name, rows)
		if ver != "1" {
			t.Errorf("%s served version %q, want 1", name, ver)
		}
		checkPredictions(t, name+" over HTTP", got, want)
	}
	checkPredictions(t, "ctr over gRPC", inferGRPC(t, grpcAddr, "ctr", rows), want)
	for _, mv := range [][2]string{{"ctr", "1"}, {"local", "1"}} {
		if got := endpointTag(t, uri, mv[0], mv[1]); got != base {
			t.Errorf("%s/%s: tag %s = %q, want %q", mv[0], mv[1], ui.EndpointTag, got, base)
		}
	}
	st := endpointStatus(t, uri, "ctr", "1")
	if !st.Ready || st.Problem != "" || st.URL != base || st.Requests != 2 || st.Errors != 0 || st.P99 <= 0 || st.Rate <= 0 {
		t.Errorf("endpoint status of ctr/1 after 2 requests: %+v", st)
	}

	resp, err := http.Post(base+"/v2/models/ctr/infer", "application/json", strings.NewReader(`{"inputs":[{"name":"I9","datatype":"FP32","shape":[1],"data":[1]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var msg struct{ Error string }
	json.NewDecoder(resp.Body).Decode(&msg)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(msg.Error, `"I9"`) {
		t.Errorf("unknown input: status %d, error %q", resp.StatusCode, msg.Error)
	}

	benchServe(t, "--uri", base, "--model", "tiny", "--rows", "3")
	benchServe(t, "--protocol", "grpc", "--uri", grpcAddr, "--model", "ctr")

	register("2") // moves prod to version 2; serve follows it
	for deadline := time.Now().Add(20 * time.Second); ; {
		if ver, _ := inferHTTP(t, base, "ctr", rows); ver == "2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alias moved but ctr still serves version 1: %s", srv.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if old, cur := endpointTag(t, uri, "ctr", "1"), endpointTag(t, uri, "ctr", "2"); old != "" || cur != base {
		t.Errorf("after the alias moved: tags %q on ctr/1, %q on ctr/2; want none and %q", old, cur, base)
	}
	if st := endpointStatus(t, uri, "ctr", "2"); !st.Ready || st.Requests < 1 {
		t.Errorf("endpoint status of ctr/2 after the move: %+v", st)
	}

	// The same artifact on encoded inputs.
	prepared := startServe(t, summary.Model, "--prepared")
	b, err := model.Meta.Transforms.ApplyBatch(rows)
	if err != nil {
		t.Fatal(err)
	}
	checkPredictions(t, "tiny --prepared", inferPrepared(t, prepared.base, b), want)
	stopAll(t, srv, prepared)
	for _, mv := range [][2]string{{"ctr", "2"}, {"local", "1"}} {
		if got := endpointTag(t, uri, mv[0], mv[1]); got != "" {
			t.Errorf("%s/%s: tag %s = %q after serve stopped, want none", mv[0], mv[1], ui.EndpointTag, got)
		}
	}
}

// endpointTag returns the ui.EndpointTag of a model version in the
// tracking server at uri, or "".
func endpointTag(t *testing.T, uri, name, version string) string {
	t.Helper()
	c, err := newTrackingClient(uri)
	if err != nil {
		t.Fatal(err)
	}
	v, err := registry.NewClient(c).GetVersion(context.Background(), name, version)
	if err != nil {
		t.Fatalf("get %s/%s: %v", name, version, err)
	}
	for _, tag := range v.Tags {
		if tag.Key == ui.EndpointTag {
			return tag.Value
		}
	}
	return ""
}

// endpointStatus reads the web UI's status of the endpoint serving a
// model version from the tracking server at uri.
func endpointStatus(t *testing.T, uri, name, version string) ui.EndpointStatus {
	t.Helper()
	var st ui.EndpointStatus
	getJSON(t, uri+ui.EndpointPath+"?name="+name+"&version="+version, &st)
	return st
}

// inferPrepared sends an encoded batch of the tiny spec (2 dense
// features, 2 categorical, the multi_hot tags) to the --prepared server
// and returns the probabilities.
func inferPrepared(t *testing.T, base string, b *data.Batch) []float32 {
	t.Helper()
	n := b.Size
	var cat, tags []int64
	width := int32(0)
	for i := range n {
		cat = append(cat, int64(b.Cat[0][i]), int64(b.Cat[1][i]))
		width = max(width, b.MultiOffsets[0][i+1]-b.MultiOffsets[0][i])
	}
	for i := range n {
		lo, hi := b.MultiOffsets[0][i], b.MultiOffsets[0][i+1]
		for k := lo; k < lo+width; k++ {
			id := int64(-1)
			if k < hi {
				id = int64(b.MultiIDs[0][k])
			}
			tags = append(tags, id)
		}
	}
	resp := postInfer(t, base, "tiny", []map[string]any{
		{"name": "dense", "datatype": "FP32", "shape": []int{n, 2}, "data": b.Dense},
		{"name": "categorical", "datatype": "INT64", "shape": []int{n, 2}, "data": cat},
		{"name": "tags", "datatype": "INT64", "shape": []int{n, int(width)}, "data": tags},
	})
	defer resp.Body.Close()
	var out struct {
		Outputs []struct{ Data []float32 }
		Error   string
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || len(out.Outputs) != 1 {
		t.Fatalf("infer with encoded inputs: status %d, %v %q", resp.StatusCode, err, out.Error)
	}
	return out.Outputs[0].Data
}

// servedCmd is an mlenv serve command running in the test process.
type servedCmd struct {
	base, grpcAddr string // http://host:port and host:port
	done           chan int
	stdout, stderr *lockedBuffer
}

// startServe runs mlenv serve with args on loopback ports chosen by the
// system and returns once it has printed its URLs.
func startServe(t *testing.T, args ...string) *servedCmd {
	t.Helper()
	s := &servedCmd{done: make(chan int, 1), stdout: &lockedBuffer{}, stderr: &lockedBuffer{}}
	args = append([]string{"serve", "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0"}, args...)
	go func() { s.done <- run(args, s.stdout, s.stderr) }()
	addrs := regexp.MustCompile(`HTTP: +(http://\S+)/v2\ngRPC: +(\S+)\n`)
	var m []string
	for deadline := time.Now().Add(30 * time.Second); m == nil; m = addrs.FindStringSubmatch(s.stdout.String()) {
		select {
		case code := <-s.done:
			t.Fatalf("serve exited with %d: %s %s", code, s.stdout.String(), s.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve printed no URLs: %q %q", s.stdout.String(), s.stderr.String())
		}
	}
	s.base, s.grpcAddr = m[1], m[2]
	return s
}

// stopAll sends one SIGTERM, which every running command catches, and
// checks that each exits cleanly.
func stopAll(t *testing.T, cmds ...*servedCmd) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for _, s := range cmds {
		select {
		case code := <-s.done:
			if code != exitOK {
				t.Errorf("serve after SIGTERM: code %d, stderr %s", code, s.stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not stop after SIGTERM")
		}
	}
}

// inferHTTP sends rows to model name as a JSON infer request and returns
// the version that answered and the probabilities.
func inferHTTP(t *testing.T, base, name string, rows []map[string]any) (string, []float32) {
	t.Helper()
	var inputs []map[string]any
	for _, c := range []string{"I1", "I2", "C1", "C2", "tags"} {
		dt, col := "BYTES", make([]any, len(rows))
		for i, r := range rows {
			col[i] = r[c]
			if _, ok := r[c].(float64); ok {
				dt = "FP32"
			} else {
				col[i] = columnText(r[c])
			}
		}
		inputs = append(inputs, map[string]any{"name": c, "datatype": dt, "shape": []int{len(rows)}, "data": col})
	}
	resp := postInfer(t, base, name, inputs)
	defer resp.Body.Close()
	var out struct {
		Version string `json:"model_version"`
		Outputs []struct {
			Name  string    `json:"name"`
			Shape []int     `json:"shape"`
			Data  []float32 `json:"data"`
		} `json:"outputs"`
		Error string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("infer %s: status %d, %v %q", name, resp.StatusCode, err, out.Error)
	}
	if len(out.Outputs) != 1 || out.Outputs[0].Name != "probability" || fmt.Sprint(out.Outputs[0].Shape) != fmt.Sprint([]int{len(rows), 1}) {
		t.Fatalf("infer %s: outputs %+v", name, out.Outputs)
	}
	return out.Version, out.Outputs[0].Data
}

// postInfer posts a JSON infer request carrying inputs to model name.
func postInfer(t *testing.T, base, name string, inputs []map[string]any) *http.Response {
	t.Helper()
	body, err := json.Marshal(map[string]any{"inputs": inputs})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(base+"/v2/models/"+name+"/infer", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// inferGRPC sends rows to model name with ModelInfer, typed contents.
func inferGRPC(t *testing.T, addr, name string, rows []map[string]any) []float32 {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := &pb.ModelInferRequest{ModelName: name}
	n := int64(len(rows))
	for _, c := range []string{"I1", "I2"} {
		v := make([]float32, n)
		for i, r := range rows {
			v[i] = float32(r[c].(float64))
		}
		req.Inputs = append(req.Inputs, &pb.ModelInferRequest_InferInputTensor{Name: c, Datatype: "FP32", Shape: []int64{n}, Contents: &pb.InferTensorContents{Fp32Contents: v}})
	}
	for _, c := range []string{"C1", "C2", "tags"} {
		v := make([][]byte, n)
		for i, r := range rows {
			v[i] = []byte(columnText(r[c]))
		}
		req.Inputs = append(req.Inputs, &pb.ModelInferRequest_InferInputTensor{Name: c, Datatype: "BYTES", Shape: []int64{n}, Contents: &pb.InferTensorContents{BytesContents: v}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := pb.NewGRPCInferenceServiceClient(conn).ModelInfer(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Outputs) != 1 || resp.Outputs[0].Name != "probability" {
		t.Fatalf("gRPC outputs %v", resp.Outputs)
	}
	return resp.Outputs[0].GetContents().GetFp32Contents()
}

// columnText is a categorical or multi_hot value as a BYTES element: lists
// joined with the job spec's default multi_hot separator, "|".
func columnText(v any) string {
	if list, ok := v.([]string); ok {
		return strings.Join(list, "|")
	}
	return v.(string)
}

func checkPredictions(t *testing.T, what string, got []float32, want [][]float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d predictions, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Abs(float64(got[i]-want[i][0])) > 1e-6 {
			t.Errorf("%s: row %d: %v, Predict gives %v", what, i, got[i], want[i][0])
		}
	}
}

func TestServeBadArguments(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "no-such-dir"},
		{"serve", "no-such-model.onnx"},
		{"serve", "ctr@prod", "--max-batch-size", "0"},
		{"serve", "ctr/1", "--queue-size", "0"},
		{"serve", "ctr/1", "--poll", "0s"},
		{"serve", "ctr/1", "--advertise", "host:8000"},
		{"bench", "serve", "--concurrency", "4"},
		{"bench", "serve", "--model", "m", "--seconds", "-1"},
		{"bench", "serve", "--model", "m", "--protocol", "websocket"},
		{"bench", "serve", "--model", "m", "--protocol", "grpc", "--binary"},
		{"models", "register", "ctr"},
		{"models", "register", "ctr", "--run", "r", "--path", "."},
	} {
		if code, _, stderr := runCLI(t, args...); code != exitUsage {
			t.Errorf("%v: code %d, stderr %q; want a usage error", args, code, stderr)
		}
	}
}

// onnxTensor and onnxCase are serve/testdata/onnx_cases.json's layout:
// per model, inputs and PyTorch's outputs by tensor name.
type (
	onnxTensor struct {
		Shape []int64
		Data  []float32
	}
	onnxCase struct{ Inputs, Outputs map[string]onnxTensor }
)

// TestServeONNX serves serve/testdata's ONNX exports with mlenv serve: a
// .onnx file, a directory holding model.onnx, and a copy of the file with
// a fixed batch dimension (served without batching). It checks the
// answers over HTTP against PyTorch's, a gRPC call, the metadata, a load
// run through the batcher and the metrics.
func TestServeONNX(t *testing.T) {
	testdata, err := filepath.Abs(filepath.Join("..", "serve", "testdata"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(testdata, "onnx_cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases map[string]onnxCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	mlp := filepath.Join(testdata, "mlp.onnx")
	scorer := filepath.Join(t.TempDir(), "scorer")
	if err := os.Mkdir(scorer, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(testdata, "logistic.onnx"), filepath.Join(scorer, "model.onnx"))
	fixed := fixedBatchONNX(t, mlp, 5)

	srv := startServe(t, mlp, scorer, fixed, "--max-batch-size", "8")
	for name, c := range map[string]onnxCase{"mlp": cases["mlp"], "scorer": cases["logistic"], "mlp5": cases["mlp"]} {
		got, status := inferTensors(t, srv.base, name, c.Inputs)
		if status != http.StatusOK || len(got) != len(c.Outputs) {
			t.Fatalf("%s: status %d, outputs %v, want %d outputs", name, status, got, len(c.Outputs))
		}
		for out, want := range c.Outputs {
			if fmt.Sprint(got[out].Shape) != fmt.Sprint(want.Shape) {
				t.Fatalf("%s: output %q shape %v, PyTorch gave %v", name, out, got[out].Shape, want.Shape)
			}
			for i := range want.Data {
				if math.Abs(float64(got[out].Data[i]-want.Data[i])) > 1e-5 {
					t.Fatalf("%s: %s[%d] = %v, PyTorch gave %v", name, out, i, got[out].Data[i], want.Data[i])
				}
			}
		}
	}
	if !strings.Contains(srv.stderr.String(), "fixed batch dimension") {
		t.Errorf("no warning that mlp5 is served without batching: %s", srv.stderr.String())
	}
	x := cases["mlp"].Inputs["features"]
	short := map[string]onnxTensor{"features": {Shape: []int64{3, 8}, Data: x.Data[:24]}}
	if _, status := inferTensors(t, srv.base, "mlp5", short); status != http.StatusBadRequest {
		t.Errorf("3 rows for a graph fixed at 5: status %d, want 400", status)
	}

	var meta struct {
		Platform string
		Inputs   []struct{ Shape []int64 }
	}
	getJSON(t, srv.base+"/v2/models/mlp", &meta)
	if meta.Platform != "onnx" || len(meta.Inputs) != 1 || fmt.Sprint(meta.Inputs[0].Shape) != "[-1 8]" {
		t.Errorf("mlp metadata: %+v", meta)
	}

	conn, err := grpc.NewClient(srv.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := pb.NewGRPCInferenceServiceClient(conn).ModelInfer(ctx, &pb.ModelInferRequest{ModelName: "mlp", Inputs: []*pb.ModelInferRequest_InferInputTensor{
		{Name: "features", Datatype: "FP32", Shape: x.Shape, Contents: &pb.InferTensorContents{Fp32Contents: x.Data}},
	}})
	if err != nil || len(resp.Outputs) != 1 || len(resp.Outputs[0].GetContents().GetFp32Contents()) != 20 {
		t.Fatalf("gRPC ModelInfer: %v %v", resp, err)
	}

	benchServe(t, "--uri", srv.base, "--model", "mlp", "--binary")
	r, err := http.Get(srv.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if !regexp.MustCompile(`mlenv_serve_requests_total\{model="mlp",version="1"\} [1-9]`).Match(metrics) {
		t.Errorf("no request count for mlp in /metrics")
	}
	stopAll(t, srv)
}

// benchServe runs mlenv bench serve with args for 0.3 s at concurrency 4
// and checks that requests succeeded and none failed.
func benchServe(t *testing.T, args ...string) {
	t.Helper()
	args = append([]string{"bench", "serve", "--concurrency", "4", "--seconds", "0.3", "--json"}, args...)
	code, out, stderr := runCLI(t, args...)
	var st struct{ Requests, Failed int }
	if err := json.Unmarshal([]byte(out), &st); code != exitOK || err != nil || st.Requests == 0 || st.Failed != 0 {
		t.Errorf("%v: code %d, out %q, stderr %q", args, code, out, stderr)
	}
}

// inferTensors sends FP32 inputs to model name over HTTP/JSON and returns
// the outputs by name and the status.
func inferTensors(t *testing.T, base, name string, inputs map[string]onnxTensor) (map[string]onnxTensor, int) {
	t.Helper()
	var req []map[string]any
	for n, x := range inputs {
		req = append(req, map[string]any{"name": n, "datatype": "FP32", "shape": x.Shape, "data": x.Data})
	}
	resp := postInfer(t, base, name, req)
	defer resp.Body.Close()
	var out struct {
		Outputs []struct {
			Name string
			onnxTensor
		}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("infer %s: %v", name, err)
	}
	got := map[string]onnxTensor{}
	for _, o := range out.Outputs {
		got[o.Name] = o.onnxTensor
	}
	return got, resp.StatusCode
}

// getJSON decodes the JSON answer to GET url into v.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d, %v", url, resp.StatusCode, err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// fixedBatchONNX writes a copy of the ONNX model at path whose inputs and
// outputs have batch as their fixed first dimension, and returns its path
// (named after the model with the batch appended, as mlp5.onnx).
func fixedBatchONNX(t *testing.T, path string, batch int64) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, v := range slices.Concat(m.Graph.Input, m.Graph.Output) {
		v.GetType().GetTensorType().GetShape().Dim[0].Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: batch}
	}
	if b, err = proto.Marshal(&m); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), fmt.Sprintf("%s%d.onnx", strings.TrimSuffix(filepath.Base(path), ".onnx"), batch))
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEndpointURL(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Skip("no host name:", err)
	}
	tcp := func(ip string, port int) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: port} }
	for _, c := range []struct {
		advertise string
		addr      net.Addr
		tracking  string
		want      string
	}{
		{"https://models.example.com/ctr/", tcp("0.0.0.0", 8000), "http://127.0.0.1:5000", "https://models.example.com/ctr"},
		{"", tcp("127.0.0.1", 8055), "http://10.0.0.5:5000", "http://127.0.0.1:8055"},
		{"", tcp("0.0.0.0", 8000), "http://localhost:5000", "http://127.0.0.1:8000"},
		{"", tcp("::", 8000), "http://[::1]:5000", "http://127.0.0.1:8000"},
		{"", tcp("0.0.0.0", 8000), "http://tracking.example.com", "http://" + net.JoinHostPort(host, "8000")},
		{"", tcp("10.0.0.7", 8000), "http://tracking.example.com", "http://10.0.0.7:8000"},
	} {
		if got := endpointURL(c.advertise, c.addr, c.tracking); got != c.want {
			t.Errorf("endpointURL(%q, %s, %q) = %q, want %q", c.advertise, c.addr, c.tracking, got, c.want)
		}
	}
}
