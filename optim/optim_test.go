package optim

import (
	"bytes"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/mlenv/mlenv/tensor"
)

func loadRef(t *testing.T) map[string]*tensor.Tensor {
	t.Helper()
	f, err := os.Open("testdata/torch_optim.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ts, _, err := tensor.ReadSafetensors(f)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func closeTo(a, b []float32, tol float64) bool {
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > tol*(1+math.Abs(float64(b[i]))) {
			return false
		}
	}
	return len(a) == len(b)
}

// TestMatchesPyTorch runs three steps of each optimizer with the gradients
// that nn/testdata/gen_torch_vectors.py fed torch.optim and compares the
// parameters (relative tolerance 1e-5).
func TestMatchesPyTorch(t *testing.T) {
	ref := loadRef(t)
	makers := map[string]func(ps []*tensor.Tensor) Optimizer{
		"sgd": func(ps []*tensor.Tensor) Optimizer { return NewSGD(ps, SGDConfig{LR: 0.1}) },
		"sgd_momentum": func(ps []*tensor.Tensor) Optimizer {
			return NewSGD(ps, SGDConfig{LR: 0.1, Momentum: 0.9, WeightDecay: 0.01})
		},
		"sgd_nesterov": func(ps []*tensor.Tensor) Optimizer {
			return NewSGD(ps, SGDConfig{LR: 0.1, Momentum: 0.9, Nesterov: true})
		},
		"adam":    func(ps []*tensor.Tensor) Optimizer { return NewAdam(ps, AdamConfig{LR: 0.01, WeightDecay: 0.1}) },
		"adamw":   func(ps []*tensor.Tensor) Optimizer { return NewAdamW(ps, AdamConfig{LR: 0.01, WeightDecay: 0.1}) },
		"adagrad": func(ps []*tensor.Tensor) Optimizer { return NewAdagrad(ps, AdagradConfig{LR: 0.1, WeightDecay: 0.01}) },
	}
	for name, mk := range makers {
		p := ref["p0"].Copy().RequiresGrad()
		opt := mk([]*tensor.Tensor{p})
		for _, g := range []string{"g0", "g1", "g2"} {
			// Fake a backward pass that produces exactly this gradient.
			opt.ZeroGrad()
			tensor.SumAll(tensor.Mul(p, ref[g])).Backward()
			opt.Step()
		}
		if !closeTo(p.Data(), ref[name].Data(), 1e-5) {
			t.Errorf("%s: params %v, PyTorch %v", name, p.Data(), ref[name].Data())
		}
	}
}

// TestSparseRowsUpdateOnlyTouchedRows checks that optimizers given a
// sparse row gradient leave untouched rows (and their state) alone and
// update touched rows as the dense rule would.
func TestSparseRowsUpdateOnlyTouchedRows(t *testing.T) {
	for _, name := range []string{"sgd", "adam", "adagrad", "rowwise"} {
		mk := func(ps []*tensor.Tensor) Optimizer {
			switch name {
			case "sgd":
				return NewSGD(ps, SGDConfig{LR: 0.5})
			case "adam":
				return NewAdam(ps, AdamConfig{LR: 0.5})
			case "adagrad":
				return NewAdagrad(ps, AdagradConfig{LR: 0.5})
			}
			return NewRowWiseAdagrad(ps, AdagradConfig{LR: 0.5})
		}
		vals := []float32{1, 2, 3, 4, 5, 6}
		sparse := tensor.FromSlice(append([]float32(nil), vals...), 3, 2).SetSparseGrad()
		dense := tensor.FromSlice(append([]float32(nil), vals...), 3, 2).RequiresGrad()
		so, do := mk([]*tensor.Tensor{sparse}), mk([]*tensor.Tensor{dense})
		w := tensor.FromSlice([]float32{1, -2, 3, 4}, 2, 2)
		for step := 0; step < 2; step++ {
			so.ZeroGrad()
			do.ZeroGrad()
			tensor.SumAll(tensor.Mul(tensor.IndexSelect(sparse, 0, []int{2, 2}), w)).Backward()
			tensor.SumAll(tensor.Mul(tensor.IndexSelect(dense, 0, []int{2, 2}), w)).Backward()
			so.Step()
			do.Step()
		}
		s := sparse.Data()
		if !closeTo(s[:4], vals[:4], 0) {
			t.Errorf("%s: untouched rows changed: %v", name, s[:4])
		}
		if !closeTo(s[4:], dense.Data()[4:], 1e-6) || closeTo(s[4:], vals[4:], 0) {
			t.Errorf("%s: touched row %v, dense rule gives %v", name, s[4:], dense.Data()[4:])
		}
	}
}

func TestRowWiseAdagradUsesRowMean(t *testing.T) {
	p := tensor.FromSlice([]float32{0, 0}, 1, 2).RequiresGrad()
	o := NewRowWiseAdagrad([]*tensor.Tensor{p}, AdagradConfig{LR: 1})
	tensor.SumAll(tensor.Mul(p, tensor.FromSlice([]float32{3, 4}, 1, 2))).Backward()
	o.Step()
	// acc = (9+16)/2 = 12.5; update = g / sqrt(12.5)
	want := []float32{float32(-3 / math.Sqrt(12.5)), float32(-4 / math.Sqrt(12.5))}
	if !closeTo(p.Data(), want, 1e-6) {
		t.Errorf("row-wise adagrad %v, want %v", p.Data(), want)
	}
}

