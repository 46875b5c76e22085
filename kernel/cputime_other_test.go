//go:build !unix

package kernel

import "time"

// cpuTime returns 0: this platform's CPU time is not read, and the
// benchmarks leave out their per-CPU-second figure.
func cpuTime() time.Duration { return 0 }
