package kernel

// genericMicro is the portable Go microkernel: a 4×4 tile of C held in 16
// scalar accumulators, which the Go compiler keeps in registers on the
// common 64-bit targets.
var genericMicro = &micro{
	name: "generic",
	mr:   4, nr: 4,
	kc: 256, mc: 128, nc: 1024,
	kern: kernGeneric,
}

var genericImpl = genericMicro.impl()

// kernGeneric computes the 4×4 tile C = beta*C + Ap·Bp (see micro.kern).
func kernGeneric(k int, ap, bp, c []float32, ldc int, beta float32) {
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	var c20, c21, c22, c23 float32
	var c30, c31, c32, c33 float32
	ap, bp = ap[:4*k], bp[:4*k]
	for p := 0; p+4 <= len(ap); p += 4 {
		a := ap[p : p+4 : p+4]
		b := bp[p : p+4 : p+4]
		a0, a1, a2, a3 := a[0], a[1], a[2], a[3]
		b0, b1, b2, b3 := b[0], b[1], b[2], b[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	storeRow4(c[0*ldc:], beta, c00, c01, c02, c03)
	storeRow4(c[1*ldc:], beta, c10, c11, c12, c13)
	storeRow4(c[2*ldc:], beta, c20, c21, c22, c23)
	storeRow4(c[3*ldc:], beta, c30, c31, c32, c33)
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
