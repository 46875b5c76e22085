// Package kernel holds mlenv's low-level float32 compute kernels (GEMM and
// friends) behind one portable API. The tensor package calls these; nothing
// here knows about tensors, shapes or autograd.
package kernel

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices,
// where op(X) is X or its transpose. op(A) is m×k, op(B) is k×n and C is
// m×n; lda, ldb and ldc are the row strides (leading dimensions) of A, B and
// C as stored. When beta is 0, C need not be initialised (NaNs in C are
// overwritten). Sgemm panics if a slice is too short for its dimensions.
// It may run on several goroutines; callers must not touch C concurrently.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
		} else if beta != 1 {
			for j := range row {
				row[j] *= beta
			}
		}
		for p := 0; p < k; p++ {
			var av float32
			if transA {
				av = a[p*lda+i]
			} else {
				av = a[i*lda+p]
			}
			av *= alpha
			if av == 0 {
				continue
			}
			for j := 0; j < n; j++ {
				var bv float32
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				row[j] += av * bv
			}
		}
	}
}
