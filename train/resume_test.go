package train

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlenv/mlenv/models"
	"github.com/mlenv/mlenv/nn"
	"github.com/mlenv/mlenv/tensor"
)

// weights returns a copy of every parameter of the run's model.
func weights(t *testing.T, res *Result) map[string][]float32 {
	t.Helper()
	out := map[string][]float32{}
	for name, w := range nn.StateDict(res.Model.Net) {
		out[name] = append([]float32(nil), tensor.Contiguous(w).Data()...)
	}
	return out
}

func sameWeights(t *testing.T, a, b map[string][]float32) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d tensors vs %d", len(a), len(b))
	}
	for name, wa := range a {
		wb := b[name]
		for i := range wa {
			if wa[i] != wb[i] {
				t.Fatalf("%s[%d]: %v vs %v", name, i, wa[i], wb[i])
			}
		}
	}
}

// resumeConfig runs 100 steps of optimizer opt on a DLRM (sparse-gradient
// embeddings beside dense layers) over more than one epoch of shuffled
// data.
func resumeConfig(t *testing.T, dir, opt string) Config {
	cfg := ctrConfig(t, "dlrm", map[string]any{"bottom": []any{16}, "top": []any{32}, "embedding_dim": 4})
	cfg.Optimizer, cfg.LearningRate = opt, 0.05
	cfg.Epochs, cfg.Steps, cfg.EvalEvery = 0, 100, 5
	cfg.Schedule = Schedule{Type: "cosine", WarmupSteps: 10}
	cfg.CheckpointDir, cfg.CheckpointEvery = dir, 25
	return cfg
}

// A run cancelled mid-epoch and resumed from its checkpoint ends with the
// same weights, bit for bit, as an uninterrupted run, also for optimizers
// with state (Adam's moments and step count, Adagrad's accumulators, which
// the embeddings update row by row); the same seed gives the same run.
func TestResumeMatchesUninterruptedRun(t *testing.T) {
	for _, opt := range []string{"sgd", "adam", "adagrad"} {
		t.Run(opt, func(t *testing.T) { testResume(t, opt) })
	}
}

func testResume(t *testing.T, opt string) {
	full, err := Run(context.Background(), resumeConfig(t, t.TempDir(), opt), nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Run(context.Background(), resumeConfig(t, t.TempDir(), opt), nil)
	if err != nil {
		t.Fatal(err)
	}
	sameWeights(t, weights(t, full), weights(t, again))

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := resumeConfig(t, dir, opt)
	cfg.Progress = func(p Progress) {
		if p.Step == 35 {
			cancel()
		}
	}
	sink := &Memory{}
	if _, err := Run(ctx, cfg, sink); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: %v, want context.Canceled", err)
	}
	if sink.Status != Killed {
		t.Errorf("cancelled run status %q, want %q", sink.Status, Killed)
	}
	names, err := checkpoints(dir)
	if err != nil || len(names) != 2 || names[1] != "step-000000035" {
		t.Fatalf("checkpoints %v, %v: want step 25 and the one written on cancel at 35", names, err)
	}

	cfg = resumeConfig(t, dir, opt)
	cfg.Resume = true
	sink = &Memory{}
	resumed, err := Run(context.Background(), cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	if resumed.Steps != 100 || sink.Points[0].Step != 40 {
		t.Errorf("resumed run: %d steps, first evaluation at step %d; want 100 and 40", resumed.Steps, sink.Points[0].Step)
	}
	sameWeights(t, weights(t, full), weights(t, resumed))
}

// Resuming without the optimizer's state (a checkpoint whose
// optimizer.safetensors is lost) fails instead of silently restarting the
// moments.
func TestResumeNeedsOptimizerState(t *testing.T) {
	dir := t.TempDir()
	cfg := resumeConfig(t, dir, "adam")
	cfg.Steps = 25
	if _, err := Run(context.Background(), cfg, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "step-000000025", optimizerFile)); err != nil {
		t.Fatal(err)
	}
	cfg = resumeConfig(t, dir, "adam")
	cfg.Resume = true
	if _, err := Run(context.Background(), cfg, nil); err == nil || !strings.Contains(err.Error(), optimizerFile) {
		t.Fatalf("resume without optimizer state: %v, want an error naming %s", err, optimizerFile)
	}
}

func TestEarlyStopping(t *testing.T) {
	cfg := ctrConfig(t, "logistic", nil)
	cfg.EvalEvery = 5
	// No evaluation can improve on the first by 10: the third one stops.
	cfg.EarlyStopping = EarlyStopping{Metric: "loss", Mode: "min", Patience: 2, MinDelta: 10}
	res, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.StoppedEarly || res.Steps != 15 {
		t.Errorf("stopped early %v after %d steps, want true after 15", res.StoppedEarly, res.Steps)
	}

	cfg.EarlyStopping = EarlyStopping{Metric: "rmse", Mode: "min", Patience: 2}
	if _, err := Run(context.Background(), cfg, nil); err == nil || !strings.Contains(err.Error(), `"rmse" is not computed`) {
		t.Errorf("early stopping on a metric binary labels lack: %v", err)
	}
}

// brokenModel multiplies tensors of mismatched shapes: a programmer error
// that the engine reports by panicking.
type brokenModel struct{ w *tensor.Tensor }

func (m brokenModel) Parameters() []nn.NamedParam { return []nn.NamedParam{{Name: "w", Tensor: m.w}} }
func (m brokenModel) Forward(in *models.Input) *tensor.Tensor {
	return tensor.MatMul(in.Dense, m.w)
}

func init() {
	models.Register("test_broken", func(models.Config) (models.Model, error) {
		return brokenModel{tensor.New(3, 1).RequiresGrad()}, nil
	})
}

func TestPanicInModelIsAnError(t *testing.T) {
	sink := &Memory{}
	_, err := Run(context.Background(), ctrConfig(t, "test_broken", nil), sink)
	if err == nil || !strings.Contains(err.Error(), "panic in model test_broken") {
		t.Fatalf("err = %v, want a recovered panic", err)
	}
	if sink.Status != Failed {
		t.Errorf("status %q, want %q", sink.Status, Failed)
	}
}

func TestMetricsLoggedToSink(t *testing.T) {
	cfg := ctrConfig(t, "logistic", nil)
	cfg.Epochs, cfg.Steps, cfg.EvalEvery = 0, 10, 5
	cfg.ModelDir = t.TempDir()
	cfg.Tags = map[string]string{"team": "ads"}
	sink := &Memory{}
	if _, err := Run(context.Background(), cfg, sink); err != nil {
		t.Fatal(err)
	}
	if len(sink.Points) != 2 || sink.Points[0].Step != 5 || sink.Points[1].Step != 10 {
		t.Fatalf("points %+v, want evaluations at steps 5 and 10", sink.Points)
	}
	for _, m := range []string{"loss", "auc", "logloss", "accuracy", "train_loss"} {
		if _, ok := sink.Points[1].Metrics[m]; !ok {
			t.Errorf("metric %q missing from %v", m, sink.Points[1].Metrics)
		}
	}
	if sink.Params["arch"] != "logistic" || sink.Params["batch_size"] != "256" || sink.Tags["team"] != "ads" || sink.Tags["mlenv.version"] == "" {
		t.Errorf("params %v, tags %v", sink.Params, sink.Tags)
	}
	if sink.Artifacts["model"] != cfg.ModelDir || sink.Status != Finished {
		t.Errorf("artifacts %v, status %q", sink.Artifacts, sink.Status)
	}
}
