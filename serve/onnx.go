package serve

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/mlenv/mlenv/serve/onnxpb"
	"github.com/mlenv/mlenv/tensor"
)

// ONNX serves an ONNX model (a .onnx file) through mlenv's engine, without
// ONNX Runtime: the graph is checked once at load and each batch runs its
// nodes with package tensor in no-grad mode. Inputs and outputs are named
// and shaped as in the graph; all are FP32, and a dimension the graph
// leaves symbolic (a dynamic batch axis) is -1.
//
// The supported operators (default domain only) are those of multilayer
// perceptron and logistic-regression exports from torch.onnx.export: Gemm,
// MatMul, Add, Sub, Mul, Div, Relu, Sigmoid, Tanh, Softmax, Flatten,
// Reshape (constant shape), Identity, Concat and Constant. Anything else,
// such as the ai.onnx.ml operators of scikit-learn's skl2onnx exports, is
// refused at load with the node's name. Infer is safe for concurrent use:
// the weights are read-only and every call has its own arena.
type ONNX struct {
	meta   Metadata
	opset  int64
	consts map[string]constant // initializers and Constant outputs
	nodes  []*onnxpb.NodeProto // in an order where inputs come first
}

// constant is a graph constant: FP32 values as a tensor, or INT64 values
// (the shape input of Reshape).
type constant struct {
	f    *tensor.Tensor
	ints []int64
}

// arity is the least and most inputs an operator takes.
type arity struct{ lo, hi int }

// onnxOps lists the supported operator types with their input counts; each
// has one output. ONNX.apply implements them.
var onnxOps = map[string]arity{
	"Constant": {0, 0},
	"Gemm":     {2, 3},
	"MatMul":   {2, 2}, "Add": {2, 2}, "Sub": {2, 2}, "Mul": {2, 2}, "Div": {2, 2}, "Reshape": {2, 2},
	"Relu": {1, 1}, "Sigmoid": {1, 1}, "Tanh": {1, 1}, "Softmax": {1, 1}, "Flatten": {1, 1}, "Identity": {1, 1},
	"Concat": {1, math.MaxInt},
}

// LoadONNX reads and checks the ONNX model at path and serves it as name
// (the file name without .onnx when empty) at version ver.
func LoadONNX(path, name, ver string) (*ONNX, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: not an ONNX model: %w", path, err)
	}
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(path), ".onnx")
	}
	o, err := NewONNX(&m, name, ver)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return o, nil
}

// NewONNX checks the graph of m and prepares it to be served as name at
// version ver. Errors name the node, input or operator that is wrong:
// unsupported operators, inputs that nothing defines, cycles, non-FP32
// inputs and outputs, and Reshape shapes that are not constants.
func NewONNX(m *onnxpb.ModelProto, name, ver string) (*ONNX, error) {
	g := m.GetGraph()
	if g == nil {
		return nil, errors.New("ONNX model has no graph")
	}
	o := &ONNX{meta: Metadata{Name: name, Version: ver, Platform: "onnx"}, opset: opsetVersion(m), consts: map[string]constant{}}
	for _, t := range g.GetInitializer() {
		c, err := readConstant(t)
		if err != nil {
			return nil, fmt.Errorf("initializer %q: %w", t.GetName(), err)
		}
		o.consts[t.GetName()] = c
	}
	for _, in := range g.GetInput() {
		if _, ok := o.consts[in.GetName()]; ok {
			continue // older exporters list initializers as inputs too
		}
		spec, err := valueSpec(in)
		if err != nil {
			return nil, fmt.Errorf("graph input %w", err)
		}
		o.meta.Inputs = append(o.meta.Inputs, spec)
	}
	for _, out := range g.GetOutput() {
		spec, err := valueSpec(out)
		if err != nil {
			return nil, fmt.Errorf("graph output %w", err)
		}
		o.meta.Outputs = append(o.meta.Outputs, spec)
	}
	if err := o.order(g.GetNode()); err != nil {
		return nil, err
	}
	return o, nil
}

// opsetVersion returns the model's version of the default ONNX operator
// set, which decides operator semantics (Softmax's axis).
func opsetVersion(m *onnxpb.ModelProto) int64 {
	for _, s := range m.GetOpsetImport() {
		if d := s.GetDomain(); d == "" || d == "ai.onnx" {
			return s.GetVersion()
		}
	}
	return 0
}

