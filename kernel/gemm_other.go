//go:build !amd64 || purego

package kernel

// asmImpls returns no implementations: assembly kernels exist for amd64
// only, and the purego build tag turns them off.
func asmImpls() []impl { return nil }

// dot and axpy are the vector primitives behind Dot, Axpy and gemv.
var (
	dot  = dotGo
	axpy = axpyGo
)
