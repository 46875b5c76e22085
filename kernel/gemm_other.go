//go:build !amd64 || purego

package kernel

// asmImpls returns no implementations: assembly kernels exist for amd64
// only, and the purego build tag turns them off.
func asmImpls() []impl { return nil }

// The vector primitives behind Dot, Axpy, AddReLU, ReLU, MaxPool2,
// ReLUGrad, AdamStep and gemv.
var (
	dot      = dotGo
	axpy     = axpyGo
	addReLU  = addReLUGo
	relu     = reluGo
	maxPool2 = maxPool2Go
	reluGrad = reluGradGo
	adamStep = adamStepGo

	// transpose8 is packPanel's fast path for transposed panels: none.
	transpose8 func(dst []float32, ldd int, src []float32, lds, cols int)
)
