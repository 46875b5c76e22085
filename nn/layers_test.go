package nn

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mlenv/mlenv/tensor"
)

func randn(rng *rand.Rand, shape ...int) *tensor.Tensor { return tensor.Normal(rng, 0, 1, shape...) }

// TestLayerGradients checks every layer's gradients (inputs and
// parameters) against finite differences.
func TestLayerGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(name string, f func(in []*tensor.Tensor) *tensor.Tensor, in ...*tensor.Tensor) {
		t.Helper()
		if err := tensor.GradCheck(f, in, 1e-3, 2e-2); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, act := range []Activation{None, ReLU, GELU, SiLU, Sigmoid, Tanh} {
		check("linear/"+string(act), func(in []*tensor.Tensor) *tensor.Tensor {
			return (&Linear{in[1], in[2]}).ForwardAct(in[0], act)
		}, randn(rng, 4, 3), randn(rng, 2, 3), randn(rng, 2))
	}
	check("layernorm", func(in []*tensor.Tensor) *tensor.Tensor {
		return (&LayerNorm{in[1], in[2], 1e-5}).Forward(in[0])
	}, randn(rng, 3, 4), randn(rng, 4), randn(rng, 4))
	check("batchnorm", func(in []*tensor.Tensor) *tensor.Tensor {
		b := NewBatchNorm(2)
		b.Weight, b.Bias = in[1], in[2]
		return b.Forward(in[0])
	}, randn(rng, 2, 2, 3), randn(rng, 2), randn(rng, 2))
	check("embeddingbag/mean", func(in []*tensor.Tensor) *tensor.Tensor {
		return (&EmbeddingBag{in[0], BagMean, 1}).Forward(nil, []int{0, 1, 3, 3, 2}, []int{0, 2, 2})
	}, randn(rng, 4, 3))
	check("embedding/padding", func(in []*tensor.Tensor) *tensor.Tensor {
		return (&Embedding{in[0], 0}).Lookup(nil, []int{2, 0, 2, 1})
	}, randn(rng, 3, 2))
	check("conv2d", func(in []*tensor.Tensor) *tensor.Tensor {
		return (&Conv2d{in[1], in[2], 1, 1}).Forward(in[0])
	}, randn(rng, 1, 2, 4, 3), randn(rng, 3, 2, 3, 3), randn(rng, 3))
	check("attention/causal", func(in []*tensor.Tensor) *tensor.Tensor {
		m := &MultiHeadAttention{in[1], in[2], &Linear{in[3], in[4]}, 2}
		return m.Forward(in[0], in[0], in[0], CausalMask(3))
	}, randn(rng, 2, 3, 4), randn(rng, 12, 4), randn(rng, 12), randn(rng, 4, 4), randn(rng, 4))
	check("crossnet", func(in []*tensor.Tensor) *tensor.Tensor {
		return (&CrossNet{[]*Linear{{in[1], in[2]}}}).Forward(in[0])
	}, randn(rng, 2, 3), randn(rng, 3, 3), randn(rng, 3))
	check("dot", func(in []*tensor.Tensor) *tensor.Tensor { return DotInteraction(in[0], in[1], in[2]) },
		randn(rng, 2, 3), randn(rng, 2, 3), randn(rng, 2, 3))
	labels := []int{2, 0, 1}
	check("crossentropy", func(in []*tensor.Tensor) *tensor.Tensor { return CrossEntropy(in[0], labels, 0.2) }, randn(rng, 3, 4))
	check("mse", func(in []*tensor.Tensor) *tensor.Tensor { return MSE(in[0], in[1]) }, randn(rng, 2, 3), randn(rng, 2, 3))
}

func TestEmbeddingBagSparseGradSkipsPadding(t *testing.T) {
	bag := NewEmbeddingBag(rand.New(rand.NewPCG(1, 1)), 5, 2, BagSum, 0, true)
	if got := bag.Weight.Data()[:2]; !slices.Equal(got, []float32{0, 0}) {
		t.Errorf("padding row initialised to %v, want zeros", got)
	}
	out := bag.Forward(tensor.NewArena(), []int{0, 3, 3, 1}, []int{0, 3})
	tensor.SumAll(out).Backward()
	r := bag.Weight.Rows()
	if bag.Weight.Grad() != nil || r == nil {
		t.Fatal("sparse embedding bag produced a dense gradient")
	}
	if !slices.Equal(r.Index, []int{3, 1}) || !slices.Equal(r.Values, []float32{2, 2, 1, 1}) {
		t.Errorf("row grads %v %v, want rows [3 1] values [2 2 1 1]", r.Index, r.Values)
	}
}

