package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func near(a, b []float32, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > tol*(1+math.Abs(float64(b[i]))) {
			return false
		}
	}
	return true
}

func TestForwardValues(t *testing.T) {
	a := FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	b := FromSlice([]float32{10, 20, 30}, 3)
	col := FromSlice([]float32{1, 2}, 2, 1)
	tests := []struct {
		name string
		got  *Tensor
		want []float32
		dims []int
	}{
		{"add/bcast", Add(a, b), []float32{11, 22, 33, 14, 25, 36}, []int{2, 3}},
		{"div/col", Div(a, col), []float32{1, 2, 3, 2, 2.5, 3}, []int{2, 3}},
		{"sub/outer", Sub(col, b), []float32{-9, -19, -29, -8, -18, -28}, []int{2, 3}},
		{"sum0", Sum(a, 0, false), []float32{5, 7, 9}, []int{3}},
		{"sum1keep", Sum(a, 1, true), []float32{6, 15}, []int{2, 1}},
		{"mean", MeanAll(a), []float32{3.5}, []int{}},
		{"max1", Max(a, 1, false), []float32{3, 6}, []int{2}},
		{"transpose", Contiguous(Transpose(a, 0, 1)), []float32{1, 4, 2, 5, 3, 6}, []int{3, 2}},
		{"slice", Contiguous(Slice(a, 1, 1, 3)), []float32{2, 3, 5, 6}, []int{2, 2}},
		{"concat", Concat(0, a, Reshape(b, 1, 3)), []float32{1, 2, 3, 4, 5, 6, 10, 20, 30}, []int{3, 3}},
		{"stack", Stack(0, b, b), []float32{10, 20, 30, 10, 20, 30}, []int{2, 3}},
		{"matmul", MatMul(a, Transpose(a, 0, 1)), []float32{14, 32, 32, 77}, []int{2, 2}},
		{"linear", Linear(a, FromSlice([]float32{1, 0, -1, 0, 1, 0}, 2, 3), FromSlice([]float32{0.5, -10}, 2), ActReLU),
			[]float32{0, 0, 0, 0}, []int{2, 2}},
		{"gather", Gather(a, 1, []int{2, 0}), []float32{3, 4}, []int{2, 1}},
		{"indexselect", IndexSelect(a, 0, []int{1, 1, 0}), []float32{4, 5, 6, 4, 5, 6, 1, 2, 3}, []int{3, 3}},
		{"scatteradd", ScatterAdd(New(2, 2), 1, []int{1, 1, 0, 0, 0, 1}, a), []float32{3, 3, 9, 6}, []int{2, 2}},
		{"expand", Contiguous(Expand(col, 2, 2)), []float32{1, 1, 2, 2}, []int{2, 2}},
		{"logsumexp", LogSumExp(FromSlice([]float32{0, 0}, 2), 0, false), []float32{float32(math.Ln2)}, []int{}},
		{"relu", ReLU(FromSlice([]float32{-1, 0, 2}, 3)), []float32{0, 0, 2}, []int{3}},
		{"gelu", GELU(FromSlice([]float32{1}, 1)), []float32{0.8413447}, []int{1}},
		{"indexadd", IndexAdd(New(2, 3), 0, []int{1, 1}, a), []float32{0, 0, 0, 5, 7, 9}, []int{2, 3}},
		{"conv2d", Conv2d(FromSlice([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9}, 1, 1, 3, 3), FromSlice([]float32{1, 0, 0, 1}, 1, 1, 2, 2), FromSlice([]float32{0.5}, 1), 1, 0),
			[]float32{6.5, 8.5, 12.5, 14.5}, []int{1, 1, 2, 2}},
		{"conv2d/pad", Conv2d(FromSlice([]float32{1, 2, 3, 4}, 1, 1, 2, 2), FromSlice([]float32{1}, 1, 1, 1, 1), nil, 2, 1),
			[]float32{0, 0, 0, 4}, []int{1, 1, 2, 2}},
		{"maxpool", MaxPool2d(FromSlice([]float32{1, 5, 3, 4, 2, 6, 7, 8}, 1, 1, 2, 4), 2, 2), []float32{6, 8}, []int{1, 1, 1, 2}},
		{"avgpool", AvgPool2d(FromSlice([]float32{1, 5, 3, 4, 2, 6, 7, 8}, 1, 1, 2, 4), 2, 2), []float32{3.5, 5.5}, []int{1, 1, 1, 2}},
	}
	for _, tt := range tests {
		if !slices.Equal(tt.got.Shape(), tt.dims) {
			t.Errorf("%s: shape %v, want %v", tt.name, tt.got.Shape(), tt.dims)
		}
		if !near(tt.got.Data(), tt.want, 1e-6) {
			t.Errorf("%s = %v, want %v", tt.name, tt.got.Data(), tt.want)
		}
	}
}

