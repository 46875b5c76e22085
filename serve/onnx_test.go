package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mlenv/mlenv/serve/onnxpb"
)

// onnxCase is one model of testdata/onnx_cases.json: tensors by name, as
// gen_onnx.py saved them from PyTorch.
type onnxCase struct {
	Inputs, Outputs map[string]struct {
		Shape []int64
		Data  []float32
	}
}

func readONNXCases(t *testing.T) map[string]onnxCase {
	t.Helper()
	b, err := os.ReadFile("testdata/onnx_cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases map[string]onnxCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	return cases
}

// checkClose fails unless got and want agree within 1e-5.
func checkClose(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > 1e-5 {
			t.Fatalf("%s[%d] = %v, PyTorch gave %v", what, i, got[i], want[i])
		}
	}
}

func TestONNXMatchesPyTorch(t *testing.T) {
	for name, c := range readONNXCases(t) {
		t.Run(name, func(t *testing.T) {
			m, err := LoadONNX(filepath.Join("testdata", name+".onnx"), "", "1")
			if err != nil {
				t.Fatal(err)
			}
			meta := m.Metadata()
			if meta.Name != name || len(meta.Inputs) != len(c.Inputs) || len(meta.Outputs) != len(c.Outputs) {
				t.Fatalf("metadata %+v does not match the export", meta)
			}
			var in []Tensor
			for _, spec := range meta.Inputs {
				x := c.Inputs[spec.Name]
				if spec.Datatype != FP32 || spec.Shape[0] != -1 || spec.Shape[1] != x.Shape[1] {
					t.Fatalf("input spec %+v, export has shape [batch %d]", spec, x.Shape[1])
				}
				in = append(in, Tensor{Name: spec.Name, Datatype: FP32, Shape: x.Shape, Data: x.Data})
			}
			out, err := m.Infer(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			for _, y := range out {
				want := c.Outputs[y.Name]
				if fmt.Sprint(y.Shape) != fmt.Sprint(want.Shape) {
					t.Fatalf("output %q shape %v, PyTorch %v", y.Name, y.Shape, want.Shape)
				}
				checkClose(t, y.Name, y.Data.([]float32), want.Data)
			}
		})
	}
}

func TestONNXServedOverHTTP(t *testing.T) {
	m, err := LoadONNX("testdata/mlp.onnx", "", "1")
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, Config{}, map[Model]BatchConfig{m: {MaxBatchSize: 8}})
	c := readONNXCases(t)["mlp"]
	x := c.Inputs["features"]
	data, _ := json.Marshal(x.Data)
	r := ts.postJSON(t, "/v2/models/mlp/infer", fmt.Sprintf(`{"inputs": [{"name": "features", "datatype": "FP32", "shape": %v, "data": %s}]}`, strings.ReplaceAll(fmt.Sprint(x.Shape), " ", ","), data))
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var resp struct {
		Outputs []struct {
			Name     string
			Datatype string
			Shape    []int64
			Data     []float32
		}
	}
	if err := json.Unmarshal(r.body, &resp); err != nil || len(resp.Outputs) != 1 {
		t.Fatalf("response %s: %v", r.body, err)
	}
	got := resp.Outputs[0]
	if got.Name != "probabilities" || got.Datatype != "FP32" || fmt.Sprint(got.Shape) != "[5 4]" {
		t.Fatalf("output %s %s %v, want probabilities FP32 [5 4]", got.Name, got.Datatype, got.Shape)
	}
	checkClose(t, "probabilities", got.Data, c.Outputs["probabilities"].Data)

	r = ts.postJSON(t, "/v2/models/mlp/infer", `{"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}]}`)
	if msg := r.errorMessage(t); r.status != http.StatusBadRequest || !strings.Contains(msg, "features") {
		t.Fatalf("wrong width: status %d, %q", r.status, msg)
	}
}

// floatInit returns an FP32 initializer in raw_data form.
func floatInit(name string, dims []int64, vals ...float32) *onnxpb.TensorProto {
	raw := make([]byte, 0, 4*len(vals))
	for _, v := range vals {
		raw = append(raw, byte(math.Float32bits(v)), byte(math.Float32bits(v)>>8), byte(math.Float32bits(v)>>16), byte(math.Float32bits(v)>>24))
	}
	return &onnxpb.TensorProto{Name: proto.String(name), Dims: dims, DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), RawData: raw}
}

// fp32Value declares a graph input or output of shape [batch, width].
func fp32Value(name string, width int64) *onnxpb.ValueInfoProto {
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
		ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)),
		Shape: &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{
			{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}},
			{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: width}},
		}},
	}}}}
}

func node(op, name string, in []string, out string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{OpType: proto.String(op), Name: proto.String(name), Input: in, Output: []string{out}, Attribute: attrs}
}

