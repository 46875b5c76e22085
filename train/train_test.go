package train

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/mlenv/mlenv/data"
)

// Each zoo model for tabular data learns the planted structure of the
// synthetic click-through data: validation AUC well above chance and the
// loss falling from the first evaluation to the last.
func TestZooLearnsCTR(t *testing.T) {
	_, bayes := synthFiles()
	for _, tc := range []struct {
		arch   string
		params map[string]any
		minAUC float64
	}{
		{"logistic", nil, 0.65},
		{"mlp", map[string]any{"hidden": []any{64, 32}, "embedding_dim": 8}, 0.70},
		{"wide_deep", map[string]any{"hidden": []any{64}, "embedding_dim": 8}, 0.70},
		{"dcn_v2", map[string]any{"hidden": []any{64}, "cross_layers": 2, "embedding_dim": 8}, 0.70},
		{"dlrm", map[string]any{"bottom": []any{32}, "top": []any{64}, "embedding_dim": 8}, 0.70},
		{"seq_transformer", map[string]any{"sequence": "tags", "max_len": 5, "embedding_dim": 8, "hidden": []any{32}}, 0.70},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			cfg := ctrConfig(t, tc.arch, tc.params)
			cfg.EvalEvery = 20
			sink := &Memory{}
			res, err := Run(context.Background(), cfg, sink)
			if err != nil {
				t.Fatal(err)
			}
			first, last := sink.Points[0].Metrics, res.Metrics
			t.Logf("%s: AUC %.4f (Bayes %.4f), loss %.4f -> %.4f, %d steps", tc.arch, last["auc"], bayes, first["loss"], last["loss"], res.Steps)
			if last["auc"] < tc.minAUC {
				t.Errorf("validation AUC %.4f, want > %.2f (Bayes-optimal %.4f)", last["auc"], tc.minAUC, bayes)
			}
			if last["loss"] > first["loss"]-0.01 {
				t.Errorf("validation loss %.4f -> %.4f did not fall", first["loss"], last["loss"])
			}
		})
	}
}

// two_tower learns to rank each query's own item above the other items of
// its batch: in the planted data a user's item is determined by the user,
// so recall@1 must rise from near chance (1 of ~200 distinct items) to
// most queries.
func TestTwoTowerLearnsRetrieval(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(1, 1))
	pair := func() string {
		u := r.IntN(500)
		return fmt.Sprintf("u%d,i%d,1", u, (u*7)%500)
	}
	src := writeCSV(t, filepath.Join(dir, "train.csv"), "user,item,label", 20000, pair)
	valid := writeCSV(t, filepath.Join(dir, "valid.csv"), "user,item,label", 2000, pair)
	vocab := data.Vocab{MinCount: 1, OOVBuckets: 1}
	cfg := Config{
		Name: "two-tower", Arch: "two_tower",
		Params: map[string]any{"query_features": []any{"user"}, "item_features": []any{"item"}, "hidden": []any{32}, "output_dim": 16},
		Data: Data{Train: src, Validation: valid, Label: data.Label{Name: "label", Type: data.Binary}, ShuffleBuffer: 20000, Prefetch: 2,
			Features: []data.Feature{{Name: "user", Column: "user", Type: data.Categorical, Vocab: vocab}, {Name: "item", Column: "item", Type: data.Categorical, Vocab: vocab}}},
		Optimizer: "adam", LearningRate: 0.01, BatchSize: 256, Epochs: 3, EvalEvery: 10, RecallK: 1, Seed: 1,
	}
	sink := &Memory{}
	res, err := Run(context.Background(), cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	first, last := sink.Points[0].Metrics, res.Metrics
	t.Logf("recall@1 %.3f -> %.3f, loss %.3f -> %.3f", first["recall@1"], last["recall@1"], first["loss"], last["loss"])
	if first["recall@1"] > 0.2 || last["recall@1"] < 0.6 || last["loss"] >= first["loss"] {
		t.Errorf("recall@1 %.3f -> %.3f, loss %.3f -> %.3f: did not learn", first["recall@1"], last["recall@1"], first["loss"], last["loss"])
	}
}