func TestSoftmaxRowsSumToOne(t *testing.T) {
	x := Normal(rand.New(rand.NewPCG(1, 1)), 0, 10, 4, 7)
	s := Sum(Softmax(x, 1), 1, false).Data()
	if !near(s, []float32{1, 1, 1, 1}, 1e-5) {
		t.Errorf("softmax row sums %v", s)
	}
	ls := Exp(LogSoftmax(x, 1))
	if !near(ls.Data(), Softmax(x, 1).Data(), 1e-5) {
		t.Errorf("exp(logsoftmax) != softmax")
	}
	if got := Argmax(FromSlice([]float32{1, 9, 3, 7, 2, 8}, 2, 3), 1); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("argmax = %v", got)
	}
}

// TestShapeErrorsNameBothShapes checks that mismatches panic at graph
// construction with both shapes in the message.
func TestShapeErrorsNameBothShapes(t *testing.T) {
	tests := []struct {
		name string
		f    func()
		want []string
	}{
		{"add", func() { Add(New(2, 3), New(4)) }, []string{"[2 3]", "[4]"}},
		{"matmul", func() { MatMul(New(2, 3), New(4, 5)) }, []string{"[2 3]", "[4 5]"}},
		{"linear", func() { Linear(New(2, 3), New(4, 5), nil, ActNone) }, []string{"[2 3]", "[4 5]"}},
		{"concat", func() { Concat(0, New(2, 3), New(2, 4)) }, []string{"[2 3]", "[2 4]"}},
		{"reshape", func() { Reshape(New(2, 3), 4, 2) }, []string{"[2 3]", "[4 2]"}},
		{"bce", func() { BCEWithLogits(New(2, 1), New(2)) }, []string{"[2 1]", "[2]"}},
		{"index", func() { IndexSelect(New(2, 3), 0, []int{5}) }, []string{"index 5", "[2 3]"}},
		{"sparse-dense", func() { SumAll(Mul(New(2, 3).SetSparseGrad(), New(2, 3))).Backward() }, []string{"[2 3]", "sparse row gradients"}},
	}
	for _, tt := range tests {
		msg := func() (msg string) {
			defer func() { msg = fmt.Sprint(recover()) }()
			tt.f()
			return ""
		}()
		for _, w := range tt.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: panic %q does not name %q", tt.name, msg, w)
			}
		}
	}
}

func TestGradAccumulatesAndZeroes(t *testing.T) {
	w := FromSlice([]float32{1, 2}, 2).RequiresGrad()
	x := FromSlice([]float32{3, 4}, 2)
	for i := 0; i < 2; i++ {
		SumAll(Mul(w, x)).Backward()
	}
	if !near(w.Grad().Data(), []float32{6, 8}, 0) {
		t.Errorf("accumulated grad %v, want [6 8]", w.Grad().Data())
	}
	w.ZeroGrad()
	if !near(w.Grad().Data(), []float32{0, 0}, 0) {
		t.Errorf("after ZeroGrad %v", w.Grad().Data())
	}
	// Backward twice over one graph adds the same gradient twice.
	w.ZeroGrad()
	loss := SumAll(Mul(Mul(w, x), x))
	loss.Backward()
	loss.Backward()
	if !near(w.Grad().Data(), []float32{18, 32}, 0) {
		t.Errorf("grad after two Backward calls %v, want [18 32]", w.Grad().Data())
	}
	w.ZeroGrad()
	// A tensor used twice gets both contributions.
	SumAll(Mul(w, w)).Backward()
	if !near(w.Grad().Data(), []float32{2, 4}, 0) {
		t.Errorf("grad of w*w = %v, want [2 4]", w.Grad().Data())
	}
}

