package engine

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mlenv/mlenv/tensor"
)

func TestRunMLPTrains(t *testing.T) {
	res, err := Run(context.Background(), Config{Model: "mlp", Batch: 64, Duration: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.TrainPerSec <= 0 || res.InferPerSec <= 0 {
		t.Errorf("no throughput measured: %+v", res)
	}
	if !(res.FinalLoss >= 0 && res.FinalLoss < 1) {
		t.Errorf("final loss %v, want a finite BCE value in [0, 1)", res.FinalLoss)
	}
}

func TestRunDLRMAndCNN(t *testing.T) {
	for _, model := range []string{"dlrm", "cnn"} {
		res, err := Run(context.Background(), Config{Model: model, Batch: 16, Duration: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if res.TrainPerSec <= 0 || res.InferPerSec <= 0 || !(res.FinalLoss > 0 && res.FinalLoss < 10) {
			t.Errorf("%s: %+v", model, res)
		}
	}
}

func TestRunGEMMAndErrors(t *testing.T) {
	res, err := Run(context.Background(), Config{Model: "gemm", Duration: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.GFLOPS["512"] <= 0 || res.GFLOPS["2048"] <= 0 {
		t.Errorf("gflops %v", res.GFLOPS)
	}
	if _, err := Run(context.Background(), Config{Model: "resnet"}); err == nil || !strings.Contains(err.Error(), `"resnet"`) {
		t.Errorf("unknown model: err %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, Config{Model: "mlp"}); err == nil {
		t.Error("cancelled context did not stop the run")
	}
}

// benchModels are the models the Go benchmarks time, at the batch sizes
// of the PyTorch comparison.
var benchModels = []struct {
	model string
	batch int
}{{"mlp", 512}, {"dlrm", 512}, {"cnn", 64}}

// BenchmarkTrainStep times one training step of each benchmark model;
// `mlenv bench engine` is the tool for comparisons with PyTorch.
func BenchmarkTrainStep(b *testing.B) {
	for _, c := range benchModels {
		b.Run(c.model, func(b *testing.B) {
			m := newModel(c.model, c.batch)
			ar := tensor.NewArena()
			b.ResetTimer()
			for range b.N {
				m.trainStep(ar)
			}
			b.ReportMetric(float64(b.N*c.batch)/b.Elapsed().Seconds(), "examples/s")
		})
	}
}

// BenchmarkInference times one forward pass without a graph (a no-grad
// arena, as Run's inference figure) of each benchmark model.
func BenchmarkInference(b *testing.B) {
	for _, c := range benchModels {
		b.Run(c.model, func(b *testing.B) {
			m := newModel(c.model, c.batch)
			ar := tensor.NewArena()
			ar.SetGrad(false)
			b.ResetTimer()
			for range b.N {
				ar.Reset()
				m.forward(ar)
			}
			b.ReportMetric(float64(b.N*c.batch)/b.Elapsed().Seconds(), "examples/s")
		})
	}
}
