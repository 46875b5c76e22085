package explain

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/mlenv/mlenv/nn"
	"github.com/mlenv/mlenv/optim"
	"github.com/mlenv/mlenv/tensor"
)

// tabular is a test model: dense features and embedded categorical
// features concatenated into an MLP with one output. newTabular returns it
// frozen (see Freeze), as parallel workers need; thaw makes it trainable.
type tabular struct {
	in     Inputs
	tables []*nn.Embedding
	net    *nn.MLP
	thaw   func()
}

func newTabular(rng *rand.Rand, act nn.Activation, dense, cats, card, dim int, hidden ...int) *tabular {
	m := &tabular{}
	for i := range dense {
		m.in.Dense = append(m.in.Dense, "d"+string(rune('0'+i)))
	}
	for k := range cats {
		m.in.Embedded = append(m.in.Embedded, Field{Name: "c" + string(rune('0'+k)), Width: dim})
		e := nn.NewEmbedding(rng, card, dim, false)
		for i, v := range e.Weight.Data() {
			e.Weight.Data()[i] = v * 0.5
		}
		m.tables = append(m.tables, e)
	}
	sizes := append(append([]int{m.in.Width()}, hidden...), 1)
	m.net = nn.NewMLP(rng, act, sizes...)
	m.thaw = Freeze(m)
	return m
}

func (m *tabular) Parameters() []nn.NamedParam {
	ps := nn.Prefix("mlp", m.net)
	for k, t := range m.tables {
		ps = append(ps, nn.Prefix("emb"+string(rune('0'+k)), t)...)
	}
	return ps
}

// forward is the Func: the MLP over the concatenated inputs.
func (m *tabular) forward(dense *tensor.Tensor, embs []*tensor.Tensor) *tensor.Tensor {
	parts := slices.Clone(embs)
	if dense != nil {
		parts = append([]*tensor.Tensor{dense}, parts...)
	}
	return m.net.Forward(tensor.Concat(1, parts...))
}

func (m *tabular) model() Model { return Model{Inputs: m.in, Forward: m.forward} }

// point embeds one example: dense values then the ids' table rows.
func (m *tabular) point(dense []float32, ids []int) []float32 {
	p := slices.Clone(dense)
	for k, id := range ids {
		dim := m.tables[k].Weight.Dim(1)
		p = append(p, m.tables[k].Weight.Data()[id*dim:(id+1)*dim]...)
	}
	return p
}

func randomPoints(rng *rand.Rand, m *tabular, n, card int) [][]float32 {
	var xs [][]float32
	for range n {
		dense := make([]float32, len(m.in.Dense))
		for j := range dense {
			dense[j] = float32(rng.NormFloat64())
		}
		ids := make([]int, len(m.tables))
		for k := range ids {
			ids[k] = rng.IntN(card)
		}
		xs = append(xs, m.point(dense, ids))
	}
	return xs
}

func TestNodesIntegratePolynomials(t *testing.T) {
	// ∫₀¹ α^k dα = 1/(k+1): Gauss-Legendre with n points is exact up to
	// degree 2n-1; the trapezoid rule only up to degree 1.
	for _, n := range []int{1, 2, 3, 5, 8, 50} {
		alphas, weights, err := Nodes(GaussLegendre, n)
		if err != nil {
			t.Fatal(err)
		}
		for k := 0; k <= 2*n-1; k++ {
			var got float64
			for i, a := range alphas {
				got += weights[i] * math.Pow(a, float64(k))
			}
			if want := 1 / float64(k+1); math.Abs(got-want) > 1e-12 {
				t.Errorf("n=%d: ∫α^%d = %.15g, want %.15g", n, k, got, want)
			}
		}
	}
	alphas, weights, _ := Nodes(GaussLegendre, 2)
	if r := 0.5 / math.Sqrt(3); math.Abs(alphas[0]-(0.5-r)) > 1e-15 || math.Abs(alphas[1]-(0.5+r)) > 1e-15 || math.Abs(weights[0]-0.5) > 1e-15 {
		t.Errorf("2-point nodes %v weights %v", alphas, weights)
	}
}