// valueSpec returns the TensorSpec of a graph input or output.
func valueSpec(v *onnxpb.ValueInfoProto) (TensorSpec, error) {
	tt := v.GetType().GetTensorType()
	if tt == nil {
		return TensorSpec{}, fmt.Errorf("%q: not a tensor", v.GetName())
	}
	if tt.GetElemType() != int32(onnxpb.TensorProto_FLOAT) {
		return TensorSpec{}, fmt.Errorf("%q: element type %s, only FLOAT is served", v.GetName(), onnxpb.TensorProto_DataType(tt.GetElemType()))
	}
	spec := TensorSpec{Name: v.GetName(), Datatype: FP32, Shape: []int64{}}
	for _, d := range tt.GetShape().GetDim() {
		size := int64(-1)
		if v, ok := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); ok {
			size = v.DimValue
		}
		spec.Shape = append(spec.Shape, size)
	}
	return spec, nil
}

// readConstant decodes an FP32 or INT64 tensor from raw_data (little
// endian) or its typed field.
func readConstant(t *onnxpb.TensorProto) (constant, error) {
	shape := make([]int, len(t.GetDims()))
	for i, d := range t.GetDims() {
		shape[i] = int(d)
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	raw := t.GetRawData()
	switch dt := onnxpb.TensorProto_DataType(t.GetDataType()); dt {
	case onnxpb.TensorProto_FLOAT:
		vals := t.GetFloatData()
		if raw != nil {
			vals = make([]float32, len(raw)/4)
			for i := range vals {
				vals[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		}
		if len(vals) != n || len(raw)%4 != 0 {
			return constant{}, fmt.Errorf("%d FLOAT values for dims %v", len(vals), shape)
		}
		return constant{f: tensor.FromSlice(slices.Clone(vals), shape...)}, nil
	case onnxpb.TensorProto_INT64:
		vals := t.GetInt64Data()
		if raw != nil {
			vals = make([]int64, len(raw)/8)
			for i := range vals {
				vals[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			}
		}
		if len(vals) != n || len(raw)%8 != 0 {
			return constant{}, fmt.Errorf("%d INT64 values for dims %v", len(vals), shape)
		}
		return constant{ints: vals}, nil
	default:
		return constant{}, fmt.Errorf("data type %s is not supported (FLOAT and INT64 are)", dt)
	}
}

// order checks every node and stores the nodes sorted so that each runs
// after the nodes defining its inputs. Constant nodes become constants.
func (o *ONNX) order(nodes []*onnxpb.NodeProto) error {
	producer := map[string]int{}
	for i, n := range nodes {
		if _, ok := onnxOps[n.GetOpType()]; !ok || (n.GetDomain() != "" && n.GetDomain() != "ai.onnx") {
			return fmt.Errorf("node %q: unsupported operator %s%s", n.GetName(), domainPrefix(n.GetDomain()), n.GetOpType())
		}
		for _, out := range n.GetOutput() {
			producer[out] = i
		}
	}
	defined := map[string]bool{}
	for _, in := range o.meta.Inputs {
		defined[in.Name] = true
	}
	for name := range o.consts {
		defined[name] = true
	}
	for _, n := range nodes {
		for _, in := range n.GetInput() {
			if _, ok := producer[in]; !ok && in != "" && !defined[in] {
				return fmt.Errorf("node %q (%s): input %q is not a graph input, an initializer or a node output", n.GetName(), n.GetOpType(), in)
			}
		}
	}
	done := make([]bool, len(nodes))
	for left := len(nodes); left > 0; {
		progress := false
		for i, n := range nodes {
			if done[i] || !allDefined(n, defined) {
				continue
			}
			if err := o.addNode(n, defined); err != nil {
				return err
			}
			done[i], progress = true, true
			left--
		}
		if !progress {
			i := slices.Index(done, false)
			return fmt.Errorf("node %q (%s): its inputs depend on its own output (the graph has a cycle)", nodes[i].GetName(), nodes[i].GetOpType())
		}
	}
	for _, out := range o.meta.Outputs {
		if !defined[out.Name] {
			return fmt.Errorf("graph output %q is not computed by any node", out.Name)
		}
	}
	return nil
}

// domainPrefix is how an operator's domain prefixes its name in errors:
// "com.example." for a custom domain, nothing for the default one.
func domainPrefix(d string) string {
	if d == "" {
		return ""
	}
	return d + "."
}

// allDefined reports whether every input of n is defined.
func allDefined(n *onnxpb.NodeProto, defined map[string]bool) bool {
	for _, in := range n.GetInput() {
		if in != "" && !defined[in] {
			return false
		}
	}
	return true
}

// addNode checks n's arity and constant inputs, and appends it to the
// nodes to run (or, for Constant, stores its value); its outputs become
// defined.
func (o *ONNX) addNode(n *onnxpb.NodeProto, defined map[string]bool) error {
	where := fmt.Sprintf("node %q (%s)", n.GetName(), n.GetOpType())
	a := onnxOps[n.GetOpType()]
	if k := len(n.GetInput()); k < a.lo || k > a.hi || len(n.GetOutput()) != 1 {
		return fmt.Errorf("%s: %d inputs and %d outputs, want %s and 1 output", where, k, len(n.GetOutput()), a)
	}
	out := n.GetOutput()[0]
	defined[out] = true
	switch n.GetOpType() {
	case "Constant":
		a := attr(n, "value")
		if a.GetT() == nil {
			return fmt.Errorf("%s: no tensor attribute \"value\"", where)
		}
		c, err := readConstant(a.GetT())
		if err != nil {
			return fmt.Errorf("%s: value: %w", where, err)
		}
		o.consts[out] = c
		return nil
	case "Reshape":
		if c, ok := o.consts[n.GetInput()[1]]; !ok || c.ints == nil {
			return fmt.Errorf("%s: shape input %q must be an INT64 initializer or Constant", where, n.GetInput()[1])
		}
		if attr(n, "allowzero").GetI() != 0 {
			return fmt.Errorf("%s: allowzero=1 is not supported", where)
		}
	}
	for i, in := range n.GetInput() {
		if c, ok := o.consts[in]; ok && c.f == nil && !(n.GetOpType() == "Reshape" && i == 1) {
			return fmt.Errorf("%s: input %q is an INT64 constant where FLOAT is expected", where, in)
		}
	}
	o.nodes = append(o.nodes, n)
	return nil
}

// String describes the input count, as in "2 to 3 inputs".
func (a arity) String() string {
	switch {
	case a.lo == a.hi:
		return fmt.Sprintf("%d inputs", a.lo)
	case a.hi == math.MaxInt:
		return fmt.Sprintf("at least %d inputs", a.lo)
	}
	return fmt.Sprintf("%d to %d inputs", a.lo, a.hi)
}

// attr returns n's attribute name, or nil (whose getters give zero values).
func attr(n *onnxpb.NodeProto, name string) *onnxpb.AttributeProto {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

// intAttr returns an INT attribute, or def when n does not set it.
func intAttr(n *onnxpb.NodeProto, name string, def int64) int64 {
	if a := attr(n, name); a != nil {
		return a.GetI()
	}
	return def
}

// floatAttr returns a FLOAT attribute, or def when n does not set it.
func floatAttr(n *onnxpb.NodeProto, name string, def float32) float32 {
	if a := attr(n, name); a != nil {
		return a.GetF()
	}
	return def
}

// Metadata returns the model's name, version and the graph's signature.
func (o *ONNX) Metadata() Metadata { return o.meta }

// Infer runs the graph on one batch. A node that fails on the inputs'
// shapes (operands that do not broadcast, for example) fails the batch
// with an error naming the node.
func (o *ONNX) Infer(_ context.Context, inputs []Tensor) (outputs []Tensor, err error) {
	ar := tensor.NewArena()
	ar.SetGrad(false)
	env := make(map[string]*tensor.Tensor, len(o.nodes)+len(inputs))
	for i, in := range inputs {
		shape := make([]int, len(in.Shape))
		for j, d := range in.Shape {
			shape[j] = int(d)
		}
		env[o.meta.Inputs[i].Name] = ar.FromSlice(in.Data.([]float32), shape...)
	}
	for _, n := range o.nodes {
		if err := o.run(n, env); err != nil {
			return nil, err
		}
	}
	for _, spec := range o.meta.Outputs {
		t := o.value(spec.Name, env)
		shape := make([]int64, t.Rank())
		for j, d := range t.Shape() {
			shape[j] = int64(d)
		}
		outputs = append(outputs, Tensor{Name: spec.Name, Datatype: FP32, Shape: shape, Data: slices.Clone(t.Data())})
	}
	return outputs, nil
}

// value returns the tensor named name: a constant or a computed value.
func (o *ONNX) value(name string, env map[string]*tensor.Tensor) *tensor.Tensor {
	if c, ok := o.consts[name]; ok {
		return c.f
	}
	return env[name]
}

// run computes node n and stores its output in env. The tensor package
// panics on operands of the wrong shape; run turns that into an error.
func (o *ONNX) run(n *onnxpb.NodeProto, env map[string]*tensor.Tensor) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("node %q (%s): %v", n.GetName(), n.GetOpType(), r)
		}
	}()
	in := make([]*tensor.Tensor, len(n.GetInput()))
	for i, name := range n.GetInput() {
		in[i] = o.value(name, env)
	}
	env[n.GetOutput()[0]] = o.apply(n, in)
	return nil
}

// apply computes one operator on its inputs.
func (o *ONNX) apply(n *onnxpb.NodeProto, in []*tensor.Tensor) *tensor.Tensor {
	switch n.GetOpType() {
	case "Gemm":
		return gemm(n, in)
	case "MatMul":
		return tensor.MatMul(in[0], in[1])
	case "Add":
		return tensor.Add(in[0], in[1])
	case "Sub":
		return tensor.Sub(in[0], in[1])
	case "Mul":
		return tensor.Mul(in[0], in[1])
	case "Div":
		return tensor.Div(in[0], in[1])
	case "Relu":
		return tensor.ReLU(in[0])
	case "Sigmoid":
		return tensor.Sigmoid(in[0])
	case "Tanh":
		return tensor.Tanh(in[0])
	case "Softmax":
		return o.softmax(n, in[0])
	case "Flatten":
		return flatten(in[0], int(intAttr(n, "axis", 1)))
	case "Reshape":
		return reshape(in[0], o.consts[n.GetInput()[1]].ints)
	case "Identity":
		return in[0]
	case "Concat":
		return tensor.Concat(int(intAttr(n, "axis", 0)), in...)
	}
	panic("serve: ONNX operator " + n.GetOpType() + " passed the load check but has no implementation")
}

// gemm computes alpha * A' B' + beta * C, where A' and B' are A and B
// transposed when transA and transB are set.
func gemm(n *onnxpb.NodeProto, in []*tensor.Tensor) *tensor.Tensor {
	a, b := in[0], in[1]
	if intAttr(n, "transA", 0) != 0 {
		a = tensor.Transpose(a, 0, 1)
	}
	if intAttr(n, "transB", 0) != 0 {
		b = tensor.Transpose(b, 0, 1)
	}
	y := tensor.MatMul(a, b)
	if alpha := floatAttr(n, "alpha", 1); alpha != 1 {
		y = tensor.MulScalar(y, alpha)
	}
	if len(in) < 3 {
		return y
	}
	c := in[2]
	if beta := floatAttr(n, "beta", 1); beta != 1 {
		c = tensor.MulScalar(c, beta)
	}
	return tensor.Add(y, c)
}

// softmax applies Softmax along axis (default -1). Before opset 13 the
// operator worked on x flattened to 2-D at axis (default 1).
func (o *ONNX) softmax(n *onnxpb.NodeProto, x *tensor.Tensor) *tensor.Tensor {
	if o.opset >= 13 {
		return tensor.Softmax(x, int(intAttr(n, "axis", -1)))
	}
	return tensor.Reshape(tensor.Softmax(flatten(x, int(intAttr(n, "axis", 1))), 1), x.Shape()...)
}

// flatten reshapes x to 2-D: the dimensions before axis and those from it.
func flatten(x *tensor.Tensor, axis int) *tensor.Tensor {
	shape := x.Shape()
	if axis < 0 {
		axis += len(shape)
	}
	if axis < 0 || axis > len(shape) {
		panic(fmt.Sprintf("axis %d out of range for shape %v", axis, shape))
	}
	outer := 1
	for _, d := range shape[:axis] {
		outer *= d
	}
	return tensor.Reshape(x, outer, -1)
}

// reshape applies ONNX Reshape: 0 copies the input's dimension, -1 is
// inferred.
func reshape(x *tensor.Tensor, spec []int64) *tensor.Tensor {
	shape := make([]int, len(spec))
	for i, d := range spec {
		shape[i] = int(d)
		if d == 0 && i < x.Rank() {
			shape[i] = x.Dim(i)
		}
	}
	return tensor.Reshape(x, shape...)
}
