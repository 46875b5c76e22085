package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mlenv/mlenv/buildinfo"
)

// useImpl makes the implementation called name active for the rest of
// the test and restores the previous one afterwards.
func useImpl(t testing.TB, name string) {
	t.Helper()
	prev := Name()
	if err := Use(name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := Use(prev); err != nil {
			t.Error(err)
		}
	})
}

// useThreads sets SetThreads(n) for the rest of the test.
func useThreads(t testing.TB, n int) {
	prev := threads.Load()
	SetThreads(n)
	t.Cleanup(func() { threads.Store(prev) })
}

// problem is one Sgemm call with its operands stored in padded, strided
// buffers.
type problem struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
}

// sentinel fills the padding after each row of C; Sgemm must never write
// it.
const sentinel = float32(-7777)

// newProblem makes random operands. pad extra columns go between rows of
// every matrix; when nanC is set, C starts as NaN (valid only with beta 0).
func newProblem(rng *rand.Rand, transA, transB bool, m, n, k, pad int, alpha, beta float32, nanC bool) *problem {
	p := &problem{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta}
	aRows, aCols := m, k
	if transA {
		aRows, aCols = k, m
	}
	bRows, bCols := k, n
	if transB {
		bRows, bCols = n, k
	}
	p.a, p.lda = randMatrix(rng, aRows, aCols, pad), max(aCols+pad, 1)
	p.b, p.ldb = randMatrix(rng, bRows, bCols, pad), max(bCols+pad, 1)
	p.c, p.ldc = randMatrix(rng, m+1, n, pad), max(n+pad, 1) // padded last row
	p.c = p.c[:m*p.ldc]
	for i := range m {
		for j := range p.ldc {
			switch {
			case j >= n:
				p.c[i*p.ldc+j] = sentinel
			case nanC:
				p.c[i*p.ldc+j] = float32(math.NaN())
			}
		}
	}
	return p
}

// randMatrix returns rows×cols values in [-1, 1) with stride cols+pad.
// The last row is not padded, so the slice is exactly as long as needed.
func randMatrix(rng *rand.Rand, rows, cols, pad int) []float32 {
	ld := max(cols+pad, 1)
	n := 0
	if rows > 0 {
		n = (rows-1)*ld + cols
	}
	x := make([]float32, n)
	for i := range x {
		x[i] = 2*rng.Float32() - 1
	}
	return x
}

func (p *problem) at(x []float32, ld int, trans bool, i, j int) float64 {
	if trans {
		return float64(x[j*ld+i])
	}
	return float64(x[i*ld+j])
}

// check runs Sgemm on a copy of C and compares it with a float64
// reference, element by element, within the float32 rounding bound of a
// k-term dot product.
func (p *problem) check(t *testing.T) {
	t.Helper()
	c := slices.Clone(p.c)
	Sgemm(p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, c, p.ldc)
	for i := range p.m {
		for j := range p.ldc {
			got := c[i*p.ldc+j]
			if j >= p.n {
				if got != sentinel {
					t.Fatalf("C[%d][%d] (row padding) = %v, was %v", i, j, got, sentinel)
				}
				continue
			}
			var want, mag float64
			for q := range p.k {
				prod := float64(p.alpha) * p.at(p.a, p.lda, p.transA, i, q) * p.at(p.b, p.ldb, p.transB, q, j)
				want += prod
				mag += math.Abs(prod)
			}
			if p.beta != 0 {
				old := float64(p.beta) * float64(p.c[i*p.ldc+j])
				want += old
				mag += math.Abs(old)
			}
			tol := float64(p.k+2)*2.4e-7*mag + 1e-30
			if diff := math.Abs(float64(got) - want); !(diff <= tol) {
				t.Fatalf("C[%d][%d] = %v, want %v (|diff| %.3g > tol %.3g)", i, j, got, want, diff, tol)
			}
		}
	}
}

// shapes covers single elements, sizes below, at and just past every tile
// (4, 6, 12, 16, 32), primes, and sizes that cross the kc, mc and nc cache
// blocks of every implementation.
var shapes = [][3]int{
	{1, 1, 1}, {1, 1, 7}, {2, 3, 1}, {3, 2, 5},
	{4, 4, 4}, {6, 16, 9}, {12, 32, 3}, {13, 33, 17},
	{5, 7, 11}, {11, 31, 29}, {31, 47, 2}, {37, 41, 43},
	{7, 1, 300}, {1, 9, 300}, {64, 64, 64},
	{150, 70, 300}, {97, 130, 520}, {5, 2100, 30},
}