func TestDropoutTrainAndEval(t *testing.T) {
	d := NewDropout(rand.New(rand.NewPCG(1, 1)), 0.25)
	x := tensor.Full(1, 10000)
	y := d.Forward(x).Data()
	zeros, sum := 0, 0.0
	for _, v := range y {
		if v == 0 {
			zeros++
		} else if math.Abs(float64(v)-4.0/3) > 1e-6 {
			t.Fatalf("kept value %v, want 1/(1-p)", v)
		}
		sum += float64(v)
	}
	if zeros < 2300 || zeros > 2700 {
		t.Errorf("%d of 10000 dropped, want about 2500", zeros)
	}
	if mean := sum / 10000; math.Abs(mean-1) > 0.05 {
		t.Errorf("mean %v after dropout, want about 1", mean)
	}
	SetTraining(Sequential{d}, false)
	if got := d.Forward(x); got != x {
		t.Error("dropout in eval mode is not the identity")
	}
}

func TestStateDictRoundTripAndErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	model := Sequential{NewLinear(rng, 3, 4, true), ReLU, NewBatchNorm(4), NewLinear(rng, 4, 1, false)}
	names := []string{}
	for _, p := range model.Parameters() {
		names = append(names, p.Name)
	}
	if want := []string{"0.weight", "0.bias", "2.weight", "2.bias", "3.weight"}; !slices.Equal(names, want) {
		t.Errorf("parameter names %v, want %v", names, want)
	}
	path := filepath.Join(t.TempDir(), "w.safetensors")
	if err := SaveFile(path, model); err != nil {
		t.Fatal(err)
	}
	other := Sequential{NewLinear(rng, 3, 4, true), ReLU, NewBatchNorm(4), NewLinear(rng, 4, 1, false)}
	if err := LoadFile(path, other); err != nil {
		t.Fatal(err)
	}
	x := randn(rng, 2, 3)
	SetTraining(model, false)
	SetTraining(other, false)
	if !slices.Equal(model.Forward(x).Data(), other.Forward(x).Data()) {
		t.Error("loaded model computes something else")
	}

	var buf bytes.Buffer
	if err := Save(&buf, NewMLP(rng, ReLU, 3, 5, 1)); err != nil {
		t.Fatal(err)
	}
	saved := buf.Bytes()
	tests := []struct {
		name  string
		model Module
		want  string
	}{
		{"shape", NewMLP(rng, ReLU, 3, 6, 1), `"layers.0.weight" has shape [5 3], model wants [6 3]`},
		{"missing", NewMLP(rng, ReLU, 3, 5, 1, 1), `lacks "layers.2.weight"`},
		{"extra", params{{"layers.0.weight", tensor.New(5, 3)}, {"layers.1.weight", tensor.New(1, 5)}},
			`unexpected entries ["layers.0.bias" "layers.1.bias"]`},
	}
	for _, tt := range tests {
		err := Load(bytes.NewReader(saved), tt.model)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want mention of %q", tt.name, err, tt.want)
		}
	}
	if err := LoadFile(filepath.Join(t.TempDir(), "none"), model); err == nil {
		t.Error("loading a missing file succeeded")
	}
}

func TestParseActivation(t *testing.T) {
	if a, err := ParseActivation("gelu"); err != nil || a != GELU {
		t.Errorf("gelu: %v %v", a, err)
	}
	if a, err := ParseActivation(""); err != nil || a != None {
		t.Errorf("empty: %v %v", a, err)
	}
	if _, err := ParseActivation("swish"); err == nil || !strings.Contains(err.Error(), `"swish"`) {
		t.Errorf("swish: err %v", err)
	}
}

// params is a Module with a fixed parameter list.
type params []NamedParam

func (p params) Parameters() []NamedParam { return p }

// TestConcurrentInference runs one model from several goroutines, each with
// its own no-grad arena, as a server does; run with -race to check that
// inference only reads the parameters.
func TestConcurrentInference(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	model := Sequential{NewLinear(rng, 6, 8, true), GELU, NewLayerNorm(8), NewLinear(rng, 8, 2, true)}
	x := randn(rng, 5, 6)
	want := model.Forward(x).Data()
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			ar := tensor.NewArena()
			ar.SetGrad(false)
			for range 50 {
				ar.Reset()
				got := model.Forward(ar.FromSlice(x.Data(), 5, 6)).Data()
				if !slices.Equal(got, want) {
					errs <- fmt.Errorf("concurrent result %v, want %v", got, want)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
