package tune

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"
)

// condSpace has every kind of parameter and two levels of conditions.
func condSpace(t *testing.T) *Space {
	t.Helper()
	s, err := NewSpace(
		Choice("model", "linear", "mlp", "tree"),
		LogUniform("lr", 1e-4, 1),
		IntRange("layers", 1, 4, 1).If("model", "mlp"),
		Choice("act", "relu", "tanh").If("model", "mlp"),
		LogInt("units", 8, 512).If("model", "mlp"),
		IntRange("depth", 2, 12, 2).If("model", "tree"),
		Uniform("dropout", 0, 0.5).If("act", "relu"),
	)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// condObjective is a smooth function of the conditional space.
func condObjective(_ context.Context, r *Run) (float64, error) {
	v := math.Abs(math.Log10(r.Float("lr")) + 2)
	switch r.Choice("model") {
	case "mlp":
		v += math.Abs(float64(r.Int("layers"))-2) + math.Abs(math.Log2(r.Float("units"))-6)/4
		if r.Has("dropout") {
			v += r.Float("dropout")
		}
	case "tree":
		v += math.Abs(float64(r.Int("depth"))-6) / 3
	default:
		v += 1
	}
	return v, nil
}

func allSamplers() map[string]Sampler {
	return map[string]Sampler{
		"random":           &Random{Seed: 1},
		"grid":             &Grid{Points: 3},
		"sobol":            &Sobol{Seed: 1},
		"sobol-plain":      &Sobol{NoScramble: true},
		"tpe":              &TPE{Seed: 1},
		"tpe-multivariate": &TPE{Seed: 1, Multivariate: true},
		"tpe-liar":         &TPE{Seed: 1, Multivariate: true, ConstantLiar: true},
		"gp":               &GP{Seed: 1, Candidates: 200},
	}
}

func TestSamplersStayInSpaceAndRespectConditions(t *testing.T) {
	ctx := context.Background()
	space := condSpace(t)
	for name, sampler := range allSamplers() {
		study, err := Open(ctx, Config{Space: space, Sampler: sampler})
		if err != nil {
			t.Fatal(err)
		}
		if err := study.Optimize(ctx, condObjective, 40, 3); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		trials := study.Trials()
		if len(trials) != 40 {
			t.Errorf("%s: %d trials, want 40", name, len(trials))
		}
		for _, tr := range trials {
			if err := space.Check(tr.Params); err != nil {
				t.Errorf("%s: trial %d %v: %v", name, tr.Number, tr.Params, err)
			}
			if tr.State != Complete {
				t.Errorf("%s: trial %d is %s", name, tr.Number, tr.State)
			}
		}
	}
}

func TestGridEnumeratesEveryPointOnce(t *testing.T) {
	space, err := NewSpace(
		Choice("kind", "a", "b", "c"),
		IntRange("n", 1, 2, 1).If("kind", "a"),
		Uniform("x", 0, 1).If("kind", "a", "b"),
		Choice("flag", "on", "off"),
	)
	if err != nil {
		t.Fatal(err)
	}
	// a: 2 n x 3 x x 2 flags = 12; b: 3 x x 2 = 6; c: 2.
	const want = 20
	ctx := context.Background()
	study, err := Open(ctx, Config{Space: space, Sampler: &Grid{Points: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if err := study.Optimize(ctx, func(context.Context, *Run) (float64, error) { return 0, nil }, 100, 2); err != nil {
		t.Fatal(err)
	}
	trials := study.Trials()
	if len(trials) != want {
		t.Fatalf("grid ran %d trials, want %d", len(trials), want)
	}
	seen := map[string]bool{}
	for _, tr := range trials {
		k := pointKey(space, tr.Params)
		if seen[k] {
			t.Errorf("point %v evaluated twice", tr.Params)
		}
		seen[k] = true
	}
	xs := map[float64]bool{}
	for _, tr := range trials {
		if x, ok := tr.Params["x"]; ok {
			xs[x] = true
		}
	}
	if len(xs) != 3 || !xs[0] || !xs[0.5] || !xs[1] {
		t.Errorf("x grid values = %v, want 0, 0.5, 1", xs)
	}
	if _, err := study.Ask(ctx); !errors.Is(err, ErrExhausted) {
		t.Errorf("Ask after the grid = %v, want ErrExhausted", err)
	}
}

func TestSobolFirstPoints(t *testing.T) {
	// The unscrambled Sobol sequence (Joe-Kuo directions) as scipy's
	// qmc.Sobol(d, scramble=False) and Joe & Kuo's sobol.cc produce it.
	want := [][]float64{
		{0, 0, 0}, {0.5, 0.5, 0.5}, {0.75, 0.25, 0.25}, {0.25, 0.75, 0.75},
		{0.375, 0.375, 0.625}, {0.875, 0.875, 0.125}, {0.625, 0.125, 0.875}, {0.125, 0.625, 0.375},
	}
	for i, w := range want {
		if got := SobolPoint(uint32(i), 3); !slices.Equal(got, w) {
			t.Errorf("point %d = %v, want %v", i, got, w)
		}
	}
}

func TestSobolIsStratifiedInEveryDimension(t *testing.T) {
	// In every dimension the first 2^m points hit each interval
	// [j/2^m, (j+1)/2^m) exactly once; a wrong direction number breaks it.
	dims := SobolMaxDims
	if dims < 21 {
		t.Fatalf("Sobol supports %d dimensions, want at least 21", dims)
	}
	const m = 10
	counts := make([][]int, dims)
	for d := range counts {
		counts[d] = make([]int, 1<<m)
	}
	for i := range uint32(1 << m) {
		for d, x := range SobolPoint(i, dims) {
			counts[d][int(x*(1<<m))]++
		}
	}
	for d, c := range counts {
		for j, n := range c {
			if n != 1 {
				t.Fatalf("dimension %d: interval %d holds %d of the first %d points", d+1, j, n, 1<<m)
			}
		}
	}
}

// braninRegret returns the median, over seeds 0..8, of the best Branin
// value found in 50 trials minus the minimum.
func braninRegret(t *testing.T, newSampler func(seed uint64) Sampler) float64 {
	t.Helper()
	space, err := NewSpace(Uniform("x1", -5, 10), Uniform("x2", 0, 15))
	if err != nil {
		t.Fatal(err)
	}
	branin := func(_ context.Context, r *Run) (float64, error) {
		x1, x2 := r.Float("x1"), r.Float("x2")
		q := x2 - 5.1/(4*math.Pi*math.Pi)*x1*x1 + 5/math.Pi*x1 - 6
		return q*q + 10*(1-1/(8*math.Pi))*math.Cos(x1) + 10, nil
	}
	var regrets []float64
	for seed := range uint64(9) {
		ctx := context.Background()
		study, err := Open(ctx, Config{Space: space, Sampler: newSampler(seed)})
		if err != nil {
			t.Fatal(err)
		}
		if err := study.Optimize(ctx, branin, 50, 1); err != nil {
			t.Fatal(err)
		}
		best, _ := study.Best()
		regrets = append(regrets, best.Value-0.397887)
	}
	return MedianOf(regrets)
}

func TestModelBasedSamplersBeatRandomOnBranin(t *testing.T) {
	random := braninRegret(t, func(seed uint64) Sampler { return &Random{Seed: seed} })
	for name, newSampler := range map[string]func(uint64) Sampler{
		"tpe":              func(seed uint64) Sampler { return &TPE{Seed: seed} },
		"tpe-multivariate": func(seed uint64) Sampler { return &TPE{Seed: seed, Multivariate: true} },
		"gp":               func(seed uint64) Sampler { return &GP{Seed: seed} },
	} {
		got := braninRegret(t, newSampler)
		t.Logf("%s median regret %.4f, random %.4f", name, got, random)
		limit := 0.7 * random
		if name == "gp" {
			limit = 0.1 * random
		}
		if got > limit {
			t.Errorf("%s: median regret %.4f, want below %.4f (random %.4f)", name, got, limit, random)
		}
	}
}