func TestSgemmShapes(t *testing.T) {
	for _, name := range Available() {
		t.Run(name, func(t *testing.T) {
			useImpl(t, name)
			rng := rand.New(rand.NewPCG(1, 2))
			for _, s := range shapes {
				for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
					for _, threads := range []int{1, 3} {
						useThreads(t, threads)
						m, n, k := s[0], s[1], s[2]
						t.Run(fmt.Sprintf("%dx%dx%d/tA=%v/tB=%v/threads=%d", m, n, k, tr[0], tr[1], threads), func(t *testing.T) {
							newProblem(rng, tr[0], tr[1], m, n, k, 0, 1, 0, false).check(t)
							newProblem(rng, tr[0], tr[1], m, n, k, 3, 0.5, -2, false).check(t)
						})
					}
				}
			}
		})
	}
}

func TestSgemmScalars(t *testing.T) {
	cases := []struct {
		name        string
		alpha, beta float32
		nanC        bool
	}{
		{"alpha=1,beta=0,NaN C", 1, 0, true},
		{"alpha=-1.5,beta=0,NaN C", -1.5, 0, true},
		{"alpha=1,beta=1", 1, 1, false},
		{"alpha=2,beta=-1", 2, -1, false},
		{"alpha=0.25,beta=0.5", 0.25, 0.5, false},
		{"alpha=0,beta=3", 0, 3, false},
		{"alpha=0,beta=0,NaN C", 0, 0, true},
	}
	for _, name := range Available() {
		t.Run(name, func(t *testing.T) {
			useImpl(t, name)
			rng := rand.New(rand.NewPCG(3, 4))
			for _, tc := range cases {
				for _, s := range [][3]int{{13, 35, 20}, {150, 70, 300}, {9, 9, 0}} {
					t.Run(fmt.Sprintf("%s/%v", tc.name, s), func(t *testing.T) {
						for _, tr := range [][2]bool{{false, false}, {true, true}} {
							newProblem(rng, tr[0], tr[1], s[0], s[1], s[2], 2, tc.alpha, tc.beta, tc.nanC).check(t)
						}
					})
				}
			}
		})
	}
}

// TestSgemmStrided uses leading dimensions much larger than the rows, so
// reading or writing past a row's end lands on wrong values or sentinels.
// It runs with more threads than pieces of C, as on a large machine.
func TestSgemmStrided(t *testing.T) {
	for _, name := range Available() {
		t.Run(name, func(t *testing.T) {
			useImpl(t, name)
			useThreads(t, 16)
			rng := rand.New(rand.NewPCG(5, 6))
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				newProblem(rng, tr[0], tr[1], 29, 45, 38, 19, 1, 0.5, false).check(t)
				newProblem(rng, tr[0], tr[1], 130, 100, 70, 1, -1, 0, true).check(t)
			}
		})
	}
}

