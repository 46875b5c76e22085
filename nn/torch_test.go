package nn

import (
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/mlenv/mlenv/tensor"
)

// Reference values come from PyTorch 1.13 via testdata/gen_torch_vectors.py;
// outputs and gradients must agree within tolAbs + tolRel*|want|.
const (
	tolRel = 1e-4
	tolAbs = 1e-5
)

var torchVectors = sync.OnceValues(func() (map[string]*tensor.Tensor, error) {
	f, err := os.Open("testdata/torch_vectors.safetensors")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ts, _, err := tensor.ReadSafetensors(f)
	return ts, err
})

// vec returns a fresh copy of the named reference tensor.
func vec(t *testing.T, name string) *tensor.Tensor {
	t.Helper()
	ts, err := torchVectors()
	if err != nil {
		t.Fatal(err)
	}
	v, ok := ts[name]
	if !ok {
		t.Fatalf("reference vector %q missing; regenerate testdata", name)
	}
	return v.Copy()
}

func hasVec(name string) bool {
	ts, _ := torchVectors()
	_, ok := ts[name]
	return ok
}

// assertClose compares got with the named reference tensor.
func assertClose(t *testing.T, name string, got *tensor.Tensor) {
	t.Helper()
	want := vec(t, name)
	if !slices.Equal(got.Shape(), want.Shape()) && got.Len() != want.Len() {
		t.Errorf("%s: shape %v, PyTorch %v", name, got.Shape(), want.Shape())
		return
	}
	g, w := got.Data(), want.Data()
	for i := range w {
		if d := math.Abs(float64(g[i] - w[i])); d > tolAbs+tolRel*math.Abs(float64(w[i])) {
			t.Errorf("%s[%d] = %.7g, PyTorch %.7g", name, i, g[i], w[i])
			return
		}
	}
}

