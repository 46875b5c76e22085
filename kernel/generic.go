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

// kernGeneric computes the 2×4 tile C = beta*C + Ap·Bp (see micro.kern).
func kernGeneric(k int, ap, bp, c []float32, ldc int, beta float32) {
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	ap, bp = ap[:2*k], bp[:4*k]
	for p := range k {
		a := ap[2*p : 2*p+2 : 2*p+2]
		b := bp[4*p : 4*p+4 : 4*p+4]
		a0, a1 := a[0], a[1]
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
	storeRow4(c[0*ldc:], beta, c00, c01, c02, c03)
	storeRow4(c[1*ldc:], beta, c10, c11, c12, c13)
}

// storeRow4 sets row[0:4] = beta*row[0:4] + v; beta 0 overwrites.
func storeRow4(row []float32, beta float32, v0, v1, v2, v3 float32) {
	row = row[:4:4]
	if beta != 0 {
		v0 += beta * row[0]
		v1 += beta * row[1]
		v2 += beta * row[2]
		v3 += beta * row[3]
	}
	row[0], row[1], row[2], row[3] = v0, v1, v2, v3
}
