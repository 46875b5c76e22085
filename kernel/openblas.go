//go:build cgo && openblas

package kernel

import "github.com/mlenv/mlenv/kernel/internal/openblas"

// blasImpls returns OpenBLAS's cblas_sgemm (Debian's libopenblas-dev),
// preferred over the Go and assembly kernels when linked in.
func blasImpls() []impl {
	return []impl{{name: "openblas", run: runOpenBLAS}}
}

// runOpenBLAS computes g with OpenBLAS on threads threads. A single row
// or column of C goes to gemv, which was 3-4 times faster than OpenBLAS
// on the MLP's 512->1 layer (bench/kernel/README.md). Problems whose sizes
// or strides overflow OpenBLAS's 32-bit int run on the best built-in
// implementation.
func runOpenBLAS(g *gemmCall, threads int) {
	if g.m == 1 || g.n == 1 {
		gemv(g)
		return
	}
	if !openblas.Fits(g.m, g.n, g.k, g.lda, g.ldb, g.ldc) {
		builtinImpls()[0].run(g, threads)
		return
	}
	openblas.Sgemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, g.a, g.lda, g.b, g.ldb, g.beta, g.c, g.ldc, threads)
}
