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
// all are done; small n runs fn inline. fn must be safe to run on disjoint
// ranges at once. Optimizers and layers use it for long elementwise loops.
func ParallelFor(n, minChunk int, fn func(lo, hi int)) {
	chunks := min(runtime.GOMAXPROCS(0), n/max(minChunk, 1))
	if chunks <= 1 {
		fn(0, n)
		return
	}
	parallelChunks(n, chunks, func(_, lo, hi int) { fn(lo, hi) })
}

// workers returns how many chunks parallelChunks should use for n
// independent items: one per processor, at most n.
func workers(n int) int { return max(min(runtime.GOMAXPROCS(0), n), 1) }

// parallelChunks splits [0, n) into the given number of contiguous chunks
// and runs fn(chunk, lo, hi) for each concurrently, so that fn can use
// per-chunk scratch buffers allocated beforehand.
func parallelChunks(n, chunks int, fn func(c, lo, hi int)) {
	if chunks <= 1 {
		fn(0, 0, n)
		return
	}
	step := (n + chunks - 1) / chunks
	var wg sync.WaitGroup
	for c := 1; c < chunks && c*step < n; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			fn(c, c*step, min((c+1)*step, n))
		}(c)
	}
	fn(0, 0, min(step, n))
	wg.Wait()
}