func TestNodesRiemann(t *testing.T) {
	cases := []struct {
		m      Method
		alphas []float64
		w      []float64
	}{
		{RiemannLeft, []float64{0, 0.25, 0.5, 0.75}, []float64{0.25, 0.25, 0.25, 0.25}},
		{RiemannRight, []float64{0.25, 0.5, 0.75, 1}, []float64{0.25, 0.25, 0.25, 0.25}},
		{RiemannMiddle, []float64{0.125, 0.375, 0.625, 0.875}, []float64{0.25, 0.25, 0.25, 0.25}},
		{RiemannTrap, []float64{0, 1.0 / 3, 2.0 / 3, 1}, []float64{1.0 / 6, 1.0 / 3, 1.0 / 3, 1.0 / 6}},
	}
	for _, c := range cases {
		a, w, err := Nodes(c.m, 4)
		if err != nil {
			t.Fatal(err)
		}
		for i := range a {
			if math.Abs(a[i]-c.alphas[i]) > 1e-15 || math.Abs(w[i]-c.w[i]) > 1e-15 {
				t.Errorf("%s: nodes %v weights %v, want %v %v", c.m, a, w, c.alphas, c.w)
				break
			}
		}
	}
	if _, _, err := Nodes(RiemannTrap, 1); err == nil {
		t.Error("trapezoid with 1 step: no error")
	}
	if _, err := ParseMethod("simpson"); err == nil || !strings.Contains(err.Error(), "simpson") {
		t.Errorf("ParseMethod(simpson) = %v", err)
	}
}

