package tensor

import (
	"runtime"
	"sync"
)

// Grain is the smallest number of elements worth handing to a goroutine in
// an elementwise loop.
const Grain = 1 << 15

// ParallelFor splits [0, n) into at most GOMAXPROCS contiguous chunks of at
// least minChunk elements and runs fn on them concurrently, returning when
// all are done. Small n runs fn inline.
func ParallelFor(n, minChunk int, fn func(lo, hi int)) {
	p := runtime.GOMAXPROCS(0)
	chunks := min(p, n/minChunk)
	if chunks <= 1 {
		fn(0, n)
		return
	}
	step := (n + chunks - 1) / chunks
	var wg sync.WaitGroup
	for lo := step; lo < n; lo += step {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, min(lo+step, n))
	}
	fn(0, step)
	wg.Wait()
}
