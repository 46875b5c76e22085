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
		kc: 256, mc: 144, nc: 2048,
		kern: sgemmKernelAVX512,
	}
	avx2Micro = &micro{
		name: "avx2",
		mr:   6, nr: 16,
		kc: 256, mc: 144, nc: 2048,
		kern: sgemmKernelAVX2,
	}
)

// asmImpls returns the assembly implementations this processor runs,
// widest vectors first.
func asmImpls() []impl {
	var out []impl
	if cpu.X86.HasAVX512F {
		out = append(out, avx512Micro.impl())
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		out = append(out, avx2Micro.impl())
	}
	return out
}

// sgemmKernelAVX512 computes a 12×32 tile; see micro.kern.
//
//go:noescape
func sgemmKernelAVX512(k int, ap, bp, c []float32, ldc int, beta float32)

// sgemmKernelAVX2 computes a 6×16 tile; see micro.kern.
//
//go:noescape
func sgemmKernelAVX2(k int, ap, bp, c []float32, ldc int, beta float32)