func labelsOf(t *testing.T, name string) []int {
	v := vec(t, name).Data()
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

// checkCase runs f on the case's named inputs and compares the output and
// every input gradient that PyTorch recorded.
func checkCase(t *testing.T, name string, inputs []string, f func(in []*tensor.Tensor) *tensor.Tensor) {
	t.Helper()
	in := make([]*tensor.Tensor, len(inputs))
	for i, k := range inputs {
		in[i] = vec(t, name+"."+k)
		if hasVec(name + ".grad." + k) {
			in[i].RequiresGrad()
		}
	}
	out := f(in)
	assertClose(t, name+".out", out)
	loss := out
	if hasVec(name + ".gout") {
		loss = tensor.SumAll(tensor.Mul(out, vec(t, name+".gout")))
	}
	loss.Backward()
	for i, k := range inputs {
		if hasVec(name + ".grad." + k) {
			if in[i].Grad() == nil {
				t.Errorf("%s: no gradient for %s", name, k)
				continue
			}
			assertClose(t, name+".grad."+k, in[i].Grad())
		}
	}
}

func TestTorchLayersAndLosses(t *testing.T) {
	checkCase(t, "linear", []string{"x", "weight", "bias"}, func(in []*tensor.Tensor) *tensor.Tensor {
		return (&Linear{Weight: in[1], Bias: in[2]}).Forward(in[0])
	})
	for _, a := range []Activation{ReLU, GELU, SiLU, Sigmoid, Tanh} {
		checkCase(t, "act_"+string(a), []string{"x"}, func(in []*tensor.Tensor) *tensor.Tensor { return a.Apply(in[0]) })
	}
	checkCase(t, "softmax", []string{"x"}, func(in []*tensor.Tensor) *tensor.Tensor { return tensor.Softmax(in[0], 1) })
	checkCase(t, "logsoftmax", []string{"x"}, func(in []*tensor.Tensor) *tensor.Tensor { return tensor.LogSoftmax(in[0], 0) })
	checkCase(t, "logsumexp", []string{"x"}, func(in []*tensor.Tensor) *tensor.Tensor { return tensor.LogSumExp(in[0], 1, false) })
	checkCase(t, "bce", []string{"logits", "targets"}, func(in []*tensor.Tensor) *tensor.Tensor { return BCEWithLogits(in[0], in[1]) })
	for _, c := range []struct {
		name string
		eps  float32
	}{{"ce0", 0}, {"ce0.1", 0.1}} {
		labels := labelsOf(t, c.name+".labels")
		checkCase(t, c.name, []string{"logits"}, func(in []*tensor.Tensor) *tensor.Tensor { return CrossEntropy(in[0], labels, c.eps) })
	}
	checkCase(t, "mse", []string{"pred", "target"}, func(in []*tensor.Tensor) *tensor.Tensor { return MSE(in[0], in[1]) })
}

// TestTorchMLP loads weights PyTorch saved as safetensors into an MLP of the
// same structure and checks outputs, loss and every gradient.
func TestTorchMLP(t *testing.T) {
	m := NewMLP(rand.New(rand.NewPCG(1, 1)), ReLU, 6, 8, 8, 1)
	if err := LoadFile("testdata/mlp_weights.safetensors", m); err != nil {
		t.Fatal(err)
	}
	x := vec(t, "mlp.x").RequiresGrad()
	logits := m.Forward(x)
	assertClose(t, "mlp.logits", logits)
	loss := BCEWithLogits(logits, vec(t, "mlp.y"))
	assertClose(t, "mlp.loss", loss)
	loss.Backward()
	assertClose(t, "mlp.grad.x", x.Grad())
	for _, p := range m.Parameters() {
		assertClose(t, "mlp.grad."+p.Name, p.Tensor.Grad())
	}
}

func TestTorchEmbeddingBag(t *testing.T) {
	for _, mode := range []BagMode{BagSum, BagMean} {
		name := "bag_" + string(mode)
		ids, offsets := labelsOf(t, name+".ids"), labelsOf(t, name+".offsets")
		checkCase(t, name, []string{"weight"}, func(in []*tensor.Tensor) *tensor.Tensor {
			return (&EmbeddingBag{Weight: in[0], Mode: mode, PaddingID: 2}).Forward(tensor.NewArena(), ids, offsets)
		})
	}
}

func TestTorchNorms(t *testing.T) {
	checkCase(t, "layernorm", []string{"x", "weight", "bias"}, func(in []*tensor.Tensor) *tensor.Tensor {
		return (&LayerNorm{Weight: in[1], Bias: in[2], Eps: 1e-5}).Forward(in[0])
	})
	for _, name := range []string{"bn1d", "bn2d"} {
		bn := NewBatchNorm(3)
		checkCase(t, name, []string{"x", "weight", "bias"}, func(in []*tensor.Tensor) *tensor.Tensor {
			bn.Weight, bn.Bias = in[1], in[2]
			return bn.Forward(in[0])
		})
		assertClose(t, name+".running_mean", bn.RunningMean)
		assertClose(t, name+".running_var", bn.RunningVar)
		SetTraining(bn, false)
		assertClose(t, name+".eval_out", bn.Forward(vec(t, name+".eval_x")))
	}
}

func TestTorchConvPoolAttentionInteraction(t *testing.T) {
	checkCase(t, "conv2d", []string{"x", "weight", "bias"}, func(in []*tensor.Tensor) *tensor.Tensor {
		return (&Conv2d{Weight: in[1], Bias: in[2], Stride: 2, Pad: 1}).Forward(in[0])
	})
	checkCase(t, "maxpool", []string{"x"}, func(in []*tensor.Tensor) *tensor.Tensor { return MaxPool2d{2, 2}.Forward(in[0]) })
	checkCase(t, "avgpool", []string{"x"}, func(in []*tensor.Tensor) *tensor.Tensor { return AvgPool2d{3, 1}.Forward(in[0]) })
	mask := vec(t, "mha.mask")
	checkCase(t, "mha", []string{"q", "k", "v", "in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"},
		func(in []*tensor.Tensor) *tensor.Tensor {
			m := &MultiHeadAttention{InProjWeight: in[3], InProjBias: in[4], OutProj: &Linear{in[5], in[6]}, Heads: 2}
			return m.Forward(in[0], in[1], in[2], mask)
		})
	checkCase(t, "cross", []string{"x", "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"},
		func(in []*tensor.Tensor) *tensor.Tensor {
			c := &CrossNet{Layers: []*Linear{{in[1], in[2]}, {in[3], in[4]}}}
			return c.Forward(in[0])
		})
	checkCase(t, "dot", []string{"dense", "e1", "e2"}, func(in []*tensor.Tensor) *tensor.Tensor {
		return DotInteraction(in[0], in[1], in[2])
	})
}

// tinyDLRM mirrors TinyDLRM in gen_torch_vectors.py, parameter names
// included.
type tinyDLRM struct {
	bottom, top *MLP
	emb         []*EmbeddingBag
}

func (d *tinyDLRM) Parameters() []NamedParam {
	ps := append(Prefix("bottom", d.bottom), Prefix("emb.0", d.emb[0])...)
	return append(append(ps, Prefix("emb.1", d.emb[1])...), Prefix("top", d.top)...)
}

// TestTorchWholeModels loads PyTorch state dicts of a small CNN and a tiny
// DLRM and checks outputs, losses and every parameter gradient.
func TestTorchWholeModels(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	cnn := Sequential{
		NewConv2d(rng, 1, 4, 3, 1, 1), ReLU, MaxPool2d{2, 2},
		NewConv2d(rng, 4, 6, 3, 1, 1), ReLU, AvgPool2d{2, 2},
		Flatten{}, NewLinear(rng, 24, 5, true),
	}
	if err := LoadFile("testdata/cnn_weights.safetensors", cnn); err != nil {
		t.Fatal(err)
	}
	logits := cnn.Forward(vec(t, "cnn.x"))
	assertClose(t, "cnn.out", logits)
	loss := CrossEntropy(logits, labelsOf(t, "cnn.labels"), 0.1)
	assertClose(t, "cnn.loss", loss)
	loss.Backward()
	for _, p := range cnn.Parameters() {
		assertClose(t, "cnn.grad."+p.Name, p.Tensor.Grad())
	}

	d := &tinyDLRM{bottom: NewMLP(rng, ReLU, 4, 8, 3), top: NewMLP(rng, ReLU, 6, 8, 1)}
	for range 2 {
		d.emb = append(d.emb, NewEmbeddingBag(rng, 10, 3, BagMean, NoPadding, false))
	}
	if err := LoadFile("testdata/dlrm_weights.safetensors", d); err != nil {
		t.Fatal(err)
	}
	ids, offsets := labelsOf(t, "dlrm.ids"), labelsOf(t, "dlrm.offsets")
	ar := tensor.NewArena()
	x := ReLU.Apply(d.bottom.Forward(ar.FromSlice(vec(t, "dlrm.dense").Data(), 4, 4)))
	e0 := d.emb[0].Forward(ar, ids[:6], offsets)
	e1 := d.emb[1].Forward(ar, ids[6:], offsets)
	out := d.top.Forward(DotInteraction(x, e0, e1))
	assertClose(t, "dlrm.out", out)
	loss = BCEWithLogits(out, vec(t, "dlrm.y"))
	assertClose(t, "dlrm.loss", loss)
	loss.Backward()
	for _, p := range d.Parameters() {
		assertClose(t, "dlrm.grad."+p.Name, p.Tensor.Grad())
	}
}

func TestTorchEmbeddingPadding(t *testing.T) {
	ids := labelsOf(t, "embedding.ids")
	checkCase(t, "embedding", []string{"weight"}, func(in []*tensor.Tensor) *tensor.Tensor {
		return (&Embedding{Weight: in[0], PaddingID: 0}).Lookup(nil, ids)
	})
}
