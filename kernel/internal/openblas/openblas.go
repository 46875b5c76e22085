//go:build cgo && openblas

package openblas

// #cgo LDFLAGS: -lopenblas
// #include <cblas.h>
// void openblas_set_num_threads(int num_threads);
import "C"

import (
	"math"
	"sync"
)

// threads remembers the thread count last given to OpenBLAS, whose setting
// is process-wide, so that it is changed only when the caller's changes.
var threads struct {
	sync.Mutex
	n int
}

// Fits reports whether sizes and strides all fit OpenBLAS's 32-bit int.
func Fits(m, n, k, lda, ldb, ldc int) bool {
	return max(m, n, k, lda, ldb, ldc) <= math.MaxInt32
}

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices on
// nthreads OpenBLAS threads, with kernel.Sgemm's argument conventions. The
// caller has checked the arguments: sizes positive, slices long enough,
// and Fits true. It is safe for concurrent use.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, nthreads int) {
	threads.Lock()
	if threads.n != nthreads {
		C.openblas_set_num_threads(C.int(nthreads))
		threads.n = nthreads
	}
	threads.Unlock()
	C.cblas_sgemm(C.CblasRowMajor, trans(transA), trans(transB),
		C.int(m), C.int(n), C.int(k), C.float(alpha),
		(*C.float)(&a[0]), C.int(lda), (*C.float)(&b[0]), C.int(ldb),
		C.float(beta), (*C.float)(&c[0]), C.int(ldc))
}

func trans(t bool) C.enum_CBLAS_TRANSPOSE {
	if t {
		return C.CblasTrans
	}
	return C.CblasNoTrans
}
