// Package cputime reads the CPU time the running process has used. The
// benchmarks report rates per CPU-second beside wall-clock rates: on a
// machine shared with other work, wall time grows with the load while the
// process's own CPU time barely moves.
package cputime
