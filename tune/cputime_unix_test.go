//go:build unix

package tune

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user and system) the test process has
// used, which unlike wall time does not grow when other work shares the
// machine.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
