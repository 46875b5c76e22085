package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// checkGrad runs GradCheck with the tolerance used for float32 ops.
func checkGrad(t *testing.T, name string, f func(in []*Tensor) *Tensor, inputs ...*Tensor) {
	t.Helper()
	if err := GradCheck(f, inputs, 1e-3, 2e-2); err != nil {
		t.Errorf("%s: %v", name, err)
	}
}

func randT(rng *rand.Rand, shape ...int) *Tensor { return Normal(rng, 0, 1, shape...) }

func posT(rng *rand.Rand, shape ...int) *Tensor { return Uniform(rng, 0.5, 2, shape...) }

func TestGradElementwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	bin := map[string]func(a, b *Tensor) *Tensor{"add": Add, "sub": Sub, "mul": Mul}
	for name, op := range bin {
		checkGrad(t, name, func(in []*Tensor) *Tensor { return op(in[0], in[1]) }, randT(rng, 2, 3), randT(rng, 2, 3))
		checkGrad(t, name+"/bcast-row", func(in []*Tensor) *Tensor { return op(in[0], in[1]) }, randT(rng, 2, 3), randT(rng, 3))
		checkGrad(t, name+"/bcast-outer", func(in []*Tensor) *Tensor { return op(in[0], in[1]) }, randT(rng, 2, 1), randT(rng, 1, 3))
	}
	checkGrad(t, "div", func(in []*Tensor) *Tensor { return Div(in[0], in[1]) }, randT(rng, 2, 3), posT(rng, 2, 3))
	checkGrad(t, "div/bcast", func(in []*Tensor) *Tensor { return Div(in[0], in[1]) }, randT(rng, 2, 3), posT(rng, 2, 1))
	un := map[string]func(*Tensor) *Tensor{
		"neg": Neg, "exp": Exp, "relu": ReLU, "gelu": GELU, "silu": SiLU, "sigmoid": Sigmoid, "tanh": Tanh,
		"addscalar": func(x *Tensor) *Tensor { return AddScalar(x, 3) },
		"mulscalar": func(x *Tensor) *Tensor { return MulScalar(x, -2) },
	}
	for name, op := range un {
		checkGrad(t, name, func(in []*Tensor) *Tensor { return op(in[0]) }, randT(rng, 3, 4))
	}
	checkGrad(t, "log", func(in []*Tensor) *Tensor { return Log(in[0]) }, posT(rng, 3, 4))
	checkGrad(t, "sqrt", func(in []*Tensor) *Tensor { return Sqrt(in[0]) }, posT(rng, 3, 4))
	checkGrad(t, "pow", func(in []*Tensor) *Tensor { return Pow(in[0], 2.5) }, posT(rng, 3, 4))
	checkGrad(t, "exp/transposed-view", func(in []*Tensor) *Tensor { return Exp(Transpose(in[0], 0, 1)) }, randT(rng, 3, 4))
	checkGrad(t, "mul/views", func(in []*Tensor) *Tensor {
		return Mul(Transpose(in[0], 0, 1), Slice(in[1], 1, 1, 4))
	}, randT(rng, 3, 2), randT(rng, 2, 5))
}

func TestGradReductions(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, axis := range []int{0, 1, -1} {
		for _, keep := range []bool{false, true} {
			checkGrad(t, "sum", func(in []*Tensor) *Tensor { return Sum(in[0], axis, keep) }, randT(rng, 2, 3, 4))
			checkGrad(t, "mean", func(in []*Tensor) *Tensor { return Mean(in[0], axis, keep) }, randT(rng, 2, 3, 4))
			checkGrad(t, "max", func(in []*Tensor) *Tensor { return Max(in[0], axis, keep) }, randT(rng, 2, 3, 4))
			checkGrad(t, "logsumexp", func(in []*Tensor) *Tensor { return LogSumExp(in[0], axis, keep) }, randT(rng, 2, 3, 4))
		}
		checkGrad(t, "softmax", func(in []*Tensor) *Tensor { return Softmax(in[0], axis) }, randT(rng, 2, 3, 4))
		checkGrad(t, "logsoftmax", func(in []*Tensor) *Tensor { return LogSoftmax(in[0], axis) }, randT(rng, 2, 3, 4))
	}
	checkGrad(t, "sumall", func(in []*Tensor) *Tensor { return SumAll(in[0]) }, randT(rng, 2, 3))
	checkGrad(t, "meanall", func(in []*Tensor) *Tensor { return MeanAll(in[0]) }, randT(rng, 2, 3))
}