// TestSgemmConcurrent runs many multi-threaded Sgemm calls at once on
// shared A and B and separate C, and compares each with a serial result.
func TestSgemmConcurrent(t *testing.T) {
	for _, name := range Available() {
		t.Run(name, func(t *testing.T) {
			useImpl(t, name)
			useThreads(t, 2)
			rng := rand.New(rand.NewPCG(7, 8))
			const m, n, k = 96, 80, 200
			p := newProblem(rng, false, true, m, n, k, 0, 1, 0, false)
			want := make([]float32, m*n)
			Sgemm(false, true, m, n, k, 1, p.a, p.lda, p.b, p.ldb, 0, want, n)
			var wg sync.WaitGroup
			errs := make(chan string, 8)
			for range 8 {
				wg.Go(func() {
					for range 5 {
						got := make([]float32, m*n)
						Sgemm(false, true, m, n, k, 1, p.a, p.lda, p.b, p.ldb, 0, got, n)
						if !slices.Equal(got, want) {
							errs <- "concurrent result differs from serial one"
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for e := range errs {
				t.Fatal(e)
			}
		})
	}
}

func TestSgemmPanics(t *testing.T) {
	buf := make([]float32, 100)
	cases := []struct {
		name string
		call func()
		msg  string
	}{
		{"short A", func() { Sgemm(false, false, 4, 4, 4, 1, buf[:15], 4, buf, 4, 0, buf, 4) }, "len(A)=15, need 16"},
		{"short transposed A", func() { Sgemm(true, false, 3, 4, 5, 1, buf[:14], 3, buf, 4, 0, buf, 4) }, "len(A)=14, need 15"},
		{"short B", func() { Sgemm(false, true, 4, 5, 3, 1, buf, 3, buf[:10], 3, 0, buf, 5) }, "len(B)=10, need 15"},
		{"short C", func() { Sgemm(false, false, 4, 4, 4, 1, buf, 4, buf, 4, 0, buf[:18], 5) }, "len(C)=18, need 19"},
		{"small lda", func() { Sgemm(false, false, 4, 4, 4, 1, buf, 3, buf, 4, 0, buf, 4) }, "ldA=3 smaller than row length 4"},
		{"small ldc", func() { Sgemm(false, false, 2, 4, 2, 1, buf, 2, buf, 4, 0, buf, 3) }, "ldC=3"},
		{"negative size", func() { Sgemm(false, false, -1, 4, 4, 1, buf, 4, buf, 4, 0, buf, 4) }, "negative size"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil {
					t.Fatal("Sgemm did not panic")
				}
				if msg := fmt.Sprint(r); !strings.Contains(msg, tc.msg) {
					t.Fatalf("panic %q does not mention %q", msg, tc.msg)
				}
			}()
			tc.call()
		})
	}
}

// TestSgemmShortCAcceptsExactLength checks that C's last row needs no
// padding: the bound is (m-1)*ldc+n, not m*ldc.
func TestSgemmShortCAcceptsExactLength(t *testing.T) {
	a := []float32{1, 2, 3, 4}                           // 2×2
	c := []float32{0, 0, -1, 0, 0}                       // 2×2 with ldc 3
	Sgemm(false, false, 2, 2, 2, 1, a, 2, a, 2, 0, c, 3) // A·A
	if want := []float32{7, 10, -1, 15, 22}; !slices.Equal(c, want) {
		t.Fatalf("C = %v, want %v", c, want)
	}
}

func TestUse(t *testing.T) {
	avail := Available()
	if len(avail) == 0 || avail[len(avail)-1] != "generic" {
		t.Fatalf("Available() = %v, want a list ending in generic", avail)
	}
	for _, name := range avail {
		useImpl(t, name)
		if Name() != name {
			t.Fatalf("after Use(%q), Name() = %q", name, Name())
		}
		if !slices.Contains(buildinfo.Read().Kernels, "gemm="+name) {
			t.Fatalf("buildinfo kernels %v lack gemm=%s", buildinfo.Read().Kernels, name)
		}
	}
	if err := Use("no-such-kernel"); err == nil || !strings.Contains(err.Error(), `"no-such-kernel"`) {
		t.Fatalf("Use(unknown) error = %v, want one naming the kernel", err)
	}
}

func TestThreads(t *testing.T) {
	useThreads(t, 3)
	if got := Threads(); got != 3 {
		t.Fatalf("Threads() = %d after SetThreads(3)", got)
	}
	SetThreads(0)
	if got := Threads(); got < 1 {
		t.Fatalf("Threads() = %d after SetThreads(0), want GOMAXPROCS", got)
	}
}

// TestGridCoversC checks that the pieces handed to workers cover every
// element of C exactly once and start on tile boundaries.
func TestGridCoversC(t *testing.T) {
	for _, mk := range []*micro{genericMicro, {mr: 12, nr: 32}, {mr: 6, nr: 16}} {
		for _, s := range [][3]int{{1, 1, 2}, {5, 2100, 2}, {512, 512, 2}, {513, 31, 3}, {40, 40, 16}, {7, 300, 1}} {
			m, n, threads := s[0], s[1], s[2]
			gr := mk.grid(m, n, threads)
			seen := make([]int, m*n)
			for item := range gr.items() {
				i0, i1, j0, j1 := gr.bounds(item)
				if i0%mk.mr != 0 || j0%mk.nr != 0 || i0 >= i1 || j0 >= j1 {
					t.Fatalf("%dx%d tile %dx%d: piece %d = rows [%d,%d) cols [%d,%d)", m, n, mk.mr, mk.nr, item, i0, i1, j0, j1)
				}
				for i := i0; i < i1; i++ {
					for j := j0; j < j1; j++ {
						seen[i*n+j]++
					}
				}
			}
			for e, cnt := range seen {
				if cnt != 1 {
					t.Fatalf("%dx%d with %d threads: C[%d][%d] in %d pieces", m, n, threads, e/n, e%n, cnt)
				}
			}
		}
	}
}
