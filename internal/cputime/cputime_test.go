//go:build unix

package cputime

import (
	"testing"
	"time"
)

func TestProcessCountsBusyWork(t *testing.T) {
	before := Process()
	start := time.Now()
	x := 0
	for time.Since(start) < 20*time.Millisecond { // busy for 20 ms of wall time
		x++
	}
	if used := Process() - before; used <= 0 || x == 0 {
		t.Fatalf("a 20 ms busy loop used %v of CPU time", used)
	}
}
