//go:build !unix

package tune

import "time"

// processCPU returns 0: CPU time is not read on this platform, and the
// benchmark's CPU figures are 0.
func processCPU() time.Duration { return 0 }
