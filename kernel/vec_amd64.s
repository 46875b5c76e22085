//go:build amd64 && !purego

#include "textflag.h"

// func dotKernelAVX2(x, y []float32) float32
// len(x) is a multiple of 8 and len(y) >= len(x). Four accumulators hide
// the latency of the fused multiply-adds over blocks of 32 values.
TEXT ·dotKernelAVX2(SB), NOSPLIT, $0-52
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	MOVQ y_base+24(FP), DI
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
loop32:
	CMPQ CX, $32
	JLT loop8
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP loop32
loop8:
	CMPQ CX, $8
	JLT reduce
	VMOVUPS (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP loop8
reduce:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VZEROUPPER
	MOVSS X0, ret+48(FP)
	RET

// func axpyKernelAVX2(alpha float32, x, y []float32)
// len(x) is a multiple of 8 and len(y) >= len(x).
TEXT ·axpyKernelAVX2(SB), NOSPLIT, $0-56
	VBROADCASTSS alpha+0(FP), Y15
	MOVQ x_base+8(FP), SI
	MOVQ x_len+16(FP), CX
	MOVQ y_base+32(FP), DI
loop32:
	CMPQ CX, $32
	JLT loop8
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VFMADD231PS (SI), Y15, Y0
	VFMADD231PS 32(SI), Y15, Y1
	VFMADD231PS 64(SI), Y15, Y2
	VFMADD231PS 96(SI), Y15, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP loop32
loop8:
	CMPQ CX, $8
	JLT done
	VMOVUPS (DI), Y0
	VFMADD231PS (SI), Y15, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP loop8
done:
	VZEROUPPER
	RET

// func addReLUKernelAVX2(x, bias []float32)
// x[i] = max(x[i]+bias[i], 0) for len(x), a multiple of 8; len(bias) >=
// len(x). A NaN sum stays NaN.
TEXT ·addReLUKernelAVX2(SB), NOSPLIT, $0-48
	MOVQ x_base+0(FP), DI
	MOVQ x_len+8(FP), CX
	MOVQ bias_base+24(FP), SI
	VXORPS Y15, Y15, Y15
loop16:
	CMPQ CX, $16
	JLT tail8
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VADDPS (SI), Y0, Y0
	VADDPS 32(SI), Y1, Y1
	VMAXPS Y0, Y15, Y0
	VMAXPS Y1, Y15, Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP loop16
tail8:
	CMPQ CX, $8
	JLT done
	VMOVUPS (DI), Y0
	VADDPS (SI), Y0, Y0
	VMAXPS Y0, Y15, Y0
	VMOVUPS Y0, (DI)
done:
	VZEROUPPER
	RET

// func reluGradKernelAVX2(dst, g, y []float32)
// dst[i] = g[i] where y[i] > 0 and 0 elsewhere, for len(dst), a multiple
// of 8; g and y are at least as long.
TEXT ·reluGradKernelAVX2(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ g_base+24(FP), SI
	MOVQ y_base+48(FP), DX
	VXORPS Y15, Y15, Y15
loop:
	CMPQ CX, $8
	JLT done
	VMOVUPS (DX), Y0
	VCMPPS $0x11, Y0, Y15, Y0
	VANDPS (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, DX
	SUBQ $8, CX
	JMP loop
done:
	VZEROUPPER
	RET

// func adamStepKernelAVX2(w, g, m, v []float32, p *AdamParams)
// One Adam update over len(w), a multiple of 8; see AdamStep. The other
// slices are at least as long. p's fields are float32s in declaration
// order: Beta1, Beta2, WeightDecay, Decay, StepSize, InvSqrtBC2, Eps.
TEXT ·adamStepKernelAVX2(SB), NOSPLIT, $0-104
	MOVQ w_base+0(FP), DI
	MOVQ w_len+8(FP), CX
	MOVQ g_base+24(FP), SI
	MOVQ m_base+48(FP), R8
	MOVQ v_base+72(FP), R9
	MOVQ p+96(FP), AX
	VBROADCASTSS 0(AX), Y15 // Beta1
	VBROADCASTSS 4(AX), Y13 // Beta2
	VBROADCASTSS 8(AX), Y11 // WeightDecay
	VBROADCASTSS 12(AX), Y10 // Decay
	VBROADCASTSS 16(AX), Y9 // StepSize
	VBROADCASTSS 20(AX), Y8 // InvSqrtBC2
	VBROADCASTSS 24(AX), Y7 // Eps
	MOVL $0x3f800000, BX
	VMOVD BX, X0
	VBROADCASTSS X0, Y0
	VSUBPS Y15, Y0, Y14 // 1-Beta1
	VSUBPS Y13, Y0, Y12 // 1-Beta2
loop:
	CMPQ CX, $8
	JLT done
	VMOVUPS (DI), Y0
	VMOVUPS (SI), Y1
	VFMADD231PS Y11, Y0, Y1
	VMULPS (R8), Y15, Y2
	VFMADD231PS Y14, Y1, Y2
	VMOVUPS Y2, (R8)
	VMULPS Y1, Y1, Y3
	VMULPS (R9), Y13, Y4
	VFMADD231PS Y12, Y3, Y4
	VMOVUPS Y4, (R9)
	VSQRTPS Y4, Y5
	VMULPS Y8, Y5, Y5
	VADDPS Y7, Y5, Y5
	VMULPS Y9, Y2, Y6
	VDIVPS Y5, Y6, Y6
	VMULPS Y10, Y0, Y0
	VSUBPS Y6, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, R8
	ADDQ $32, R9
	SUBQ $8, CX
	JMP loop
done:
	VZEROUPPER
	RET

// func transpose8KernelAVX2(dst []float32, ldd int, src []float32, lds, n int)
// Transposes the 8×8n block of src (8 rows lds floats apart) into the
// 8n×8 block of dst (rows ldd floats apart), 8×8 at a time: unpack pairs
// of rows, shuffle pairs of pairs, then swap 128-bit lanes. The caller
// checks the bounds; n > 0.
TEXT ·transpose8KernelAVX2(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ ldd+24(FP), R9
	SHLQ $2, R9
	MOVQ src_base+32(FP), SI
	MOVQ lds+56(FP), R8
	SHLQ $2, R8
	MOVQ n+64(FP), CX
	LEAQ (R8)(R8*2), R10
	LEAQ (SI)(R8*4), R11
	LEAQ (R9)(R9*2), R12
	LEAQ (DI)(R9*4), DX
loop:
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(R8*1), Y1
	VMOVUPS (SI)(R8*2), Y2
	VMOVUPS (SI)(R10*1), Y3
	VMOVUPS (R11), Y4
	VMOVUPS (R11)(R8*1), Y5
	VMOVUPS (R11)(R8*2), Y6
	VMOVUPS (R11)(R10*1), Y7
	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15
	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xEE, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xEE, Y11, Y9, Y3
	VSHUFPS $0x44, Y14, Y12, Y4
	VSHUFPS $0xEE, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xEE, Y15, Y13, Y7
	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, (DI)(R9*1)
	VMOVUPS Y10, (DI)(R9*2)
	VMOVUPS Y11, (DI)(R12*1)
	VMOVUPS Y12, (DX)
	VMOVUPS Y13, (DX)(R9*1)
	VMOVUPS Y14, (DX)(R9*2)
	VMOVUPS Y15, (DX)(R12*1)
	ADDQ $32, SI
	ADDQ $32, R11
	LEAQ (DI)(R9*8), DI
	LEAQ (DX)(R9*8), DX
	DECQ CX
	JNE loop
	VZEROUPPER
	RET

// func reluKernelAVX2(dst, x []float32)
// dst[i] = max(x[i], 0) for len(dst), a multiple of 8; len(x) >= len(dst).
// MAXPS returns its memory operand x[i] when it is a NaN.
TEXT ·reluKernelAVX2(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ x_base+24(FP), SI
	VXORPS Y15, Y15, Y15
loop16:
	CMPQ CX, $16
	JLT tail8
	VMAXPS (SI), Y15, Y0
	VMAXPS 32(SI), Y15, Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP loop16
tail8:
	CMPQ CX, $8
	JLT done
	VMAXPS (SI), Y15, Y0
	VMOVUPS Y0, (DI)
done:
	VZEROUPPER
	RET

// func maxPool2KernelAVX2(out, r0, r1 []float32)
// out[j] = max(r0[2j], r0[2j+1], r1[2j], r1[2j+1]) for len(out), a
// multiple of 8; r0 and r1 hold at least 2*len(out) values. A NaN
// anywhere in a window makes its output NaN: MAXPS alone would return
// its second operand, so each step ORs in an unordered-compare mask
// (all ones, a NaN). The even and odd elements of a row pair are split
// with SHUFPS within 128-bit lanes and put back in order with VPERMPD.
TEXT ·maxPool2KernelAVX2(SB), NOSPLIT, $0-72
	MOVQ out_base+0(FP), DI
	MOVQ out_len+8(FP), CX
	MOVQ r0_base+24(FP), SI
	MOVQ r1_base+48(FP), DX
loop:
	CMPQ CX, $8
	JLT done
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS (DX), Y2
	VMOVUPS 32(DX), Y3
	VMAXPS Y2, Y0, Y4
	VCMPPS $3, Y2, Y0, Y6
	VORPS Y6, Y4, Y4
	VMAXPS Y3, Y1, Y5
	VCMPPS $3, Y3, Y1, Y7
	VORPS Y7, Y5, Y5
	VSHUFPS $0x88, Y5, Y4, Y0
	VSHUFPS $0xDD, Y5, Y4, Y1
	VMAXPS Y1, Y0, Y2
	VCMPPS $3, Y1, Y0, Y3
	VORPS Y3, Y2, Y2
	VPERMPD $0xD8, Y2, Y2
	VMOVUPS Y2, (DI)
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $32, DI
	SUBQ $8, CX
	JMP loop
done:
	VZEROUPPER
	RET
