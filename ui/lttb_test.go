package ui

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// makePoints returns n points with X = index and Y from f.
func makePoints(n int, f func(i int) float64) []Point {
	pts := make([]Point, n)
	for i := range pts {
		pts[i] = Point{float64(i), f(i)}
	}
	return pts
}

func TestLTTBKeepsEndsAndSize(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pts := makePoints(100_003, func(int) float64 { return rng.NormFloat64() })
	for _, n := range []int{3, 4, 10, 999, 1000, 50_000} {
		got := LTTB(pts, n)
		if len(got) != n {
			t.Fatalf("n=%d: got %d points", n, len(got))
		}
		if got[0] != pts[0] || got[n-1] != pts[len(pts)-1] {
			t.Errorf("n=%d: first/last = %v/%v, want %v/%v", n, got[0], got[n-1], pts[0], pts[len(pts)-1])
		}
		if !slices.IsSortedFunc(got, func(a, b Point) int { return int(a.X - b.X) }) {
			t.Errorf("n=%d: output not ordered by X", n)
		}
		for i := 1; i < len(got); i++ {
			if got[i].X == got[i-1].X {
				t.Fatalf("n=%d: point %v chosen twice", n, got[i])
			}
		}
	}
}

func TestLTTBShortInputUnchanged(t *testing.T) {
	pts := makePoints(5, func(i int) float64 { return float64(i * i) })
	for _, n := range []int{2, 5, 6, 100} {
		if got := LTTB(pts, n); !slices.Equal(got, pts) {
			t.Errorf("n=%d: got %v, want the input", n, got)
		}
	}
	if got := LTTB(nil, 10); len(got) != 0 {
		t.Errorf("empty input: got %v", got)
	}
}

func TestLTTBKeepsSpikes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 1_000_000
	spikes := map[int]float64{123_457: 50, 500_001: -40, 987_654: 35}
	pts := makePoints(n, func(i int) float64 {
		if v, ok := spikes[i]; ok {
			return v
		}
		return math.Sin(float64(i)/50_000) + 0.01*rng.NormFloat64()
	})
	got := LTTB(pts, 1000)
	for i, v := range spikes {
		if !slices.Contains(got, Point{float64(i), v}) {
			t.Errorf("spike %g at %d lost", v, i)
		}
	}
	// The shape survives: the extremes of the smooth part are near ±1.
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, p := range got {
		if _, spike := spikes[int(p.X)]; !spike {
			lo, hi = min(lo, p.Y), max(hi, p.Y)
		}
	}
	if lo > -0.95 || hi < 0.95 {
		t.Errorf("sine range after downsampling = [%g, %g], want about [-1, 1]", lo, hi)
	}
}

func TestLTTBLineStaysOnLine(t *testing.T) {
	pts := makePoints(10_000, func(i int) float64 { return 3*float64(i) + 1 })
	for _, p := range LTTB(pts, 100) {
		if p.Y != 3*p.X+1 {
			t.Fatalf("point %v is not on the input line", p)
		}
	}
}