func TestGradShapeOps(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	x := randT(rng, 2, 3, 4)
	checkGrad(t, "reshape", func(in []*Tensor) *Tensor { return Reshape(in[0], 4, -1) }, x)
	checkGrad(t, "reshape/of-transpose", func(in []*Tensor) *Tensor { return Reshape(Transpose(in[0], 0, 2), 6, 4) }, x)
	checkGrad(t, "permute", func(in []*Tensor) *Tensor { return Permute(in[0], 2, 0, 1) }, x)
	checkGrad(t, "slice", func(in []*Tensor) *Tensor { return Slice(in[0], 1, 1, 3) }, x)
	checkGrad(t, "expand", func(in []*Tensor) *Tensor { return Expand(in[0], 3, 2, 4) }, randT(rng, 2, 1))
	checkGrad(t, "contiguous", func(in []*Tensor) *Tensor { return Contiguous(Transpose(in[0], 0, 1)) }, randT(rng, 3, 2))
	checkGrad(t, "unsqueeze", func(in []*Tensor) *Tensor { return Unsqueeze(in[0], 1) }, randT(rng, 3, 2))
	checkGrad(t, "concat", func(in []*Tensor) *Tensor { return Concat(1, in[0], in[1]) }, randT(rng, 2, 3), randT(rng, 2, 2))
	checkGrad(t, "concat/axis0", func(in []*Tensor) *Tensor { return Concat(0, in[0], in[1]) }, randT(rng, 1, 3), randT(rng, 2, 3))
	checkGrad(t, "stack", func(in []*Tensor) *Tensor { return Stack(1, in[0], in[1]) }, randT(rng, 2, 3), randT(rng, 2, 3))
}

func TestGradIndexOps(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	checkGrad(t, "indexselect/rows", func(in []*Tensor) *Tensor { return IndexSelect(in[0], 0, []int{2, 0, 2}) }, randT(rng, 4, 3))
	checkGrad(t, "indexselect/cols", func(in []*Tensor) *Tensor { return IndexSelect(in[0], 1, []int{1, 1}) }, randT(rng, 2, 3))
	checkGrad(t, "gather", func(in []*Tensor) *Tensor { return Gather(in[0], 1, []int{0, 2, 1, 1}) }, randT(rng, 2, 3))
	checkGrad(t, "scatteradd", func(in []*Tensor) *Tensor {
		return ScatterAdd(in[0], 0, []int{0, 2, 2, 0, 1, 1}, in[1])
	}, randT(rng, 3, 3), randT(rng, 2, 3))
}

