//go:build !unix

package explainbench

import "time"

// cpuTime returns 0: this platform's CPU time is not read, and the
// per-CPU-second figure is left out.
func cpuTime() time.Duration { return 0 }
