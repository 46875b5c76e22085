package trainbench

import (
	"context"
	"testing"
)

// A small run produces consistent figures: the time split adds up to no
// more than the total and the model learns.
func TestRunSmall(t *testing.T) {
	r, err := Run(context.Background(), Config{Rows: 10000, Epochs: 2, Batch: 256, Hidden: []int{16}, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if r.TrainPerSec <= 0 || r.StepPerSec < r.TrainPerSec || r.PipelinePerSec <= 0 {
		t.Errorf("throughputs %+v", r)
	}
	if parts := r.DataSeconds + r.StepSeconds + r.EvalSeconds + r.SetupSeconds; parts > r.TotalSeconds*1.0001 {
		t.Errorf("parts %.3fs exceed total %.3fs", parts, r.TotalSeconds)
	}
	if r.AUC < 0.6 || r.BayesAUC < r.AUC {
		t.Errorf("AUC %.3f, Bayes %.3f", r.AUC, r.BayesAUC)
	}
}
