// Package kernel holds mlenv's low-level float32 compute kernels (GEMM and
// friends) behind one portable API. The tensor package calls these; nothing
// here knows about tensors, shapes or autograd.
//
// Several implementations of Sgemm may be compiled in: OpenBLAS through cgo
// (build tag "openblas"), AVX-512 and AVX2 assembly microkernels on amd64,
// and a portable Go kernel. At start-up the preferred one becomes active:
// OpenBLAS when linked in, else the widest assembly the processor runs,
// else Go. Name reports it and Use switches to another.
package kernel

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/mlenv/mlenv/buildinfo"
)

// gemmCall holds the validated arguments of one Sgemm call. Its sizes are
// positive and alpha is not zero.
type gemmCall struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
}

// impl is one implementation of Sgemm. run computes the GEMM described by
// g on at most threads goroutines (or native threads).
type impl struct {
	name string
	run  func(g *gemmCall, threads int)
}

var (
	// impls lists the implementations this binary and processor support,
	// preferred first: OpenBLAS when built in, then assembly, then Go.
	impls  = append(blasImpls(), builtinImpls()...)
	active atomic.Pointer[impl]

	// threads is the SetThreads value; 0 means runtime.GOMAXPROCS(0).
	threads atomic.Int64
)

// builtinImpls returns the implementations compiled from this module's
// own code, fastest first; the last is always the portable Go one.
func builtinImpls() []impl {
	return append(asmImpls(), genericImpl)
}

// selectMu serialises Use so that the active implementation and its
// buildinfo record agree.
var selectMu sync.Mutex

func init() {
	if err := Use(impls[0].name); err != nil {
		panic(err)
	}
}

// Name returns the name of the active Sgemm implementation: "openblas",
// "avx512", "avx2" or "generic".
func Name() string { return active.Load().name }

// Available returns the names of the Sgemm implementations this binary can
// run on this processor, preferred first.
func Available() []string {
	names := make([]string, len(impls))
	for i, im := range impls {
		names[i] = im.name
	}
	return names
}

// Use makes the implementation called name active for all later Sgemm
// calls and records it with buildinfo.RegisterKernel("gemm", name). It
// returns an error if name is not one of Available. Calls already running
// finish on the implementation they started with.
func Use(name string) error {
	selectMu.Lock()
	defer selectMu.Unlock()
	for i := range impls {
		if impls[i].name == name {
			active.Store(&impls[i])
			buildinfo.RegisterKernel("gemm", name)
			return nil
		}
	}
	return fmt.Errorf("kernel: gemm implementation %q not available (have %v)", name, Available())
}

// SetThreads bounds the number of threads one Sgemm call may use. n < 1
// restores the default, runtime.GOMAXPROCS(0) at the time of each call.
// It is safe to call concurrently with Sgemm.
func SetThreads(n int) {
	threads.Store(int64(max(n, 0)))
}

// Threads returns the number of threads one Sgemm call may use.
func Threads() int {
	if n := threads.Load(); n > 0 {
		return int(n)
	}
	return runtime.GOMAXPROCS(0)
}

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices,
// where op(X) is X or its transpose. op(A) is m×k, op(B) is k×n and C is
// m×n; lda, ldb and ldc are the row strides (leading dimensions) of A, B and
// C as stored. When beta is 0, C need not be initialised (NaNs in C are
// overwritten). Sgemm panics if a size is negative, a stride is smaller than
// its row or a slice is too short for its dimensions.
// C must not overlap A or B. Sgemm may run on several goroutines (at most
// Threads); callers must not touch C concurrently. Calls on disjoint C are
// safe to run concurrently.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kernel: Sgemm with negative size m=%d n=%d k=%d", m, n, k))
	}
	checkMatrix("A", a, lda, transA, m, k)
	checkMatrix("B", b, ldb, transB, k, n)
	checkMatrix("C", c, ldc, false, m, n)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleRows(c, ldc, m, n, beta)
		return
	}
	g := calls.Get().(*gemmCall)
	*g = gemmCall{
		transA: transA, transB: transB,
		m: m, n: n, k: k,
		alpha: alpha, beta: beta,
		a: a, b: b, c: c,
		lda: lda, ldb: ldb, ldc: ldc,
	}
	active.Load().run(g, Threads())
	*g = gemmCall{} // keep no caller's matrices alive
	calls.Put(g)
}

// calls recycles gemmCall records: an implementation's run may keep its
// pointer only until it returns, and without the pool every Sgemm call
// would allocate one (it escapes through impl.run).
var calls = sync.Pool{New: func() any { return new(gemmCall) }}

// checkMatrix panics unless x, stored row-major with stride ld, holds a
// matrix whose op (x or its transpose) is rows×cols.
func checkMatrix(what string, x []float32, ld int, trans bool, rows, cols int) {
	if trans {
		rows, cols = cols, rows
	}
	if ld < max(cols, 1) {
		panic(fmt.Sprintf("kernel: Sgemm: ld%s=%d smaller than row length %d", what, ld, cols))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if need := (rows-1)*ld + cols; len(x) < need {
		panic(fmt.Sprintf("kernel: Sgemm: len(%s)=%d, need %d for %d×%d with stride %d", what, len(x), need, rows, cols, ld))
	}
}

// scaleRows sets the m×n matrix c (stride ldc) to beta*c; beta 0 clears it.
func scaleRows(c []float32, ldc, m, n int, beta float32) {
	if beta == 1 {
		return
	}
	for i := range m {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}