func TestGradMatMul(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	mm := func(in []*Tensor) *Tensor { return MatMul(in[0], in[1]) }
	checkGrad(t, "matmul", mm, randT(rng, 3, 4), randT(rng, 4, 5))
	checkGrad(t, "matmul/batched", mm, randT(rng, 2, 3, 4), randT(rng, 2, 4, 5))
	checkGrad(t, "matmul/shared-b", mm, randT(rng, 2, 3, 4), randT(rng, 4, 5))
	checkGrad(t, "matmul/transposed", func(in []*Tensor) *Tensor {
		return MatMul(Transpose(in[0], 0, 1), Transpose(in[1], 0, 1))
	}, randT(rng, 4, 3), randT(rng, 5, 4))
	checkGrad(t, "matmul/batched-transposed", func(in []*Tensor) *Tensor {
		return MatMul(in[0], Transpose(in[1], 1, 2))
	}, randT(rng, 2, 3, 4), randT(rng, 2, 5, 4))
	// x·xᵀ takes backGram's single GEMM: batched, of a transposed view,
	// through a fresh intermediate, and with the transposed view used
	// again elsewhere.
	checkGrad(t, "matmul/gram", func(in []*Tensor) *Tensor {
		return MatMul(in[0], Transpose(in[0], 1, 2))
	}, randT(rng, 2, 3, 4))
	checkGrad(t, "matmul/gram-of-view", func(in []*Tensor) *Tensor {
		x := Transpose(in[0], 0, 1)
		return MatMul(x, Transpose(x, 0, 1))
	}, randT(rng, 4, 3))
	checkGrad(t, "matmul/gram-intermediate", func(in []*Tensor) *Tensor {
		x := MulScalar(in[0], 2)
		return MatMul(x, Transpose(x, 1, 2))
	}, randT(rng, 2, 3, 2))
	checkGrad(t, "matmul/gram-shared-view", func(in []*Tensor) *Tensor {
		xt := Transpose(in[0], 1, 2)
		return Add(SumAll(MatMul(in[0], xt)), SumAll(Mul(xt, xt)))
	}, randT(rng, 2, 3, 4))
	for _, act := range []Activation{ActNone, ActReLU, ActSigmoid, ActTanh} {
		checkGrad(t, "linear", func(in []*Tensor) *Tensor { return Linear(in[0], in[1], in[2], act) },
			randT(rng, 5, 4), randT(rng, 3, 4), randT(rng, 3))
	}
	checkGrad(t, "linear/no-bias-3d", func(in []*Tensor) *Tensor { return Linear(in[0], in[1], nil, ActNone) },
		randT(rng, 2, 5, 4), randT(rng, 3, 4))
}

func TestGradBCEWithLogits(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	y := FromSlice([]float32{1, 0, 1, 1, 0, 0}, 2, 3)
	checkGrad(t, "bcewithlogits", func(in []*Tensor) *Tensor { return BCEWithLogits(in[0], y) }, randT(rng, 2, 3))
}

func TestGradConvAndPool(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, c := range []struct{ stride, pad int }{{1, 0}, {2, 1}, {1, 2}} {
		checkGrad(t, "conv2d", func(in []*Tensor) *Tensor { return Conv2d(in[0], in[1], in[2], c.stride, c.pad) },
			randT(rng, 2, 3, 5, 4), randT(rng, 4, 3, 3, 2), randT(rng, 4))
	}
	checkGrad(t, "conv2d/no-bias", func(in []*Tensor) *Tensor { return Conv2d(in[0], in[1], nil, 1, 1) },
		randT(rng, 1, 2, 4, 4), randT(rng, 3, 2, 3, 3))
	// Stride 1 with rows as wide as the input's ("same" padding, 1x1
	// kernels, kernels wider than tall): im2col and col2im move whole
	// shifted blocks.
	for _, c := range []struct{ kh, kw, pad int }{{3, 3, 1}, {5, 5, 2}, {1, 1, 0}, {1, 3, 1}, {3, 5, 2}} {
		checkGrad(t, fmt.Sprintf("conv2d/same-%dx%d", c.kh, c.kw), func(in []*Tensor) *Tensor { return Conv2d(in[0], in[1], in[2], 1, c.pad) },
			randT(rng, 2, 2, 5, 4), randT(rng, 3, 2, c.kh, c.kw), randT(rng, 3))
	}
	// An intermediate input gets a fresh gradient (cleared per image).
	checkGrad(t, "conv2d/intermediate-input", func(in []*Tensor) *Tensor { return Conv2d(MulScalar(in[0], 2), in[1], in[2], 1, 1) },
		randT(rng, 2, 2, 4, 5), randT(rng, 3, 2, 3, 3), randT(rng, 3))
	checkGrad(t, "maxpool2d", func(in []*Tensor) *Tensor { return MaxPool2d(in[0], 2, 2) }, randT(rng, 2, 2, 4, 6))
	checkGrad(t, "maxpool2d/overlap", func(in []*Tensor) *Tensor { return MaxPool2d(in[0], 3, 1) }, randT(rng, 1, 2, 4, 5))
	checkGrad(t, "avgpool2d", func(in []*Tensor) *Tensor { return AvgPool2d(in[0], 2, 1) }, randT(rng, 2, 2, 3, 4))
}

