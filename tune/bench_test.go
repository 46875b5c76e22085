package tune

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/mlenv/mlenv/internal/cputime"
)

// BenchmarkStudyOverhead measures the study's own cost per trial (sampling
// plus bookkeeping, objective free) over a 1,000-trial study with five
// parameters of mixed kinds. It reports the mean wall time over all trials
// and over the last hundred, where TPE's models are largest, and the same
// two means in CPU time of the process (which includes the garbage
// collector's, and which other work on a shared machine does not inflate).
func BenchmarkStudyOverhead(b *testing.B) {
	space, err := NewSpace(Uniform("x", -5, 5), LogUniform("lr", 1e-5, 1), IntRange("n", 1, 64, 1),
		Choice("act", "relu", "tanh", "gelu"), Uniform("y", 0, 1))
	if err != nil {
		b.Fatal(err)
	}
	obj := func(_ context.Context, r *Run) (float64, error) {
		return math.Abs(r.Float("x")) + r.Float("y") + float64(r.Int("n"))/64, nil
	}
	cases := []struct {
		name    string
		sampler func() Sampler
		file    bool
	}{
		{"tpe", func() Sampler { return &TPE{} }, false},
		{"tpe-multivariate", func() Sampler { return &TPE{Multivariate: true} }, false},
		{"tpe-file-storage", func() Sampler { return &TPE{} }, true},
	}
	const trials = 1000
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var total, tail, cpu, cpuTail time.Duration
			for b.Loop() {
				var store Storage = &MemoryStorage{}
				if c.file {
					fs, err := OpenFile(filepath.Join(b.TempDir(), "study.jsonl"))
					if err != nil {
						b.Fatal(err)
					}
					defer fs.Close()
					store = fs
				}
				ctx := context.Background()
				study, err := Open(ctx, Config{Space: space, Sampler: c.sampler(), Storage: store})
				if err != nil {
					b.Fatal(err)
				}
				cpuStart := cputime.Process()
				for i := range trials {
					if i == trials-100 {
						cpuTail -= cputime.Process()
					}
					start := time.Now()
					r, err := study.Ask(ctx)
					if err != nil {
						b.Fatal(err)
					}
					v, _ := obj(ctx, r)
					if err := study.Tell(ctx, r.Number(), v, nil); err != nil {
						b.Fatal(err)
					}
					d := time.Since(start)
					total += d
					if i >= trials-100 {
						tail += d
					}
				}
				end := cputime.Process()
				cpu += end - cpuStart
				cpuTail += end
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N*trials), "ms/trial")
			b.ReportMetric(float64(tail.Microseconds())/1000/float64(b.N*100), "ms/trial@1000")
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N*trials), "cpu-ms/trial")
			b.ReportMetric(float64(cpuTail.Microseconds())/1000/float64(b.N*100), "cpu-ms/trial@1000")
		})
	}
}
