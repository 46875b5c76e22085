package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// adamRef is one Adam step in float64, the reference for AdamStep.
func adamRef(w, g, m, v []float32, p *AdamParams) (wOut, mOut, vOut []float64) {
	for j := range w {
		gv := float64(g[j]) + float64(p.WeightDecay)*float64(w[j])
		mj := float64(p.Beta1)*float64(m[j]) + (1-float64(p.Beta1))*gv
		vj := float64(p.Beta2)*float64(v[j]) + (1-float64(p.Beta2))*gv*gv
		denom := math.Sqrt(vj)*float64(p.InvSqrtBC2) + float64(p.Eps)
		wOut = append(wOut, float64(w[j])*float64(p.Decay)-float64(p.StepSize)*mj/denom)
		mOut = append(mOut, mj)
		vOut = append(vOut, vj)
	}
	return wOut, mOut, vOut
}

func TestAdamStep(t *testing.T) {
	params := map[string]*AdamParams{
		"adam":  {Beta1: 0.9, Beta2: 0.999, WeightDecay: 0.01, Decay: 1, StepSize: 1e-3 / (1 - 0.9), InvSqrtBC2: float32(1 / math.Sqrt(1-0.999)), Eps: 1e-8},
		"adamw": {Beta1: 0.8, Beta2: 0.99, Decay: 1 - 1e-3*0.1, StepSize: 0.01, InvSqrtBC2: 1.5, Eps: 1e-6},
	}
	rng := rand.New(rand.NewPCG(17, 18))
	for name, p := range params {
		for _, step := range []func(w, g, m, v []float32, p *AdamParams){AdamStep, adamStepGo} {
			for _, n := range vecLengths() {
				w, g := randMatrix(rng, 1, n, 0), randMatrix(rng, 1, n, 0)
				m, v := randMatrix(rng, 1, n, 0), randMatrix(rng, 1, n, 0)
				for j := range v {
					v[j] = v[j] * v[j] // second moments are not negative
				}
				gWas := slices.Clone(g)
				wantW, wantM, wantV := adamRef(w, g, m, v, p)
				step(w, g, m, v, p)
				if !slices.Equal(g, gWas) {
					t.Fatalf("%s, length %d: gradient modified", name, n)
				}
				for j := range n {
					for _, c := range []struct {
						what string
						got  float32
						want float64
					}{{"w", w[j], wantW[j]}, {"m", m[j], wantM[j]}, {"v", v[j], wantV[j]}} {
						if math.Abs(float64(c.got)-c.want) > 1e-5*math.Max(1, math.Abs(c.want)) {
							t.Fatalf("%s, length %d: %s[%d] = %v, want %v", name, n, c.what, j, c.got, c.want)
						}
					}
				}
			}
		}
	}
}

func TestAdamStepLengthMismatchPanics(t *testing.T) {
	defer func() {
		if msg := fmt.Sprint(recover()); !strings.Contains(msg, "lengths 4, 4, 3 and 4") {
			t.Fatalf("panic %q, want one naming the lengths", msg)
		}
	}()
	AdamStep(make([]float32, 4), make([]float32, 4), make([]float32, 3), make([]float32, 4), &AdamParams{})
}