func TestGradIndexAddAndLookup(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	checkGrad(t, "indexadd", func(in []*Tensor) *Tensor { return IndexAdd(in[0], 0, []int{1, 1, 0}, in[1]) },
		randT(rng, 2, 3), randT(rng, 3, 3))
	checkGrad(t, "indexadd/axis1", func(in []*Tensor) *Tensor { return IndexAdd(in[0], 1, []int{2, 0}, in[1]) },
		randT(rng, 2, 3), randT(rng, 2, 2))
	ar := NewArena()
	checkGrad(t, "lookup", func(in []*Tensor) *Tensor { return Lookup(ar, in[0], []int{3, 0, 3}) }, randT(rng, 4, 2))
}

// TestGradCheckCatchesWrongGradient makes sure the checker itself fails:
// x * detach(x) has true derivative 2x but Backward sees only x.
func TestGradCheckCatchesWrongGradient(t *testing.T) {
	x := FromSlice([]float32{1, 2}, 2)
	err := GradCheck(func(in []*Tensor) *Tensor { return Mul(in[0], in[0].Detach()) }, []*Tensor{x}, 1e-3, 2e-2)
	if err == nil {
		t.Fatal("GradCheck accepted a wrong gradient")
	}
}

func TestGradLayerNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	checkGrad(t, "layernorm", func(in []*Tensor) *Tensor { return LayerNorm(in[0], in[1], in[2], 1e-5) },
		randT(rng, 2, 3, 5), randT(rng, 5), randT(rng, 5))
	checkGrad(t, "layernorm/no-affine", func(in []*Tensor) *Tensor { return LayerNorm(in[0], nil, nil, 1e-5) },
		randT(rng, 4, 6))
}

// TestConv2dBatchAgreesWithSingleImages checks outputs and gradients of a
// batch, split into ranges of images on several goroutines, against
// convolving each image on its own.
func TestConv2dBatchAgreesWithSingleImages(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	const n, c, hw = 15, 16, 32
	x := randT(rng, n, c, hw, hw).RequiresGrad()
	w := randT(rng, 2, c, 3, 3).RequiresGrad()
	b := randT(rng, 2).RequiresGrad()
	whole := Conv2d(x, w, b, 1, 1)
	SumAll(whole).Backward()
	wantX, wantW, wantB := x.Grad().Copy(), w.Grad().Copy(), b.Grad().Copy()
	x.ZeroGrad()
	w.ZeroGrad()
	b.ZeroGrad()
	for i := range n {
		one := Conv2d(Slice(x, 0, i, i+1), w, b, 1, 1)
		if !near(one.Data(), Slice(whole, 0, i, i+1).Data(), 1e-5) {
			t.Fatalf("image %d: batched output differs from single-image output", i)
		}
		SumAll(one).Backward()
	}
	if !near(x.Grad().Data(), wantX.Data(), 1e-4) {
		t.Error("input gradient of the batch differs from the per-image one")
	}
	if !near(w.Grad().Data(), wantW.Data(), 1e-3) || !near(b.Grad().Data(), wantB.Data(), 1e-3) {
		t.Error("weight or bias gradient of the batch differs from the per-image sum")
	}
}