func TestClipGradNorm(t *testing.T) {
	a := tensor.FromSlice([]float32{0, 0}, 2).RequiresGrad()
	b := tensor.FromSlice([]float32{0}, 1).RequiresGrad()
	tensor.Add(tensor.SumAll(tensor.Mul(a, tensor.FromSlice([]float32{3, 0}, 2))),
		tensor.SumAll(tensor.Mul(b, tensor.FromSlice([]float32{4}, 1)))).Backward()
	if n := ClipGradNorm([]*tensor.Tensor{a, b}, 1); math.Abs(n-5) > 1e-6 {
		t.Errorf("norm %v, want 5", n)
	}
	if !closeTo(a.Grad().Data(), []float32{0.6, 0}, 1e-5) || !closeTo(b.Grad().Data(), []float32{0.8}, 1e-5) {
		t.Errorf("clipped grads %v %v", a.Grad().Data(), b.Grad().Data())
	}
	if n := ClipGradNorm([]*tensor.Tensor{a, b}, 10); math.Abs(n-1) > 1e-5 || !closeTo(a.Grad().Data(), []float32{0.6, 0}, 1e-5) {
		t.Errorf("norm below max changed grads: %v %v", n, a.Grad().Data())
	}
}

func TestSchedules(t *testing.T) {
	tests := []struct {
		name string
		s    Schedule
		step int
		want float64
	}{
		{"step/0", StepLR{Base: 1, StepSize: 10, Gamma: 0.5}, 9, 1},
		{"step/10", StepLR{Base: 1, StepSize: 10, Gamma: 0.5}, 25, 0.25},
		{"cosine/start", Cosine{Base: 1, Min: 0.1, Steps: 100}, 0, 1},
		{"cosine/mid", Cosine{Base: 1, Min: 0.1, Steps: 100}, 50, 0.55},
		{"cosine/end", Cosine{Base: 1, Min: 0.1, Steps: 100}, 150, 0.1},
		{"warmup/0", Warmup{Steps: 4, Then: StepLR{Base: 2}}, 0, 0.5},
		{"warmup/3", Warmup{Steps: 4, Then: StepLR{Base: 2}}, 3, 2},
		{"warmup/after", Warmup{Steps: 4, Then: Cosine{Base: 1, Steps: 10}}, 5, (1 + math.Cos(math.Pi/2)) / 2},
	}
	for _, tt := range tests {
		if got := tt.s.LR(tt.step); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("%s: LR(%d) = %v, want %v", tt.name, tt.step, got, tt.want)
		}
	}
}

// TestStateResumes checks that an optimizer restored from SaveState
// continues exactly as the original would have.
func TestStateResumes(t *testing.T) {
	makers := map[string]func(ps []*tensor.Tensor) Optimizer{
		"sgd":     func(ps []*tensor.Tensor) Optimizer { return NewSGD(ps, SGDConfig{LR: 0.1, Momentum: 0.9}) },
		"adam":    func(ps []*tensor.Tensor) Optimizer { return NewAdam(ps, AdamConfig{LR: 0.1}) },
		"adagrad": func(ps []*tensor.Tensor) Optimizer { return NewAdagrad(ps, AdagradConfig{LR: 0.1}) },
		"rowwise": func(ps []*tensor.Tensor) Optimizer { return NewRowWiseAdagrad(ps, AdagradConfig{LR: 0.1}) },
	}
	g := tensor.FromSlice([]float32{1, -2, 3, 0.5, 0, 1}, 3, 2)
	step := func(o Optimizer, p *tensor.Tensor) {
		o.ZeroGrad()
		tensor.SumAll(tensor.Mul(tensor.Mul(p, p), g)).Backward()
		o.Step()
	}
	for name, mk := range makers {
		a := tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 3, 2).RequiresGrad()
		oa := mk([]*tensor.Tensor{a})
		step(oa, a)
		step(oa, a)
		oa.SetLR(0.05)
		var buf bytes.Buffer
		if err := SaveState(&buf, oa); err != nil {
			t.Fatal(err)
		}
		b := a.Copy().RequiresGrad()
		ob := mk([]*tensor.Tensor{b})
		if err := LoadState(bytes.NewReader(buf.Bytes()), ob); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ob.LR() != 0.05 {
			t.Errorf("%s: restored LR %v", name, ob.LR())
		}
		step(oa, a)
		step(ob, b)
		if !closeTo(a.Data(), b.Data(), 0) {
			t.Errorf("%s: resumed run %v, original %v", name, b.Data(), a.Data())
		}
		// A state for differently sized parameters is refused.
		small := mk([]*tensor.Tensor{tensor.New(2, 2).RequiresGrad()})
		if err := LoadState(bytes.NewReader(buf.Bytes()), small); err == nil || !strings.Contains(err.Error(), "needs") {
			t.Errorf("%s: size mismatch: err %v", name, err)
		}
	}
}
