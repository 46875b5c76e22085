package kernel

import "sync"

// vecPool holds scratch vectors for gemv.
var vecPool sync.Pool // of *[]float32

// gemv computes g when C is a single row or column (m == 1 or n == 1),
// where packing would cost as much as the arithmetic: each element of C
// is one dot product, or C accumulates one Axpy per step of k. It runs on
// the calling goroutine; these products are bound by memory bandwidth.
func gemv(g *gemmCall) {
	if g.n == 1 {
		// C is m×1; x is op(B)'s only column.
		x, free := vector(g.b, g.k, !g.transB && g.ldb != 1, g.ldb)
		defer free()
		if g.transA { // op(A)[i][p] = a[p*lda+i]: sum columns of op(A)
			y, freeY := scratch(g.m)
			defer freeY()
			clear(y)
			for p, xp := range x {
				axpy(xp, g.a[p*g.lda:][:g.m], y)
			}
			for i, v := range y {
				setScaled(g, i*g.ldc, v)
			}
			return
		}
		for i := range g.m {
			setScaled(g, i*g.ldc, dot(g.a[i*g.lda:][:g.k], x))
		}
		return
	}
	// C is 1×n; x is op(A)'s only row.
	x, free := vector(g.a, g.k, g.transA && g.lda != 1, g.lda)
	defer free()
	if g.transB { // op(B)[p][j] = b[j*ldb+p]
		for j := range g.n {
			setScaled(g, j, dot(x, g.b[j*g.ldb:][:g.k]))
		}
		return
	}
	row := g.c[:g.n]
	scaleRows(row, g.n, 1, g.n, g.beta)
	for p, xp := range x {
		axpy(g.alpha*xp, g.b[p*g.ldb:][:g.n], row)
	}
}

// setScaled sets c[off] = alpha*v + beta*c[off]; beta 0 overwrites.
func setScaled(g *gemmCall, off int, v float32) {
	v *= g.alpha
	if g.beta != 0 {
		v += g.beta * g.c[off]
	}
	g.c[off] = v
}

// vector returns the k values x[0], x[ld], ..., gathered into scratch
// memory when strided is set and x[:k] itself otherwise, and a function
// that releases the scratch memory.
func vector(x []float32, k int, strided bool, ld int) ([]float32, func()) {
	if !strided {
		return x[:k], func() {}
	}
	v, free := scratch(k)
	for p := range v {
		v[p] = x[p*ld]
	}
	return v, free
}

// scratch returns a vector of length n (with arbitrary contents) and a
// function that returns it to vecPool.
func scratch(n int) ([]float32, func()) {
	p, _ := vecPool.Get().(*[]float32)
	if p == nil {
		p = new([]float32)
	}
	*p = grow(*p, n)
	return *p, func() { vecPool.Put(p) }
}