// TestGradConcatIntoViews covers Concat's and IndexSelect's backward
// writing straight into the gradient of a view's input (Stack's
// Unsqueeze, Reshape), both as the first contribution and after or before
// other users of the same tensors, and next to views it must not see
// through (Transpose).
func TestGradConcatIntoViews(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	checkGrad(t, "stack/shared", func(in []*Tensor) *Tensor {
		y := Exp(in[0])
		z := Mul(y, in[1])
		s := Stack(1, y, z, Transpose(Exp(in[2]), 0, 1), Reshape(Exp(in[2]), 2, 3))
		return Add(Mul(Sum(s, 1, false), z), y)
	}, randT(rng, 2, 3), randT(rng, 2, 3), randT(rng, 3, 2))
	checkGrad(t, "indexselect/reshaped", func(in []*Tensor) *Tensor {
		y := Exp(in[0])
		sel := IndexSelect(Reshape(y, 2, 6), 1, []int{5, 0, 5, 3})
		return Add(Sum(sel, 1, true), Sum(Reshape(y, 2, 6), 1, true))
	}, randT(rng, 2, 3, 2))
	checkGrad(t, "concat/twice", func(in []*Tensor) *Tensor {
		y := Tanh(in[0])
		return Concat(0, Unsqueeze(y, 0), Unsqueeze(y, 0), Unsqueeze(in[0], 0))
	}, randT(rng, 3, 3))
}

// TestGradReusedArena checks that rules writing fresh gradient storage
// (GEMM with beta 0, Concat through views) overwrite the stale values a
// reused arena hands out: gradients after an arena Reset must equal those
// computed without an arena.
func TestGradReusedArena(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	x, w, b := randT(rng, 2, 4, 3), randT(rng, 3, 3), randT(rng, 3, 3)
	for _, p := range []*Tensor{x, w, b} {
		p.RequiresGrad()
	}
	f := func(ar *Arena) *Tensor {
		xa := ar.FromSlice(x.Data(), 2, 4, 3).RequiresGrad()
		h := Exp(MatMul(Tanh(xa), w)) // batched a, 2-D b
		s := Stack(1, Tanh(Linear(Reshape(h, 8, 3), b, nil, ActReLU)), Reshape(h, 8, 3))
		z := MatMul(s, Transpose(s, 1, 2))
		return SumAll(Mul(z, z))
	}
	grads := func(ar *Arena) [][]float32 {
		for _, p := range []*Tensor{w, b} {
			p.ZeroGrad()
		}
		f(ar).Backward()
		return [][]float32{slices.Clone(w.Grad().Data()), slices.Clone(b.Grad().Data())}
	}
	want := grads(nil)
	ar := NewArena()
	for i := range 3 {
		ar.Reset()
		if got := grads(ar); !slices.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("run %d in a reused arena: gradients %v, want %v", i, got, want)
		}
	}
}

// TestConv2dMatchesDirectSum checks Conv2d's output against the
// convolution sum written out, for the shapes whose im2col copies whole
// shifted blocks and for strided and padded ones.
func TestConv2dMatchesDirectSum(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, c := range []struct{ kh, kw, stride, pad int }{{3, 3, 1, 1}, {5, 5, 1, 2}, {1, 1, 1, 0}, {1, 3, 1, 1}, {3, 2, 2, 1}, {3, 3, 1, 0}, {2, 2, 3, 2}} {
		x, w, b := randT(rng, 2, 3, 6, 5), randT(rng, 4, 3, c.kh, c.kw), randT(rng, 4)
		y := Conv2d(x, w, b, c.stride, c.pad)
		ho, wo := y.Dim(2), y.Dim(3)
		at := func(n, ch, i, j int) float64 {
			if i < 0 || i >= 6 || j < 0 || j >= 5 {
				return 0
			}
			return float64(x.Data()[((n*3+ch)*6+i)*5+j])
		}
		for n := range 2 {
			for o := range 4 {
				for oi := range ho {
					for oj := range wo {
						want := float64(b.Data()[o])
						for ch := range 3 {
							for ki := range c.kh {
								for kj := range c.kw {
									want += at(n, ch, oi*c.stride-c.pad+ki, oj*c.stride-c.pad+kj) * float64(w.Data()[((o*3+ch)*c.kh+ki)*c.kw+kj])
								}
							}
						}
						if got := y.Data()[((n*4+o)*ho+oi)*wo+oj]; math.Abs(float64(got)-want) > 1e-4 {
							t.Fatalf("%+v: output [%d %d %d %d] = %v, want %v", c, n, o, oi, oj, got, want)
						}
					}
				}
			}
		}
	}
}
