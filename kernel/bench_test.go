package kernel

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mlenv/mlenv/internal/cputime"
)

// benchShape is one GEMM to time: C (m×n) = op(A)·op(B) with depth k.
type benchShape struct {
	name           string
	transA, transB bool
	m, n, k        int
}

// benchSgemm times each shape with every available implementation at 1
// and 2 threads, reporting GFLOP/s (2·m·n·k per call) and GFLOP per
// CPU-second of the whole process. On a shared machine the second figure
// moves less with other load; at 2 threads it also shows how well the
// threads use their cores (spinning or idle waits count against it).
func benchSgemm(b *testing.B, shapes []benchShape) {
	for _, name := range Available() {
		for _, threads := range []int{1, 2} {
			for _, s := range shapes {
				b.Run(fmt.Sprintf("%s/%s/threads=%d", s.name, name, threads), func(b *testing.B) {
					useImpl(b, name)
					useThreads(b, threads)
					rng := rand.New(rand.NewPCG(1, 1))
					p := newProblem(rng, s.transA, s.transB, s.m, s.n, s.k, 0, 1, 0, false)
					var cpu time.Duration
					for b.Loop() {
						if cpu == 0 {
							cpu = cputime.Process() // after b.Loop's untimed warm-up
						}
						Sgemm(p.transA, p.transB, p.m, p.n, p.k, 1, p.a, p.lda, p.b, p.ldb, 0, p.c, p.ldc)
					}
					cpu = cputime.Process() - cpu
					flops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N)
					b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
					if cpu > 0 {
						b.ReportMetric(flops/cpu.Seconds()/1e9, "GFLOP/cpu-s")
					}
				})
			}
		}
	}
}

func BenchmarkSgemm512(b *testing.B) {
	benchSgemm(b, []benchShape{{name: "512", m: 512, n: 512, k: 512}})
}

func BenchmarkSgemm2048(b *testing.B) {
	benchSgemm(b, []benchShape{{name: "2048", m: 2048, n: 2048, k: 2048}})
}

// BenchmarkSgemmMLP times the products of one training step of the MLP
// 256->512->512->1 at batch 512, with weights stored out×in as in
// PyTorch: forward X·Wᵀ, input gradient dY·W, weight gradient dYᵀ·X; the
// out_ shapes are the 512->1 output layer.
func BenchmarkSgemmMLP(b *testing.B) {
	benchSgemm(b, []benchShape{
		{name: "fwd_512x512x256", transB: true, m: 512, n: 512, k: 256},
		{name: "fwd_512x512x512", transB: true, m: 512, n: 512, k: 512},
		{name: "dX_512x256x512", m: 512, n: 256, k: 512},
		{name: "dX_512x512x512", m: 512, n: 512, k: 512},
		{name: "dW_512x256x512", transA: true, m: 512, n: 256, k: 512},
		{name: "dW_512x512x512", transA: true, m: 512, n: 512, k: 512},
		{name: "out_512x1x512", transB: true, m: 512, n: 1, k: 512},
		{name: "outdX_512x512x1", m: 512, n: 512, k: 1},
		{name: "outdW_1x512x512", transA: true, m: 1, n: 512, k: 512},
	})
}