func TestArenaReuseAndNoGrad(t *testing.T) {
	w := FromSlice([]float32{1, 2, 3, 4}, 2, 2).RequiresGrad()
	ar := NewArena()
	var first []float32
	for step := 0; step < 3; step++ {
		ar.Reset()
		x := ar.FromSlice([]float32{1, 1}, 1, 2)
		y := MatMul(x, w)
		if y.Arena() != ar {
			t.Fatal("result not placed in the input's arena")
		}
		if step == 0 {
			first = y.data
		} else if &y.data[0] != &first[0] {
			t.Error("arena did not reuse the result buffer after Reset")
		}
		SumAll(y).Backward()
	}
	if !near(w.Grad().Data(), []float32{3, 3, 3, 3}, 0) {
		t.Errorf("grad %v after 3 steps, want all 3", w.Grad().Data())
	}
	ar.Reset()
	ar.SetGrad(false)
	y := MatMul(ar.FromSlice([]float32{1, 1}, 1, 2), w)
	if y.NeedsGrad() || y.op != opNone {
		t.Error("no-grad arena recorded a graph")
	}
}

func TestSparseRowGrad(t *testing.T) {
	emb := FromSlice([]float32{1, 2, 3, 4, 5, 6, 7, 8}, 4, 2).SetSparseGrad()
	out := IndexSelect(emb, 0, []int{3, 1, 3})
	SumAll(Mul(out, FromSlice([]float32{1, 2, 3, 4, 5, 6}, 3, 2))).Backward()
	if emb.Grad() != nil {
		t.Fatal("sparse tensor got a dense gradient")
	}
	r := emb.Rows()
	if !slices.Equal(r.Index, []int{3, 1}) || !near(r.Values, []float32{6, 8, 3, 4}, 0) {
		t.Errorf("rows %v values %v, want [3 1] [6 8 3 4]", r.Index, r.Values)
	}
}

func TestInitialisersAreSeededAndScaled(t *testing.T) {
	a := KaimingNormal(rand.New(rand.NewPCG(1, 2)), 256, 512)
	b := KaimingNormal(rand.New(rand.NewPCG(1, 2)), 256, 512)
	if !slices.Equal(a.Data(), b.Data()) {
		t.Error("same seed gave different weights")
	}
	var ss float64
	for _, v := range a.Data() {
		ss += float64(v) * float64(v)
	}
	if std := math.Sqrt(ss / float64(a.Len())); math.Abs(std-math.Sqrt(2.0/512)) > 0.002 {
		t.Errorf("Kaiming std %.4f, want %.4f", std, math.Sqrt(2.0/512))
	}
	x := XavierUniform(rand.New(rand.NewPCG(3, 4)), 1, 10, 30)
	bound := float32(math.Sqrt(6.0 / 40))
	for _, v := range x.Data() {
		if v < -bound || v >= bound {
			t.Fatalf("Xavier value %v outside ±%v", v, bound)
		}
	}
}

// TestBroadcastMatchesNaive compares Add, Mul, Div and Sub on random
// broadcastable shapes, including transposed views, with an element-by-
// element reference.
func TestBroadcastMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for trial := range 200 {
		rank := 1 + rng.IntN(4)
		out := make([]int, rank)
		as, bs := make([]int, rank), make([]int, rank)
		for i := range out {
			out[i] = 1 + rng.IntN(3)
			as[i], bs[i] = out[i], out[i]
			switch rng.IntN(3) {
			case 0:
				as[i] = 1
			case 1:
				bs[i] = 1
			}
		}
		drop := rng.IntN(rank) // b may have fewer dimensions
		bs = bs[drop:]
		copy(out[:drop], as[:drop])
		a, b := Normal(rng, 0, 1, as...), Uniform(rng, 0.5, 2, bs...)
		if rank >= 2 && trial%2 == 0 {
			// Use a transposed view of a with the same logical shape.
			a = Transpose(Contiguous(Transpose(a, -1, -2)), -1, -2)
		}
		for _, op := range []struct {
			name string
			f    func(a, b *Tensor) *Tensor
			ref  func(x, y float32) float32
		}{
			{"add", Add, func(x, y float32) float32 { return x + y }},
			{"sub", Sub, func(x, y float32) float32 { return x - y }},
			{"mul", Mul, func(x, y float32) float32 { return x * y }},
			{"div", Div, func(x, y float32) float32 { return x / y }},
		} {
			got := op.f(a, b)
			if !slices.Equal(got.Shape(), out) {
				t.Fatalf("%s %v %v: shape %v, want %v", op.name, as, bs, got.Shape(), out)
			}
			idx := make([]int, rank)
			for i, v := range got.Data() {
				rem := i
				for d := rank - 1; d >= 0; d-- {
					idx[d] = rem % out[d]
					rem /= out[d]
				}
				want := op.ref(a.At(bidx(idx, as)...), b.At(bidx(idx, bs)...))
				if v != want {
					t.Fatalf("%s %v %v at %v: %v, want %v", op.name, as, bs, idx, v, want)
				}
			}
		}
	}
}