// cnn and mlp learn to tell the three kinds of bar images apart.
func TestImageModelsLearn(t *testing.T) {
	for _, tc := range []struct {
		arch   string
		params map[string]any
		minAcc float64
	}{
		{"cnn", map[string]any{"channels": []any{8, 16}, "hidden": []any{32}}, 0.95},
		{"mlp", map[string]any{"hidden": []any{64}}, 0.9},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			res, err := Run(context.Background(), imageConfig(t, tc.arch, tc.params), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: accuracy %.3f, loss %.3f", tc.arch, res.Metrics["accuracy"], res.Metrics["loss"])
			if res.Metrics["accuracy"] < tc.minAcc {
				t.Errorf("accuracy %.3f, want at least %.2f", res.Metrics["accuracy"], tc.minAcc)
			}
		})
	}
}

// An mlp fits a noisy linear target: RMSE falls to near the noise level
// (0.1) from about the target's deviation.
func TestRegression(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(2, 2))
	row := func() string {
		x1, x2, c := r.NormFloat64(), r.NormFloat64(), r.IntN(3)
		return fmt.Sprintf("%g,%g,k%d,%g", x1, x2, c, 2*x1-x2+float64(c)+0.1*r.NormFloat64())
	}
	write := func(name string, rows int) data.Source {
		return writeCSV(t, filepath.Join(dir, name), "x1,x2,c,y", rows, row)
	}
	cfg := Config{
		Name: "regression", Arch: "mlp", Params: map[string]any{"hidden": []any{16}, "embedding_dim": 2},
		Data: Data{Train: write("train.csv", 4000), Validation: write("valid.csv", 1000), Label: data.Label{Name: "y", Type: data.Regression},
			Features: []data.Feature{
				{Name: "x1", Column: "x1", Type: data.Numeric, Normalize: data.NormNone},
				{Name: "x2", Column: "x2", Type: data.Numeric, Normalize: data.NormNone},
				{Name: "c", Column: "c", Type: data.Categorical, Vocab: data.Vocab{MinCount: 1, OOVBuckets: 1}},
			}, ShuffleBuffer: 4000},
		Optimizer: "adam", LearningRate: 0.01, BatchSize: 64, Epochs: 4, EvalEvery: 10, Seed: 1,
	}
	sink := &Memory{}
	res, err := Run(context.Background(), cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	first, last := sink.Points[0].Metrics["rmse"], res.Metrics["rmse"]
	t.Logf("rmse %.3f -> %.3f", first, last)
	if first < 1 || last > 0.2 {
		t.Errorf("rmse %.3f -> %.3f, want from above 1 to below 0.2", first, last)
	}
	if math.Abs(res.Metrics["rmse"]*res.Metrics["rmse"]-res.Metrics["loss"]) > 1e-3 {
		t.Errorf("loss (MSE) %.5f is not rmse² %.5f", res.Metrics["loss"], res.Metrics["rmse"]*res.Metrics["rmse"])
	}
}

// StepProgress reports every step in order, with the planned total, the
// examples so far and the running training loss.
func TestStepProgress(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	src := writeCSV(t, filepath.Join(t.TempDir(), "train.csv"), "x,y", 450, func() string {
		x := r.NormFloat64()
		return fmt.Sprintf("%g,%g", x, 3*x)
	})
	var got []Progress
	cfg := Config{
		Name: "progress", Arch: "logistic",
		Data: Data{Train: src, Label: data.Label{Name: "y", Type: data.Regression},
			Features: []data.Feature{{Name: "x", Column: "x", Type: data.Numeric, Normalize: data.NormNone}}},
		Optimizer: "sgd", LearningRate: 0.1, BatchSize: 100, Epochs: 2, Seed: 1,
		StepProgress: func(p Progress) { got = append(got, p) },
	}
	if _, err := Run(context.Background(), cfg, nil); err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 {
		t.Fatalf("%d step reports, want 10 (5 batches of 450 rows, 2 epochs)", len(got))
	}
	// The last batch of each epoch has 50 rows.
	want := []int64{100, 200, 300, 400, 450, 550, 650, 750, 850, 900}
	for i, p := range got {
		examples := want[i]
		if p.Step != i+1 || p.TotalSteps != 10 || p.Examples != examples || p.TrainLoss <= 0 || p.Metrics != nil {
			t.Errorf("report %d: %+v, want step %d of 10, %d examples, a training loss", i, p, i+1, examples)
		}
	}
	if got[9].Remaining != 0 || got[0].Epoch != 0 || got[9].Epoch != 1 {
		t.Errorf("first %+v, last %+v: want epochs 0 and 1, nothing remaining at the end", got[0], got[9])
	}
}
