//go:build amd64 && !purego

package kernel

import "golang.org/x/sys/cpu"

//go:generate go run ./internal/asmgen -out sgemm_amd64.s

// avx512Micro and avx2Micro run the generated assembly microkernels in
// sgemm_amd64.s; mr and nr must match the tiles generated there.
var (
	avx512Micro = &micro{
		name: "avx512",
		mr:   12, nr: 32,
		kc: 512, mc: 96, nc: 2048,
		kern: sgemmKernelAVX512,
	}
	avx2Micro = &micro{
		name: "avx2",
		mr:   6, nr: 16,
		kc: 512, mc: 96, nc: 2048,
		kern: sgemmKernelAVX2,
	}
)

// hasAVX2 reports whether the processor runs the AVX2 and FMA3 kernels.
var hasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// The vector primitives behind Dot, Axpy, AddReLU, ReLU, MaxPool2,
// ReLUGrad, AdamStep and gemv.
var (
	dot      = pick(dotAVX2, dotGo)
	axpy     = pick(axpyAVX2, axpyGo)
	addReLU  = pick(addReLUAVX2, addReLUGo)
	relu     = pick(reluAVX2, reluGo)
	maxPool2 = pick(maxPool2AVX2, maxPool2Go)
	reluGrad = pick(reluGradAVX2, reluGradGo)
	adamStep = pick(adamStepAVX2, adamStepGo)

	// transpose8 is packPanel's fast path for transposed panels; nil
	// without AVX2.
	transpose8 = pick(transpose8AVX2, nil)
)

// pick returns fast if the processor runs the AVX2 kernels, else slow.
func pick[F any](fast, slow F) F {
	if hasAVX2 {
		return fast
	}
	return slow
}

// dotAVX2 is dotGo with the bulk of the vectors in assembly.
func dotAVX2(x, y []float32) float32 {
	n := len(x) &^ 7
	s := dotKernelAVX2(x[:n], y[:n])
	return s + dotGo(x[n:], y[n:len(x)])
}

// axpyAVX2 is axpyGo with the bulk of the vectors in assembly.
func axpyAVX2(alpha float32, x, y []float32) {
	n := len(x) &^ 7
	axpyKernelAVX2(alpha, x[:n], y[:n])
	axpyGo(alpha, x[n:], y[n:len(x)])
}

// addReLUAVX2 is addReLUGo with the bulk of the vectors in assembly.
func addReLUAVX2(x, bias []float32) {
	n := len(x) &^ 7
	addReLUKernelAVX2(x[:n], bias[:n])
	addReLUGo(x[n:], bias[n:len(x)])
}

// reluAVX2 is reluGo with the bulk of the vectors in assembly.
func reluAVX2(dst, x []float32) {
	n := len(dst) &^ 7
	reluKernelAVX2(dst[:n], x[:n])
	reluGo(dst[n:], x[n:len(dst)])
}

// maxPool2AVX2 is maxPool2Go with the bulk of the row in assembly.
func maxPool2AVX2(out, r0, r1 []float32) {
	n := len(out) &^ 7
	maxPool2KernelAVX2(out[:n], r0[:2*n], r1[:2*n])
	maxPool2Go(out[n:], r0[2*n:], r1[2*n:])
}

// reluGradAVX2 is reluGradGo with the bulk of the vectors in assembly.
func reluGradAVX2(dst, g, y []float32) {
	n := len(dst) &^ 7
	reluGradKernelAVX2(dst[:n], g[:n], y[:n])
	reluGradGo(dst[n:], g[n:len(dst)], y[n:len(dst)])
}

// adamStepAVX2 is adamStepGo with the bulk of the vectors in assembly.
func adamStepAVX2(w, g, m, v []float32, p *AdamParams) {
	n := len(w) &^ 7
	adamStepKernelAVX2(w[:n], g[:n], m[:n], v[:n], p)
	adamStepGo(w[n:], g[n:len(w)], m[n:len(w)], v[n:len(w)], p)
}

// transpose8AVX2 writes the transpose of the 8×cols block of src (rows
// lds apart) into dst: cols rows of 8 values, ldd apart. cols is a
// multiple of 8.
func transpose8AVX2(dst []float32, ldd int, src []float32, lds, cols int) {
	if cols == 0 {
		return
	}
	_ = src[7*lds+cols-1] // bounds, which the assembly does not check
	_ = dst[(cols-1)*ldd+7]
	transpose8KernelAVX2(dst, ldd, src, lds, cols/8)
}

// asmImpls returns the assembly implementations this processor runs,
// widest vectors first.
func asmImpls() []impl {
	var out []impl
	if cpu.X86.HasAVX512F {
		out = append(out, avx512Micro.impl())
	}
	if hasAVX2 {
		out = append(out, avx2Micro.impl())
	}
	return out
}

// sgemmKernelAVX512 computes a 12×32 tile; see micro.kern.
//
//go:noescape
func sgemmKernelAVX512(k int, a []float32, rsA, csA int, bp, c []float32, ldc int, alpha, beta float32)

// sgemmKernelAVX2 computes a 6×16 tile; see micro.kern.
//
//go:noescape
func sgemmKernelAVX2(k int, a []float32, rsA, csA int, bp, c []float32, ldc int, alpha, beta float32)

// dotKernelAVX2 returns the dot product of x and y[:len(x)]; len(x) is a
// multiple of 8.
//
//go:noescape
func dotKernelAVX2(x, y []float32) float32

// axpyKernelAVX2 adds alpha*x to y[:len(x)]; len(x) is a multiple of 8.
//
//go:noescape
func axpyKernelAVX2(alpha float32, x, y []float32)

// addReLUKernelAVX2 sets x[i] = max(x[i]+bias[i], 0); len(x) is a
// multiple of 8.
//
//go:noescape
func addReLUKernelAVX2(x, bias []float32)

// reluKernelAVX2 sets dst[i] = max(x[i], 0); len(dst) is a multiple of
// 8.
//
//go:noescape
func reluKernelAVX2(dst, x []float32)

// maxPool2KernelAVX2 is MaxPool2 for len(out) a multiple of 8.
//
//go:noescape
func maxPool2KernelAVX2(out, r0, r1 []float32)

// reluGradKernelAVX2 sets dst[i] = g[i] if y[i] > 0, else 0; len(dst) is
// a multiple of 8.
//
//go:noescape
func reluGradKernelAVX2(dst, g, y []float32)

// adamStepKernelAVX2 applies AdamStep to len(w) values, a multiple of 8.
//
//go:noescape
func adamStepKernelAVX2(w, g, m, v []float32, p *AdamParams)

// transpose8KernelAVX2 transposes an 8×8n block of src into dst, 8×8 at a
// time; see transpose8AVX2.
//
//go:noescape
func transpose8KernelAVX2(dst []float32, ldd int, src []float32, lds, n int)
