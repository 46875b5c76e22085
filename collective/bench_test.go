package collective

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkAllReduce measures the all-reduce of a 10M-float (40 MB)
// buffer between goroutine workers, on the TCP ring over loopback and
// through shared memory. The reported MB/s is the buffer size over the
// time per all-reduce (the "algorithm bandwidth").
func BenchmarkAllReduce(b *testing.B) {
	const length = 10_000_000
	for _, tr := range transports {
		for _, n := range []int{2, 4} {
			b.Run(fmt.Sprintf("%s/workers=%d", tr.name, n), func(b *testing.B) {
				groups := joinGroups(b, n, DefaultTimeout, tr.shm)
				bufs := make([][]float32, n)
				for r := range bufs {
					bufs[r] = make([]float32, length)
				}
				b.SetBytes(4 * length)
				for b.Loop() {
					for r, err := range onAll(groups, func(g *Group) error {
						return g.AllReduceSum(context.Background(), bufs[g.Rank()])
					}) {
						if err != nil {
							b.Fatalf("rank %d: %v", r, err)
						}
					}
				}
			})
		}
	}
}
