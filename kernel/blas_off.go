//go:build !(cgo && openblas)

package kernel

// blasImpls returns no implementations: OpenBLAS is linked only with cgo
// and the openblas build tag.
func blasImpls() []impl { return nil }
