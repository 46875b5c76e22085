package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// vecImpls lists the dot/axpy pairs to check: the active one and the
// portable Go one (the same on processors without AVX2).
var vecImpls = []struct {
	name string
	dot  func(x, y []float32) float32
	axpy func(alpha float32, x, y []float32)
}{
	{"active", Dot, Axpy},
	{"go", dotGo, axpyGo},
}

// vecLengths covers empty vectors, every tail length below the 8- and
// 32-wide assembly blocks and a few longer vectors.
func vecLengths() []int {
	var ns []int
	for n := range 70 {
		ns = append(ns, n)
	}
	return append(ns, 255, 256, 1001)
}

func TestDot(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, im := range vecImpls {
		for _, n := range vecLengths() {
			x, y := randMatrix(rng, 1, n, 0), randMatrix(rng, 1, n, 0)
			var want, mag float64
			for i := range x {
				want += float64(x[i]) * float64(y[i])
				mag += math.Abs(float64(x[i]) * float64(y[i]))
			}
			got := im.dot(x, y)
			if diff := math.Abs(float64(got) - want); diff > float64(n+1)*1.2e-7*mag {
				t.Fatalf("%s: dot of length %d = %v, want %v", im.name, n, got, want)
			}
		}
	}
}

func TestAxpy(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, im := range vecImpls {
		for _, n := range vecLengths() {
			x := randMatrix(rng, 1, n, 0)
			y := randMatrix(rng, 1, n+1, 0) // y[n] must stay untouched
			want := slices.Clone(y)
			for i := range n {
				want[i] = float32(float64(want[i]) + -1.5*float64(x[i]))
			}
			im.axpy(-1.5, x, y[:n])
			for i := range y {
				if math.Abs(float64(y[i]-want[i])) > 1e-6 {
					t.Fatalf("%s: axpy of length %d: y[%d] = %v, want %v", im.name, n, i, y[i], want[i])
				}
			}
		}
	}
}

func TestVecLengthMismatchPanics(t *testing.T) {
	for _, call := range []func(){
		func() { Dot(make([]float32, 3), make([]float32, 4)) },
		func() { Axpy(1, make([]float32, 9), make([]float32, 8)) },
		func() { AddReLU(make([]float32, 9), make([]float32, 8)) },
		func() { ReLU(make([]float32, 9), make([]float32, 8)) },
		func() { MaxPool2(make([]float32, 4), make([]float32, 8), make([]float32, 7)) },
		func() { ReLUGrad(make([]float32, 8), make([]float32, 8), make([]float32, 7)) },
	} {
		func() {
			defer func() {
				if msg := fmt.Sprint(recover()); !strings.Contains(msg, "lengths") {
					t.Fatalf("panic %q, want one naming the lengths", msg)
				}
			}()
			call()
		}()
	}
}

// activationInputs returns n values mixing positives, negatives, zeros
// of both signs and NaNs at indexes 5 and 13 (in both halves of a block
// of 16) where n allows.
func activationInputs(rng *rand.Rand, n int) []float32 {
	x := randMatrix(rng, 1, n, 0)
	for i := range x {
		switch i % 7 {
		case 2:
			x[i] = 0
		case 4:
			x[i] = float32(math.Copysign(0, -1))
		}
	}
	for _, i := range []int{5, 13} {
		if i < n {
			x[i] = float32(math.NaN())
		}
	}
	return x
}

func TestAddReLU(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, addReLU := range []func(x, bias []float32){AddReLU, addReLUGo} {
		for _, n := range vecLengths() {
			x, bias := activationInputs(rng, n+1), randMatrix(rng, 1, n, 0)
			orig := slices.Clone(x)
			addReLU(x[:n], bias)
			for i := range n {
				want := max(orig[i]+bias[i], 0)
				if got := x[i]; got != want && !(math.IsNaN(float64(got)) && math.IsNaN(float64(want))) {
					t.Fatalf("length %d: x[%d] = %v, want max(%v+%v, 0) = %v", n, i, got, orig[i], bias[i], want)
				}
			}
			if x[n] != orig[n] && !math.IsNaN(float64(x[n])) {
				t.Fatalf("length %d: element past the end changed", n)
			}
		}
	}
}

// TestReLU checks ReLU into another slice and in place, NaNs and zeros
// of both signs included.
func TestReLU(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, relu := range []func(dst, x []float32){ReLU, reluGo} {
		for _, n := range vecLengths() {
			x := activationInputs(rng, n)
			dst := randMatrix(rng, 1, n+1, 0)
			last := dst[n]
			relu(dst[:n], x)
			inPlace := slices.Clone(x)
			relu(inPlace, inPlace)
			for i, v := range x {
				want := max(v, 0)
				for _, got := range []float32{dst[i], inPlace[i]} {
					if got != want && !(math.IsNaN(float64(got)) && math.IsNaN(float64(want))) {
						t.Fatalf("length %d: relu(%v) = %v, want %v", n, v, got, want)
					}
				}
			}
			if dst[n] != last {
				t.Fatalf("length %d: element past the end changed", n)
			}
		}
	}
}

// TestMaxPool2 checks pooled rows against the four-way maximum, with
// NaNs in each position of a window and zeros of both signs.
func TestMaxPool2(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	for _, maxPool2 := range []func(out, r0, r1 []float32){MaxPool2, maxPool2Go} {
		for _, n := range vecLengths() {
			r0, r1 := activationInputs(rng, 2*n+1), randMatrix(rng, 1, 2*n, 0)
			// activationInputs put NaNs at odd places of r0; add some at
			// even places of r0 and at both in r1.
			for _, i := range []int{2, 19, 36} {
				if i < len(r1) {
					r1[i] = float32(math.NaN())
				}
				if i+22 < len(r0) {
					r0[i+22] = float32(math.NaN())
				}
			}
			out := randMatrix(rng, 1, n+1, 0)
			last := out[n]
			maxPool2(out[:n], r0, r1)
			for j := range n {
				want := max(max(r0[2*j], r0[2*j+1]), max(r1[2*j], r1[2*j+1]))
				if got := out[j]; got != want && !(math.IsNaN(float64(got)) && math.IsNaN(float64(want))) {
					t.Fatalf("length %d: out[%d] = %v, want max(%v, %v, %v, %v) = %v", n, j, got, r0[2*j], r0[2*j+1], r1[2*j], r1[2*j+1], want)
				}
			}
			if out[n] != last {
				t.Fatalf("length %d: element past the end changed", n)
			}
		}
	}
}

func TestReLUGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, reluGrad := range []func(dst, g, y []float32){ReLUGrad, reluGradGo} {
		for _, n := range vecLengths() {
			g, y := randMatrix(rng, 1, n, 0), activationInputs(rng, n)
			dst := randMatrix(rng, 1, n+1, 0)
			last := dst[n]
			reluGrad(dst[:n], g, y)
			for i := range n {
				want := float32(0)
				if y[i] > 0 {
					want = g[i]
				}
				if dst[i] != want {
					t.Fatalf("length %d: dst[%d] = %v, want %v (g %v, y %v)", n, i, dst[i], want, g[i], y[i])
				}
			}
			if dst[n] != last {
				t.Fatalf("length %d: element past the end changed", n)
			}
		}
	}
}
