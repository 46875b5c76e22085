// Package openblas calls OpenBLAS's cblas_sgemm through cgo. It is compiled
// only with cgo and the build tag "openblas" (it needs Debian's
// libopenblas-dev); without them the package is empty. It is separate from
// package kernel because a cgo package cannot hold Go assembly.
package openblas
