package train

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mlenv/mlenv/data"
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

// A run interrupted during an evaluation writes a checkpoint marked so
// that the resumed run does that evaluation first: it ends with the
// weights and the early-stopping state of an uninterrupted run. The
// validation file of the interrupted run is a named pipe, so that the test
// cancels the run exactly while it evaluates (after step 10).
func TestInterruptedEvaluationResumes(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(4, 4))
	row := func() string {
		x, c := r.NormFloat64(), r.IntN(4)
		y := 0
		if x+float64(c)/2+r.NormFloat64() > 1 {
			y = 1
		}
		return fmt.Sprintf("%g,k%d,%d", x, c, y)
	}
	train := writeCSV(t, filepath.Join(dir, "train.csv"), "x,c,y", 600, row)
	valid := writeCSV(t, filepath.Join(dir, "valid.csv"), "x,c,y", 200, row)
	config := func(ckDir string) Config {
		return Config{
			Name: "eval-interrupted", Arch: "mlp", Params: map[string]any{"hidden": []any{8}, "embedding_dim": 2},
			Data: Data{Train: train, Validation: valid, Label: data.Label{Name: "y", Type: data.Binary}, ShuffleBuffer: 600,
				Features: []data.Feature{{Name: "x", Column: "x", Type: data.Numeric, Normalize: data.NormStandard},
					{Name: "c", Column: "c", Type: data.Categorical, Vocab: data.Vocab{MinCount: 1, OOVBuckets: 1}}}},
			Optimizer: "adam", LearningRate: 0.01, BatchSize: 50, Steps: 40, EvalEvery: 10, Seed: 5,
			EarlyStopping: EarlyStopping{Metric: "loss", Mode: "min", Patience: 100},
			CheckpointDir: ckDir, CheckpointEvery: 1000,
		}
	}
	fullDir := t.TempDir()
	full, err := Run(context.Background(), config(fullDir), nil)
	if err != nil {
		t.Fatal(err)
	}
	fullEnd, err := latestCheckpoint(fullDir)
	if err != nil {
		t.Fatal(err)
	}

	content, err := os.ReadFile(valid.Path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(valid.Path); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(valid.Path, 0o644); err != nil {
		t.Fatal(err)
	}
	ckDir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// Opening blocks until the first evaluation opens the pipe; the
		// run is cancelled before it can read a row.
		f, err := os.OpenFile(valid.Path, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		cancel()
		f.Write(content) // the loader may stop reading on the cancellation
		f.Close()
	}()
	if _, err := Run(ctx, config(ckDir), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v, want context.Canceled", err)
	}
	ck, err := latestCheckpoint(ckDir)
	if err != nil || ck == nil || ck.Position.Step != 10 || !ck.Position.EvalPending {
		t.Fatalf("checkpoint %+v, %v: want one at step 10 with the evaluation pending", ck, err)
	}

	if err := os.Remove(valid.Path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(valid.Path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config(ckDir)
	cfg.Resume = true
	sink := &Memory{}
	resumed, err := Run(context.Background(), cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	if sink.Points[0].Step != 10 {
		t.Errorf("resumed run first evaluated at step %d, want the pending one at 10", sink.Points[0].Step)
	}
	sameWeights(t, weights(t, full), weights(t, resumed))
	end, err := latestCheckpoint(ckDir)
	if err != nil || end.Position != fullEnd.Position {
		t.Errorf("resumed run ended at %+v (%v), the uninterrupted run at %+v", end.Position, err, fullEnd.Position)
	}
}

// OnCheckpoint sees every checkpoint once it is complete and before older
// ones are pruned; its error fails the run, naming the step.
func TestOnCheckpoint(t *testing.T) {
	cfg := resumeConfig(t, t.TempDir(), "adam")
	var steps []string
	cfg.OnCheckpoint = func(dir string) error {
		for _, f := range CheckpointFiles() {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				return err
			}
		}
		if !IsCheckpointName(filepath.Base(dir)) {
			return fmt.Errorf("%s is not a checkpoint name", dir)
		}
		steps = append(steps, filepath.Base(dir))
		return nil
	}
	if _, err := Run(context.Background(), cfg, nil); err != nil {
		t.Fatal(err)
	}
	want := []string{"step-000000025", "step-000000050", "step-000000075", "step-000000100"}
	if fmt.Sprint(steps) != fmt.Sprint(want) {
		t.Errorf("OnCheckpoint saw %v, want %v", steps, want)
	}
	if ok, err := HasCheckpoint(cfg.CheckpointDir); !ok || err != nil {
		t.Errorf("HasCheckpoint(%s) = %v, %v after the run", cfg.CheckpointDir, ok, err)
	}
	if ok, err := HasCheckpoint(filepath.Join(t.TempDir(), "none")); ok || err != nil {
		t.Errorf("HasCheckpoint of a missing directory = %v, %v", ok, err)
	}

	cfg = resumeConfig(t, t.TempDir(), "adam")
	cfg.OnCheckpoint = func(string) error { return errors.New("store unreachable") }
	if _, err := Run(context.Background(), cfg, nil); err == nil || !strings.Contains(err.Error(), "checkpoint at step 25: store unreachable") {
		t.Errorf("failing OnCheckpoint: %v", err)
	}
}
