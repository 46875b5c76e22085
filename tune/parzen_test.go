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
