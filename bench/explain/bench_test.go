package explainbench

import (
	"context"
	"testing"

	"github.com/mlenv/mlenv/explain"
)

// TestRun checks a small run end to end: every example is explained and
// the completeness error is that of a ReLU network at 50 steps.
func TestRun(t *testing.T) {
	res, err := Run(context.Background(), Config{Examples: 8, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Examples != 8 || res.Steps != explain.DefaultSteps || res.ExamplesPerSec <= 0 {
		t.Errorf("result %+v", res)
	}
	if res.MeanError > 0.2 {
		t.Errorf("mean completeness error %g", res.MeanError)
	}
}

// BenchmarkExplain measures 1,000 examples at 50 steps per iteration
// (model construction included; Run's own figure excludes it).
func BenchmarkExplain(b *testing.B) {
	for b.Loop() {
		if _, err := Run(context.Background(), Config{Examples: 1000, Threads: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