func intAttribute(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func floatAttribute(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

// opsModel is a graph over x [batch, 2] using the operators and attributes
// the PyTorch exports do not:
//
//	g = Gemm(x, W, c; transB, alpha 2, beta 0.5)   W is [2 out, 2 in]
//	r = Reshape(Concat(g, x; axis 1), [0, -1])
//	y = Softmax_opset11(Identity(Flatten(Div(Mul(Sub(r, 1), 2), 4))))
func opsModel(opset int64, nodes ...*onnxpb.NodeProto) *onnxpb.ModelProto {
	shape := &onnxpb.TensorProto{Name: proto.String("shape"), Dims: []int64{2}, DataType: proto.Int32(int32(onnxpb.TensorProto_INT64)), Int64Data: []int64{0, -1}}
	if nodes == nil {
		nodes = []*onnxpb.NodeProto{
			node("Gemm", "gemm", []string{"x", "W", "c"}, "g", intAttribute("transB", 1), floatAttribute("alpha", 2), floatAttribute("beta", 0.5)),
			node("Concat", "cat", []string{"g", "x"}, "gx", intAttribute("axis", 1)),
			node("Reshape", "reshape", []string{"gx", "shape"}, "r"),
			node("Sub", "sub", []string{"r", "one"}, "s"),
			node("Mul", "mul", []string{"s", "two"}, "m"),
			node("Div", "div", []string{"m", "four"}, "d"),
			node("Flatten", "flat", []string{"d"}, "f"),
			node("Identity", "id", []string{"f"}, "i"),
			node("Softmax", "softmax", []string{"i"}, "y"),
		}
	}
	return &onnxpb.ModelProto{
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(opset)}},
		Graph: &onnxpb.GraphProto{
			Node: nodes,
			Initializer: []*onnxpb.TensorProto{
				floatInit("W", []int64{2, 2}, 1, 2, 3, 4), floatInit("c", []int64{2}, 10, 20),
				floatInit("one", nil, 1), floatInit("two", nil, 2),
				{Name: proto.String("four"), DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), FloatData: []float32{4}},
				shape,
			},
			Input:  []*onnxpb.ValueInfoProto{fp32Value("x", 2)},
			Output: []*onnxpb.ValueInfoProto{fp32Value("y", 4)},
		},
	}
}

func TestONNXOperators(t *testing.T) {
	m, err := NewONNX(opsModel(11), "ops", "1")
	if err != nil {
		t.Fatal(err)
	}
	x := []float32{1, -1, 0.5, 2}
	out, err := m.Infer(context.Background(), []Tensor{{Name: "x", Datatype: FP32, Shape: []int64{2, 2}, Data: x}})
	if err != nil {
		t.Fatal(err)
	}
	var want []float32
	for r := range 2 {
		x0, x1 := x[2*r], x[2*r+1]
		row := []float32{2*(1*x0+2*x1) + 5, 2*(3*x0+4*x1) + 10, x0, x1}
		var sum float64
		for i, v := range row {
			row[i] = float32(math.Exp(float64((v - 1) * 2 / 4)))
			sum += float64(row[i])
		}
		for _, v := range row {
			want = append(want, float32(float64(v)/sum))
		}
	}
	if fmt.Sprint(out[0].Shape) != "[2 4]" {
		t.Fatalf("shape %v, want [2 4]", out[0].Shape)
	}
	checkClose(t, "y", out[0].Data.([]float32), want)
}

func TestONNXRejectsBadGraphs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes []*onnxpb.NodeProto
		want  []string
	}{
		{"unsupported op", []*onnxpb.NodeProto{node("Conv", "conv_1", []string{"x", "W"}, "y")}, []string{`"conv_1"`, "unsupported operator Conv"}},
		{"custom domain", []*onnxpb.NodeProto{{OpType: proto.String("Relu"), Name: proto.String("r"), Domain: proto.String("com.example"), Input: []string{"x"}, Output: []string{"y"}}}, []string{"com.example.Relu"}},
		{"unknown input", []*onnxpb.NodeProto{node("Add", "add", []string{"x", "bias"}, "y")}, []string{`"add"`, `input "bias"`}},
		{"cycle", []*onnxpb.NodeProto{node("Add", "a", []string{"x", "b_out"}, "y"), node("Relu", "b", []string{"y"}, "b_out")}, []string{"cycle"}},
		{"shape not constant", []*onnxpb.NodeProto{node("Reshape", "rs", []string{"x", "x"}, "y")}, []string{`"rs"`, `shape input "x"`}},
		{"int64 as data", []*onnxpb.NodeProto{node("Relu", "r", []string{"shape"}, "y")}, []string{`"r"`, `"shape" is an INT64 constant`}},
		{"output not computed", []*onnxpb.NodeProto{node("Relu", "r", []string{"x"}, "z")}, []string{`graph output "y"`}},
		{"arity", []*onnxpb.NodeProto{node("MatMul", "mm", []string{"x"}, "y")}, []string{`"mm"`, "1 inputs", "want 2 inputs"}},
	} {
		_, err := NewONNX(opsModel(13, tc.nodes...), "bad", "1")
		if err == nil {
			t.Errorf("%s: loaded", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %s", tc.name, err, w)
			}
		}
	}
}

func TestLoadONNXErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "junk.onnx")
	if err := os.WriteFile(bad, []byte("not a protobuf \xff\xff"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadONNX(bad, "", "1"); err == nil || !strings.Contains(err.Error(), "junk.onnx") {
		t.Errorf("junk file: %v", err)
	}
	m := opsModel(13, node("Relu", "r", []string{"x"}, "y"))
	m.Graph.Input[0].Type.GetTensorType().ElemType = proto.Int32(int32(onnxpb.TensorProto_DOUBLE))
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "double.onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadONNX(path, "", "1"); err == nil || !strings.Contains(err.Error(), `input "x": element type DOUBLE`) {
		t.Errorf("DOUBLE input: %v", err)
	}
}

func TestONNXShapeErrorFailsBatch(t *testing.T) {
	m, err := NewONNX(opsModel(13, node("Add", "add", []string{"x", "W"}, "y")), "add", "1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Infer(context.Background(), []Tensor{{Name: "x", Datatype: FP32, Shape: []int64{3, 2}, Data: make([]float32, 6)}})
	if err == nil || !strings.Contains(err.Error(), `node "add" (Add)`) {
		t.Fatalf("[3,2] + [2,2]: %v", err)
	}
}