// bidx maps an output index to the index of an operand of shape s
// broadcast to it.
func bidx(idx, s []int) []int {
	r := make([]int, len(s))
	lead := len(idx) - len(s)
	for i := range s {
		if s[i] != 1 {
			r[i] = idx[lead+i]
		}
	}
	return r
}

// TestLargeReductionsInParallel uses tensors big enough for the reductions
// to split rows across goroutines and checks them row by row.
func TestLargeReductionsInParallel(t *testing.T) {
	const rows, cols = 300, 1000
	x := Normal(rand.New(rand.NewPCG(23, 24)), 0, 1, rows, cols)
	sums, sm := Sum(x, 1, false).Data(), Softmax(x, 1)
	rowSums := Sum(sm, 1, false).Data()
	for r := range rows {
		var want float64
		for _, v := range x.Data()[r*cols : (r+1)*cols] {
			want += float64(v)
		}
		if math.Abs(float64(sums[r])-want) > 1e-3 {
			t.Fatalf("row %d: sum %v, want %v", r, sums[r], want)
		}
		if math.Abs(float64(rowSums[r])-1) > 1e-4 {
			t.Fatalf("row %d: softmax sums to %v", r, rowSums[r])
		}
	}
}

// TestMaxPool2dGradientToFirstMaximum checks pooling against a direct
// search of each window on inputs full of ties: the maxima, with and
// without a gradient, and the gradient, which must reach the first
// maximum of each window only. The cases cover windows that tile the
// input, a ragged edge and overlapping windows, with the pooling's
// gradient as the first contribution to its input's gradient and after
// another one.
func TestMaxPool2dGradientToFirstMaximum(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	inf := NewArena()
	inf.SetGrad(false)
	for _, c := range []struct{ h, w, k, stride int }{{6, 8, 2, 2}, {5, 7, 2, 2}, {4, 5, 3, 1}, {5, 6, 2, 1}} {
		leaf := New(2, 3, c.h, c.w).RequiresGrad()
		for i := range leaf.Data() {
			leaf.Data()[i] = float32(rng.IntN(3)) // ties in most windows
		}
		ho, wo := (c.h-c.k)/c.stride+1, (c.w-c.k)/c.stride+1
		gy := Normal(rng, 0, 1, 2, 3, ho, wo)
		wantY, wantG := make([]float32, gy.Len()), make([]float32, leaf.Len())
		for o := range wantY {
			p, oi, oj := o/(ho*wo), o/wo%ho, o%wo
			best := -1
			for ki := range c.k {
				for kj := range c.k {
					q := (p*c.h+oi*c.stride+ki)*c.w + oj*c.stride + kj
					if best < 0 || leaf.Data()[q] > leaf.Data()[best] {
						best = q
					}
				}
			}
			wantY[o] = leaf.Data()[best]
			wantG[best] += gy.Data()[o]
		}
		if got := MaxPool2d(inf.FromSlice(leaf.Data(), leaf.Shape()...), c.k, c.stride).Data(); !slices.Equal(got, wantY) {
			t.Errorf("%+v: MaxPool2d without gradient = %v, want %v", c, got, wantY)
		}
		for _, after := range []bool{false, true} {
			leaf.ZeroGrad()
			x := MulScalar(leaf, 1) // an intermediate, whose gradient may be fresh
			y := MaxPool2d(x, c.k, c.stride)
			if !slices.Equal(y.Data(), wantY) {
				t.Errorf("%+v: MaxPool2d = %v, want %v", c, y.Data(), wantY)
			}
			loss := SumAll(Mul(y, gy))
			if after { // x's gradient gets 1 per element from a second use
				loss = Add(SumAll(x), loss)
			}
			loss.Backward()
			for i, g := range leaf.Grad().Data() {
				want := wantG[i]
				if after {
					want++
				}
				if math.Abs(float64(g-want)) > 1e-6 {
					t.Fatalf("%+v (second use %v): gradient[%d] = %v, want %v", c, after, i, g, want)
				}
			}
		}
	}
}
