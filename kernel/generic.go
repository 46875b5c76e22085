package kernel

// genericMicro is the portable Go microkernel: a 2×4 tile of C held in 8
// scalar accumulators, small enough that the Go compiler keeps the tile
// and its operands in registers without spilling.
var genericMicro = &micro{
	name: "generic",
	mr:   2, nr: 4,
	kc: 256, mc: 128, nc: 1024,
	kern: kernGeneric,
}

var genericImpl = genericMicro.impl()

// kernGeneric computes the 2×4 tile C = beta*C + alpha*A·Bp (see
// micro.kern).
func kernGeneric(k int, a []float32, rsA, csA int, bp, c []float32, ldc int, alpha, beta float32) {
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	bp = bp[:4*k]
	for p := range k {
		a0, a1 := a[p*csA], a[p*csA+rsA]
		b := bp[4*p : 4*p+4 : 4*p+4]
		b0, b1, b2, b3 := b[0], b[1], b[2], b[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
	}
	storeRow4(c[0*ldc:], alpha, beta, c00, c01, c02, c03)
	storeRow4(c[1*ldc:], alpha, beta, c10, c11, c12, c13)
}

// storeRow4 sets row[0:4] = beta*row[0:4] + alpha*v; beta 0 overwrites.
func storeRow4(row []float32, alpha, beta float32, v0, v1, v2, v3 float32) {
	row = row[:4:4]
	v0, v1, v2, v3 = alpha*v0, alpha*v1, alpha*v2, alpha*v3
	if beta != 0 {
		v0 += beta * row[0]
		v1 += beta * row[1]
		v2 += beta * row[2]
		v3 += beta * row[3]
	}
	row[0], row[1], row[2], row[3] = v0, v1, v2, v3
}
