package data

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/mlenv/mlenv/internal/cputime"
)

// benchRows is the number of rows per pass in the pipeline benchmarks.
const benchRows = 100000

// ctrFeatures are the synthetic data set's features as a CTR job uses them.
func ctrFeatures() []Feature {
	var fs []Feature
	for i := 1; i <= synthDense; i++ {
		fs = append(fs, Feature{Name: "I" + strconv.Itoa(i), Type: Numeric, Log: true, Normalize: NormStandard})
	}
	for j := 1; j <= synthCat; j++ {
		fs = append(fs, Feature{Name: "C" + strconv.Itoa(j), Type: Categorical, Vocab: Vocab{MinCount: 1, OOVBuckets: 1}})
	}
	return fs
}

// benchPipeline measures one full pass over a synthetic file of the given
// extension: reading, encoding, shuffling, batching into 512-example
// batches and prefetching. It reports rows/s. With inMemory, the passes
// after the first (untimed) one come from memory.
func benchPipeline(b *testing.B, ext string, inMemory bool) {
	path := filepath.Join(b.TempDir(), "ctr"+ext)
	if _, err := WriteSynthetic(path, SynthOptions{Rows: benchRows, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	src := Source{Path: path, Format: FormatOf(path)}
	tr, _, err := Fit(context.Background(), src, ctrFeatures(), Label{Name: "label", Type: Binary}, FitOptions{})
	if err != nil {
		b.Fatal(err)
	}
	opt := LoaderOptions{BatchSize: 512, ShuffleBuffer: 10000, Seed: 1, Prefetch: 4, InMemory: inMemory}
	l, err := NewLoader(tr, src, opt)
	if err != nil {
		b.Fatal(err)
	}
	run := func(epoch int) {
		for _, err := range l.Batches(context.Background(), epoch) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	if inMemory {
		run(0)
	}
	cpu0 := cputime.Process()
	for i := 1; b.Loop(); i++ {
		if !inMemory {
			l, _ = NewLoader(tr, src, opt)
		}
		run(i)
	}
	cpu := cputime.Process() - cpu0
	if n := l.Stats().Rows % benchRows; n != 0 {
		b.Fatalf("a pass delivered %d rows too many", n)
	}
	rows := float64(benchRows) * float64(b.N)
	b.ReportMetric(rows/b.Elapsed().Seconds(), "rows/s")
	// Rows per CPU-second (all threads: reader, encoder, garbage collector)
	// varies less than rows/s on a loaded machine, and says what share of
	// the cores feeding a trainer at a given rate takes.
	b.ReportMetric(rows/cpu.Seconds(), "rows/cpu-s")
}

func BenchmarkParquetBatches(b *testing.B)  { benchPipeline(b, ".parquet", false) }
func BenchmarkCSVBatches(b *testing.B)      { benchPipeline(b, ".csv", false) }
func BenchmarkInMemoryBatches(b *testing.B) { benchPipeline(b, ".parquet", true) }