func TestCompletenessMLP(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	m := newTabular(rng, nn.ReLU, 12, 0, 0, 0, 64, 32)
	xs := randomPoints(rng, m, 40, 0)
	zero := [][]float32{make([]float32, 12)}
	res, err := Attribute(context.Background(), m.model(), xs, zero, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkCompleteness(t, res, 0.01)
	// Some paths cross ReLU kinks badly enough to need more steps.
	if slices.Max(res.Steps) == DefaultSteps {
		t.Errorf("no example refined: steps %v", res.Steps)
	}
	coarse, err := Attribute(context.Background(), m.model(), xs, zero, Options{Tolerance: -1})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Max(coarse.Steps) != DefaultSteps || coarse.MaxError() <= res.MaxError() {
		t.Errorf("without refinement: steps up to %d, max error %g (refined %g)", slices.Max(coarse.Steps), coarse.MaxError(), res.MaxError())
	}
}

func TestCompletenessEmbeddings(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	m := newTabular(rng, nn.Tanh, 4, 3, 50, 8, 32)
	xs := randomPoints(rng, m, 30, 50)
	for _, bs := range [][][]float32{
		{make([]float32, m.in.Width())},
		Sample(randomPoints(rng, m, 20, 50), 5, 1),
	} {
		res, err := Attribute(context.Background(), m.model(), xs, bs, Options{Workers: 2, MaxRows: 300})
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Features; !slices.Equal(got, []string{"d0", "d1", "d2", "d3", "c0", "c1", "c2"}) {
			t.Fatalf("features %v", got)
		}
		checkCompleteness(t, res, 0.01)
	}
}

func checkCompleteness(t *testing.T, res *Result, tol float64) {
	t.Helper()
	for i, a := range res.Attributions {
		var sum float64
		for _, v := range a {
			sum += v
		}
		delta := res.Outputs[i] - res.BaselineOutputs[i]
		want := math.Abs(sum-delta) / math.Max(math.Abs(delta), FloorShare*res.meanDelta())
		if math.Abs(res.Errors[i]-want) > 1e-9 {
			t.Fatalf("example %d: reported error %g, recomputed %g", i, res.Errors[i], want)
		}
	}
	if e := res.MaxError(); e > tol {
		t.Errorf("max completeness error %.4g > %g (mean %.4g)", e, tol, res.MeanError())
	}
}

// TestSameAcrossChunking checks that chunk size and workers do not change
// the result beyond float rounding.
func TestSameAcrossChunking(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	m := newTabular(rng, nn.Tanh, 3, 2, 10, 4, 16)
	xs := randomPoints(rng, m, 9, 10)
	bs := randomPoints(rng, m, 3, 10)
	a, err := Attribute(context.Background(), m.model(), xs, bs, Options{Workers: 1, MaxRows: 1 << 20, Steps: 16})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Attribute(context.Background(), m.model(), xs, bs, Options{Workers: 3, MaxRows: 1, Steps: 16})
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Attributions {
		for f := range a.Attributions[i] {
			if d := math.Abs(a.Attributions[i][f] - b.Attributions[i][f]); d > 1e-5 {
				t.Fatalf("example %d feature %d: %g vs %g", i, f, a.Attributions[i][f], b.Attributions[i][f])
			}
		}
	}
}

// TestGaussLegendreConvergesFaster compares both rules' completeness
// error on a smooth (tanh) model at equal steps.
func TestGaussLegendreConvergesFaster(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	m := newTabular(rng, nn.Tanh, 10, 0, 0, 0, 32, 32)
	for _, w := range m.net.Layers[0].Weight.Data() {
		_ = w
	}
	scale(m.net.Layers[0].Weight.Data(), 3) // a curved path, far from linear
	xs := randomPoints(rng, m, 20, 0)
	zero := [][]float32{make([]float32, 10)}
	for _, steps := range []int{4, 8, 16} {
		gl, err := Attribute(context.Background(), m.model(), xs, zero, Options{Steps: steps, Method: GaussLegendre})
		if err != nil {
			t.Fatal(err)
		}
		tr, err := Attribute(context.Background(), m.model(), xs, zero, Options{Steps: steps, Method: RiemannTrap})
		if err != nil {
			t.Fatal(err)
		}
		if gl.MeanError() >= tr.MeanError() {
			t.Errorf("%d steps: Gauss-Legendre error %.3g not below trapezoid %.3g", steps, gl.MeanError(), tr.MeanError())
		}
		t.Logf("%d steps: Gauss-Legendre %.3g, trapezoid %.3g", steps, gl.MeanError(), tr.MeanError())
	}
}

func scale(d []float32, c float32) {
	for i := range d {
		d[i] *= c
	}
}

func TestAttributeErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	m := newTabular(rng, nn.ReLU, 3, 0, 0, 0, 4)
	zero := [][]float32{make([]float32, 3)}
	ctx := context.Background()
	if _, err := Attribute(ctx, m.model(), [][]float32{{1, 2}}, zero, Options{}); err == nil || !strings.Contains(err.Error(), "example 0 has 2 values") {
		t.Errorf("short example: %v", err)
	}
	if _, err := Attribute(ctx, m.model(), [][]float32{{1, 2, 3}}, nil, Options{}); err == nil {
		t.Error("no baseline: no error")
	}
	bad := m.model()
	bad.Forward = func(d *tensor.Tensor, _ []*tensor.Tensor) *tensor.Tensor { return tensor.Sum(d, 0, false) }
	if _, err := Attribute(ctx, bad, [][]float32{{1, 2, 3}}, zero, Options{}); err == nil || !strings.Contains(err.Error(), "shape [3]") {
		t.Errorf("wrong output shape: %v", err)
	}
	panicky := m.model()
	panicky.Forward = func(d *tensor.Tensor, _ []*tensor.Tensor) *tensor.Tensor { return tensor.MatMul(d, d) }
	if _, err := Attribute(ctx, panicky, [][]float32{{1, 2, 3}}, zero, Options{}); err == nil || !strings.Contains(err.Error(), "model failed on examples 0 to 0") {
		t.Errorf("panicking model: %v", err)
	}
	// Inputs the model ignores get zero attributions; so does everything
	// for a constant model.
	partial := m.model()
	partial.Forward = func(d *tensor.Tensor, _ []*tensor.Tensor) *tensor.Tensor { return tensor.Slice(d, 1, 1, 2) }
	res, err := Attribute(ctx, partial, [][]float32{{1, 2, 3}}, zero, Options{})
	if err != nil || res.Attributions[0][0] != 0 || math.Abs(res.Attributions[0][1]-2) > 1e-6 || res.Attributions[0][2] != 0 {
		t.Errorf("model of x1 only: %v %v", res, err)
	}
	constant := m.model()
	constant.Forward = func(d *tensor.Tensor, _ []*tensor.Tensor) *tensor.Tensor { return d.Arena().New(d.Dim(0), 1) }
	if res, err := Attribute(ctx, constant, [][]float32{{1, 2, 3}}, zero, Options{}); err != nil || res.Attributions[0][0] != 0 || res.Errors[0] != 0 {
		t.Errorf("constant model: %v %v", res, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Attribute(cctx, m.model(), [][]float32{{1, 2, 3}}, zero, Options{}); err == nil {
		t.Error("cancelled context: no error")
	}
}

// TestKnownFeaturesRankFirst trains a model on data whose label depends on
// dense features d0, d1 and categorical c0 only, and checks that those
// three get the largest mean absolute attributions.
func TestKnownFeaturesRankFirst(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const card, n = 8, 4096
	m := newTabular(rng, nn.ReLU, 6, 2, card, 4, 32)
	effect := []float32{-2, -1.5, -1, 0, 0.5, 1, 1.5, 2}
	dense := make([]float32, n*6)
	ids := make([][2]int, n)
	labels := make([]float32, n)
	for i := range n {
		for j := range 6 {
			dense[i*6+j] = float32(rng.NormFloat64())
		}
		ids[i] = [2]int{rng.IntN(card), rng.IntN(card)}
		logit := 2*dense[i*6] - 2*dense[i*6+1] + effect[ids[i][0]]
		if rng.Float32() < 1/(1+float32(math.Exp(float64(-logit)))) {
			labels[i] = 1
		}
	}
	m.thaw()
	opt := optim.NewAdam(nn.Tensors(m), optim.AdamConfig{LR: 0.01})
	ar := tensor.NewArena()
	const batch = 256
	for step := range 300 {
		ar.Reset()
		lo := (step * batch) % n
		c0, c1 := make([]int, batch), make([]int, batch)
		for i := range batch {
			c0[i], c1[i] = ids[lo+i][0], ids[lo+i][1]
		}
		logits := m.forward(ar.FromSlice(dense[lo*6:(lo+batch)*6], batch, 6),
			[]*tensor.Tensor{m.tables[0].Lookup(ar, c0), m.tables[1].Lookup(ar, c1)})
		opt.ZeroGrad()
		nn.BCEWithLogits(logits, ar.FromSlice(labels[lo:lo+batch], batch, 1)).Backward()
		opt.Step()
	}
	Freeze(m)
	var xs [][]float32
	for i := range 200 {
		xs = append(xs, m.point(dense[i*6:(i+1)*6], ids[i][:]))
	}
	res, err := Attribute(context.Background(), m.model(), xs, Sample(xs, 8, 3), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ranked := Importance(res)
	var top []string
	for _, r := range ranked[:3] {
		top = append(top, r.Feature)
	}
	slices.Sort(top)
	if !slices.Equal(top, []string{"c0", "d0", "d1"}) {
		t.Errorf("top features %v, want c0, d0, d1; ranking %+v", top, ranked)
	}
	checkCompleteness(t, res, 0.01)
}
