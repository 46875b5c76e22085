package train

import (
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlenv/mlenv/collective"
	"github.com/mlenv/mlenv/data"
)

// runWorkers runs one Run per rank of an n-worker group joined over
// loopback, each in its own goroutine with the Config and sink made for its
// rank, and returns the results by rank; any rank's error fails t.
func runWorkers(t testing.TB, n int, cfg func(rank int) Config, sinks []MetricSink) []*Result {
	t.Helper()
	results, errs := startWorkers(t, n, cfg, sinks)
	for rank, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", rank, err)
		}
	}
	return results
}

// startWorkers is runWorkers returning each rank's error.
func startWorkers(t testing.TB, n int, cfg func(rank int) Config, sinks []MetricSink) ([]*Result, []error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	results := make([]*Result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for rank := range n {
		wg.Go(func() {
			c := collective.Config{Rank: rank, Size: n, Rendezvous: l.Addr().String()}
			if rank == 0 {
				c.Listener = l
			}
			g, err := collective.Join(context.Background(), c)
			if err != nil {
				errs[rank] = err
				return
			}
			defer g.Close()
			wc := cfg(rank)
			wc.Group = g
			results[rank], errs[rank] = Run(context.Background(), wc, sinks[rank])
		})
	}
	wg.Wait()
	return results, errs
}

// parallelConfig trains arch with SGD for one epoch in file order (no
// shuffling, so that rank r's k-th batch holds exactly the rows of the
// single worker's k-th batch with index r mod n) on rows rows: with 1921
// rows the last global batch has one example, so all ranks but 0 take the
// last step with an empty batch.
func parallelConfig(t *testing.T, arch string, params map[string]any, numericOnly bool, batch int) Config {
	cfg := ctrConfig(t, arch, params)
	cfg.Data.Train = parallelData(t)
	cfg.Data.Validation = data.Source{}
	cfg.Data.ShuffleBuffer = 0
	if numericOnly {
		cfg.Data.Features = cfg.Data.Features[:13]
	}
	cfg.Optimizer, cfg.LearningRate, cfg.BatchSize = "sgd", 0.1, batch
	cfg.Epochs = 1
	return cfg
}

const parallelRows = 1921

var parallelFile = sync.OnceValues(func() (string, error) {
	files, _ := synthFiles()
	path := filepath.Join(files[0], "parallel.parquet")
	_, err := data.WriteSynthetic(path, data.SynthOptions{Rows: parallelRows, Seed: 5, MultiHot: true})
	return path, err
})

func parallelData(t *testing.T) data.Source {
	path, err := parallelFile()
	if err != nil {
		t.Fatal(err)
	}
	return data.Source{Path: path, Format: data.FormatParquet}
}

// N workers with batch b end with the parameters of one worker with batch
// N*b on the same rows, for a dense MLP and for a DLRM whose embeddings
// get sparse row gradients, including a last step in which some workers
// have no examples. The all-reduce sums in another order than one worker's
// batch mean, so parameters agree within 1e-6 (absolute, on parameters of
// magnitude up to about 1); every rank holds bit-identical parameters.
func TestDataParallelMatchesLargerBatch(t *testing.T) {
	for _, tc := range []struct {
		arch        string
		params      map[string]any
		numericOnly bool
	}{
		{"mlp", map[string]any{"hidden": []any{32, 16}}, true},
		{"dlrm", map[string]any{"bottom": []any{16}, "top": []any{16}, "embedding_dim": 4}, false},
	} {
		for _, n := range []int{2, 3} {
			t.Run(fmt.Sprintf("%s/%d", tc.arch, n), func(t *testing.T) {
				const b = 32
				alone, err := Run(context.Background(), parallelConfig(t, tc.arch, tc.params, tc.numericOnly, n*b), nil)
				if err != nil {
					t.Fatal(err)
				}
				sinks := make([]MetricSink, n)
				for i := range sinks {
					sinks[i] = Discard
				}
				res := runWorkers(t, n, func(int) Config {
					return parallelConfig(t, tc.arch, tc.params, tc.numericOnly, b)
				}, sinks)
				for rank, r := range res {
					if r.Steps != alone.Steps || r.Examples != parallelRows {
						t.Errorf("rank %d: %d steps over %d examples, want %d over %d", rank, r.Steps, r.Examples, alone.Steps, parallelRows)
					}
					if rank > 0 {
						sameWeights(t, weights(t, res[0]), weights(t, r))
					}
				}
				d := maxDiff(t, weights(t, alone), weights(t, res[0]))
				t.Logf("max difference %g", d)
				if d > 1e-6 {
					t.Errorf("parameters differ from one worker's with batch %d by up to %g", n*b, d)
				}
			})
		}
	}
}

// maxDiff returns the largest absolute difference between the parameters
// of a and b, and fails if either has a tensor the other lacks.
func maxDiff(t *testing.T, a, b map[string][]float32) float64 {
	t.Helper()
	var d float64
	for name, wa := range a {
		wb, ok := b[name]
		if !ok || len(wb) != len(wa) {
			t.Fatalf("parameter %s: %d values vs %d", name, len(wa), len(wb))
		}
		for i := range wa {
			d = max(d, math.Abs(float64(wa[i]-wb[i])))
		}
	}
	return d
}

// Only rank 0 logs to its sink, writes checkpoints and the model artifact;
// a cancelled data-parallel run resumes on all ranks from rank 0's
// checkpoint and ends where an uninterrupted one does.
func TestDataParallelLeaderTracksAndResumes(t *testing.T) {
	const n = 2
	ckpt, models := t.TempDir(), t.TempDir()
	cfg := func(rank int) Config {
		c := parallelConfig(t, "dlrm", map[string]any{"bottom": []any{8}, "top": []any{8}, "embedding_dim": 4}, false, 32)
		c.Optimizer, c.LearningRate = "adagrad", 0.05
		c.Data.Validation = c.Data.Train
		c.Epochs, c.Steps, c.EvalEvery = 0, 40, 10
		c.CheckpointDir, c.CheckpointEvery = ckpt, 20
		c.ModelDir = filepath.Join(models, fmt.Sprint(rank))
		return c
	}
	sinks := []MetricSink{&Memory{}, &Memory{}}
	full := runWorkers(t, n, cfg, sinks)
	lead, other := sinks[0].(*Memory), sinks[1].(*Memory)
	if len(lead.Points) != 4 || lead.Params["arch"] != "dlrm" || lead.Artifacts["model"] == "" {
		t.Errorf("rank 0 sink: %d points, params %v, artifacts %v; want 4 evaluations, params and the model", len(lead.Points), lead.Params, lead.Artifacts)
	}
	if len(other.Points) != 0 || len(other.Params) != 0 || len(other.Artifacts) != 0 || other.Status != "" {
		t.Errorf("rank 1 tracked: %+v", other)
	}
	if _, err := os.Stat(filepath.Join(models, "1")); !os.IsNotExist(err) {
		t.Errorf("rank 1 wrote a model artifact: %v", err)
	}
	names, err := checkpoints(ckpt)
	if err != nil || !slices.Equal(names, []string{"step-000000020", "step-000000040"}) {
		t.Fatalf("checkpoints %v, %v", names, err)
	}

	// Resume both ranks from step 20 (the step-40 checkpoint removed).
	if err := os.RemoveAll(filepath.Join(ckpt, names[1])); err != nil {
		t.Fatal(err)
	}
	resumed := runWorkers(t, n, func(rank int) Config {
		c := cfg(rank)
		c.Resume = true
		return c
	}, []MetricSink{&Memory{}, &Memory{}})
	sameWeights(t, weights(t, full[0]), weights(t, resumed[0]))
	sameWeights(t, weights(t, full[1]), weights(t, resumed[1]))
}

// Ranks that resume from different checkpoints (a CheckpointDir that is not
// shared) fail instead of training out of step.
func TestDataParallelResumeNeedsSharedCheckpoints(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	cfg := func(rank int) Config {
		c := parallelConfig(t, "logistic", nil, true, 32)
		c.Epochs, c.Steps = 0, 5
		c.CheckpointDir = dirs[rank]
		return c
	}
	runWorkers(t, 2, cfg, []MetricSink{Discard, Discard}) // only rank 0 writes a checkpoint
	_, errs := startWorkers(t, 2, func(rank int) Config {
		c := cfg(rank)
		c.Resume = true
		return c
	}, []MetricSink{Discard, Discard})
	for rank, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "CheckpointDir must be shared") {
			t.Errorf("rank %d: %v, want an error about the unshared CheckpointDir", rank, err)
		}
	}
}

