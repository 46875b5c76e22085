package tune

import (
	"math"
	"testing"
)

// TestParzenMatchesOptuna checks the Parzen estimator against log densities
// computed by Optuna 3.1's _ParzenEstimator for observations
// [-4, 2, 2.5, 9, 0.3, 7.7, -1.2] of a float on [-5, 10] (default weights,
// prior weight 1, magic clip, no endpoints). Optuna's score omits 1/sigma
// like ours, so the two agree up to Optuna's -log(2 pi)/2.
func TestParzenMatchesOptuna(t *testing.T) {
	p := Uniform("x", -5, 10)
	raw := []float64{-4, 2, 2.5, 9, 0.3, 7.7, -1.2}
	obs := make([][]float64, len(raw))
	w := make([]float64, len(raw))
	for i, x := range raw {
		obs[i] = []float64{p.ToUnit(x)}
		w[i] = 1
	}
	at := []float64{-5, -3, 0, 2.2, 5, 9.9}
	want := map[bool][]float64{
		false: {1.166507, 1.348876, 1.574193, 1.603487, 1.242316, 1.295166},
		true:  {1.046896, 1.271779, 1.455827, 1.423195, 1.131751, 1.161268},
	}
	for mv := range want {
		for i := range want[mv] {
			want[mv][i] -= math.Log(15) // printed with log 15 added
		}
	}
	for _, mv := range []bool{false, true} {
		pz := newParzen([]Param{p}, obs, w, parzenConfig{priorWeight: 1, multivariate: mv})
		for i, x := range at {
			got := pz.logPDF([]float64{p.ToUnit(x)}) - 0.5*math.Log(2*math.Pi)
			if math.Abs(got-want[mv][i]) > 1e-5 {
				t.Errorf("multivariate=%v: log density at %g = %.6f, Optuna %.6f", mv, x, got, want[mv][i])
			}
		}
	}
}

// TestParzenIntMassMatchesOptuna checks an integer on [1, 20] with
// observations [3, 7, 7, 12, 1, 20, 9] against Optuna 3.1, which scores the
// kernels' mass over each value's cell.
func TestParzenIntMassMatchesOptuna(t *testing.T) {
	p := IntRange("n", 1, 20, 1)
	var obs [][]float64
	var w []float64
	for _, v := range []float64{3, 7, 7, 12, 1, 20, 9} {
		obs = append(obs, []float64{p.ToUnit(v)})
		w = append(w, 1)
	}
	pz := newParzen([]Param{p}, obs, w, parzenConfig{priorWeight: 1})
	want := map[float64]float64{1: -2.698275, 4: -2.72783, 7: -2.552268, 8: -2.544194, 15: -3.636945, 20: -3.782447}
	for v, lw := range want {
		if got := pz.logPDF([]float64{p.ToUnit(v)}); math.Abs(got-lw) > 1e-5 {
			t.Errorf("log mass at %g = %.6f, Optuna %.6f", v, got, lw)
		}
	}
}
