package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mlenv/mlenv/data"
	"github.com/mlenv/mlenv/modelfile"
	pb "github.com/mlenv/mlenv/serve/inferencepb"
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

	var sout, serr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"serve", "ctr@prod", "local/1", summary.Model, "--uri", uri, "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0",
			"--poll", "50ms", "--max-batch-size", "16"}, &sout, &serr)
	}()
	addrs := regexp.MustCompile(`HTTP: +(http://\S+)/v2\ngRPC: +(\S+)\n`)
	var m []string
	for deadline := time.Now().Add(30 * time.Second); m == nil; m = addrs.FindStringSubmatch(sout.String()) {
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d: %s %s", code, sout.String(), serr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve printed no URLs: %q %q", sout.String(), serr.String())
		}
	}
	base, grpcAddr := m[1], m[2]

	for _, name := range []string{"ctr", "local", "tiny"} {
		ver, got := inferHTTP(t, base, name, rows)
		if ver != "1" {
			t.Errorf("%s served version %q, want 1", name, ver)
		}
		checkPredictions(t, name+" over HTTP", got, want)
	}
	checkPredictions(t, "ctr over gRPC", inferGRPC(t, grpcAddr, "ctr", rows), want)

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

	code, out, stderr = runCLI(t, "bench", "serve", "--uri", base, "--model", "tiny", "--concurrency", "2", "--seconds", "0.3", "--rows", "3", "--json")
	var st struct{ Requests, Failed int }
	if err := json.Unmarshal([]byte(out), &st); code != exitOK || err != nil || st.Requests == 0 || st.Failed != 0 {
		t.Errorf("bench serve: code %d, out %q, stderr %q", code, out, stderr)
	}

	register("2") // moves prod to version 2; serve follows it
	for deadline := time.Now().Add(20 * time.Second); ; {
		if ver, _ := inferHTTP(t, base, "ctr", rows); ver == "2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alias moved but ctr still serves version 1: %s", serr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("serve after SIGTERM: code %d, stderr %s", code, serr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after SIGTERM")
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
	body, _ := json.Marshal(map[string]any{"inputs": inputs})
	resp, err := http.Post(base+"/v2/models/"+name+"/infer", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
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
		{"serve", "ctr@prod", "--max-batch-size", "0"},
		{"serve", "ctr/1", "--queue-size", "0"},
		{"serve", "ctr/1", "--poll", "0s"},
		{"bench", "serve", "--concurrency", "4"},
		{"bench", "serve", "--model", "m", "--seconds", "-1"},
		{"models", "register", "ctr"},
		{"models", "register", "ctr", "--run", "r", "--path", "."},
	} {
		if code, _, stderr := runCLI(t, args...); code != exitUsage {
			t.Errorf("%v: code %d, stderr %q; want a usage error", args, code, stderr)
		}
	}
}