// BenchmarkDataParallel trains the click-through MLP (embedding width 8,
// hidden 256 and 128, Adam, batch 512 per worker) for 40 steps on 1 and 2
// workers joined over loopback inside this process, and reports the
// training examples per second of rank 0's data and step time (all
// workers' examples count) and the share of that time spent exchanging
// gradients. Run it with a fixed GOMAXPROCS:
//
//	go test ./train -run '^$' -bench DataParallel -benchtime 3x -cpu 2
func BenchmarkDataParallel(b *testing.B) {
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) {
			var examples int64
			var took, sync time.Duration
			sinks := make([]MetricSink, n)
			for i := range sinks {
				sinks[i] = Discard
			}
			for b.Loop() {
				res := runWorkers(b, n, func(int) Config {
					cfg := ctrConfig(b, "mlp", map[string]any{"hidden": []any{256, 128}, "embedding_dim": 8})
					cfg.Data.Validation = data.Source{}
					cfg.BatchSize, cfg.Epochs, cfg.Steps = 512, 0, 40
					return cfg
				}, sinks)
				examples += res[0].Examples
				took += res[0].Timing.Data + res[0].Timing.Step
				sync += res[0].Timing.Sync
			}
			b.ReportMetric(float64(examples)/took.Seconds(), "examples/s")
			b.ReportMetric(100*sync.Seconds()/took.Seconds(), "%sync")
		})
	}
}
