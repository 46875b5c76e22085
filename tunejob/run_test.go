package tunejob

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mlenv/mlenv/data"
	"github.com/mlenv/mlenv/job"
	"github.com/mlenv/mlenv/train"
	"github.com/mlenv/mlenv/tune"
)

// writeData writes small synthetic train and validation files into dir,
// once per directory.
func writeData(t *testing.T, dir string) {
	t.Helper()
	for _, f := range []struct {
		name string
		rows int
		seed uint64
	}{{"train.parquet", 1500, 1}, {"valid.parquet", 500, 2}} {
		if _, err := data.WriteSynthetic(filepath.Join(dir, f.name), data.SynthOptions{Rows: f.rows, Seed: f.seed}); err != nil {
			t.Fatal(err)
		}
	}
}

// specText is a job spec over the files of writeData, training an MLP for
// 60 steps with an evaluation every 20; search is its search section.
func specText(dir, search string) string {
	return fmt.Sprintf(`name: tiny
data:
  train: {path: %[1]s/train.parquet}
  validation: {path: %[1]s/valid.parquet}
  features:
    - {name: I1, type: numeric, log: true}
    - {name: I2, type: numeric, log: true}
    - {name: C1, type: categorical}
    - {name: C2, type: categorical}
  label: {name: label, type: binary}
model:
  arch: mlp
  params: {hidden: [16], embedding_dim: 4}
training:
  batch_size: 64
  steps: 60
  eval_every: 20
search:
%[2]s`, dir, search)
}

// writeSpec writes a spec with the search section into dir and parses it.
func writeSpec(dir, search string) (*job.Spec, error) {
	path := filepath.Join(dir, "job.yaml")
	if err := os.WriteFile(path, []byte(specText(dir, search)), 0o644); err != nil {
		return nil, err
	}
	return job.Load(path)
}

func loadSpec(t *testing.T, dir, search string) *job.Spec {
	t.Helper()
	spec, err := writeSpec(dir, search)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// sinks collects the Memory sink of every trial.
type sinks struct {
	mu sync.Mutex
	m  map[int]*train.Memory
}

func (s *sinks) sink(_ context.Context, trial int) (train.MetricSink, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[int]*train.Memory{}
	}
	m := &train.Memory{}
	s.m[trial] = m
	return m, nil
}

// trainConfig maps a trial's spec to a trainer config without artifacts.
func trainConfig(spec *job.Spec, _ int) train.Config {
	tr, d := spec.Training, spec.Data
	return train.Config{
		Name: spec.Name, Arch: spec.Model.Arch, Params: spec.Model.Params,
		Data:      train.Data{Train: d.Train, Validation: d.Validation, Features: d.Features, Label: d.Label},
		Optimizer: tr.Optimizer, LearningRate: tr.LearningRate, WeightDecay: tr.WeightDecay,
		Schedule:  train.Schedule{Type: tr.Schedule.Type},
		BatchSize: tr.BatchSize, Steps: tr.Steps, EvalEvery: tr.EvalEvery, Seed: uint64(tr.Seed),
	}
}

func run(t *testing.T, spec *job.Spec, storage tune.Storage) (*Result, *sinks) {
	t.Helper()
	var s sinks
	res, err := Run(context.Background(), Config{Spec: spec, Storage: storage, TrainConfig: trainConfig, Sink: s.sink})
	if err != nil {
		t.Fatal(err)
	}
	return res, &s
}

func count(trials []tune.Trial, state tune.State) int {
	n := 0
	for _, tr := range trials {
		if tr.State == state {
			n++
		}
	}
	return n
}

func TestStudyFindsBestTrial(t *testing.T) {
	dir := t.TempDir()
	writeData(t, dir)
	spec := loadSpec(t, dir, `  metric: auc
  trials: 5
  parallel: 2
  sampler: random
  params:
    - {name: lr, field: training.learning_rate, type: float, low: 0.00001, high: 0.05, log: true}
    - {name: width, field: model.params.embedding_dim, type: int, low: 2, high: 8}
`)
	res, sk := run(t, spec, nil)
	if len(res.Trials) != 5 || count(res.Trials, tune.Complete) != 5 {
		t.Fatalf("trials %+v, want 5 complete", res.Trials)
	}
	best := tune.Ranked(res.Trials, true)[0]
	for _, tr := range res.Trials {
		if tr.Value > best.Value {
			t.Errorf("trial %d has auc %g above the best trial %d's %g", tr.Number, tr.Value, best.Number, best.Value)
		}
		m := sk.m[tr.Number]
		if m.Status != train.Finished || m.Tags[TagState] != "complete" || m.Tags[TagTrial] != fmt.Sprint(tr.Number) {
			t.Errorf("trial %d: run status %s, tags %v", tr.Number, m.Status, m.Tags)
		}
		// The sampled width reached the model: the trainer logs it as model.embedding_dim.
		if m.Params["width"] == "" || m.Params["width"] != m.Params["model.embedding_dim"] || m.Params["lr"] != m.Params["learning_rate"] {
			t.Errorf("trial %d params %v: sampled values not applied to the spec", tr.Number, m.Params)
		}
		last := m.Points[len(m.Points)-1]
		if last.Metrics["auc"] != tr.Value {
			t.Errorf("trial %d: value %g, last logged auc %g", tr.Number, tr.Value, last.Metrics["auc"])
		}
	}
}

func TestConditionalParamsOnlyWhenActive(t *testing.T) {
	dir := t.TempDir()
	writeData(t, dir)
	spec := loadSpec(t, dir, `  metric: logloss
  trials: 6
  sampler: random
  seed: 3
  params:
    - {name: opt, field: training.optimizer, type: categorical, choices: [adam, sgd]}
    - {name: wd, field: training.weight_decay, type: float, low: 0.0001, high: 0.01, log: true, when: {param: opt, in: [adam]}}
`)
	if spec.Search.Maximize() {
		t.Fatal("logloss should be minimised")
	}
	res, sk := run(t, spec, nil)
	seen := map[string]bool{}
	for _, tr := range res.Trials {
		p := sk.m[tr.Number].Params
		seen[p["opt"]] = true
		_, has := p["wd"]
		if has != (p["opt"] == "adam") || has != (p["weight_decay"] != "0") {
			t.Errorf("trial %d: opt %s, params %v: wd must exist (and be applied) exactly for adam", tr.Number, p["opt"], p)
		}
		if p["optimizer"] != p["opt"] {
			t.Errorf("trial %d: optimizer %q, sampled %q", tr.Number, p["optimizer"], p["opt"])
		}
	}
	if !seen["adam"] || !seen["sgd"] {
		t.Errorf("seed 3 sampled only %v; the test needs both branches", seen)
	}
}

func TestASHAPrunesTrials(t *testing.T) {
	dir := t.TempDir()
	writeData(t, dir)
	spec := loadSpec(t, dir, `  metric: auc
  trials: 6
  sampler: random
  seed: 1
  pruner: {type: asha, eta: 2, min_resource: 15}
  params:
    - {name: lr, field: training.learning_rate, type: float, low: 0.000001, high: 0.1, log: true}
`)
	res, sk := run(t, spec, nil)
	pruned := 0
	for _, tr := range res.Trials {
		m := sk.m[tr.Number]
		if tr.State != tune.Pruned {
			continue
		}
		pruned++
		if m.Status != train.Killed || m.Tags[TagState] != "pruned" {
			t.Errorf("pruned trial %d: run status %s, state tag %q", tr.Number, m.Status, m.Tags[TagState])
		}
		if Steps(tr) >= spec.Training.Steps {
			t.Errorf("pruned trial %d trained %d steps, the full budget", tr.Number, Steps(tr))
		}
	}
	for _, tr := range res.Trials {
		if tr.State == tune.Complete && Steps(tr) != spec.Training.Steps {
			t.Errorf("complete trial %d trained %d steps, not the full budget", tr.Number, Steps(tr))
		}
	}
	if pruned == 0 || count(res.Trials, tune.Complete) == 0 {
		t.Errorf("states %v: want pruned and complete trials", states(res.Trials))
	}
}

func TestFailedTrialDoesNotStopStudy(t *testing.T) {
	dir := t.TempDir()
	writeData(t, dir)
	spec := loadSpec(t, dir, `  metric: auc
  trials: 2
  sampler: grid
  params:
    - {name: hidden, field: model.params.hidden, type: categorical, choices: ["[8]", "[0]"]}
`)
	res, sk := run(t, spec, nil)
	if got := states(res.Trials); !slices.Equal(got, []string{"complete", "failed"}) {
		t.Fatalf("states %v, want complete then failed", got)
	}
	failed := res.Trials[1]
	if m := sk.m[1]; m.Status != train.Failed || m.Tags[TagState] != "failed" || !strings.Contains(failed.Error, "hidden") {
		t.Errorf("failed trial: status %s, tags %v, error %q", m.Status, m.Tags, failed.Error)
	}
}

func states(trials []tune.Trial) []string {
	var out []string
	for _, tr := range trials {
		out = append(out, tr.State.String())
	}
	return out
}

func TestSpaceFromSpec(t *testing.T) {
	dir := t.TempDir()
	spec := loadSpec(t, dir, `  metric: auc
  params:
    - {name: layers, field: model.params.hidden, type: categorical, choices: ["[8]", "[16, 8]"]}
    - {name: bs, field: training.batch_size, type: int, low: 32, high: 256, log: true}
    - {name: lr, field: training.learning_rate, type: float, low: 0.001, high: 0.1, when: {param: layers, in: ["[8]"]}}
`)
	space, err := Space(&spec.Search)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Apply(spec, tune.Params{"layers": 1, "bs": 128})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Model.Params["hidden"]; fmt.Sprint(got) != "[16 8]" || out.Training.BatchSize != 128 || out.Training.LearningRate != spec.Training.LearningRate {
		t.Errorf("applied: hidden %v, batch %d, lr %g", got, out.Training.BatchSize, out.Training.LearningRate)
	}
	if fmt.Sprint(spec.Model.Params["hidden"]) != "[16]" || spec.Training.BatchSize != 64 {
		t.Errorf("Apply changed the original spec: %v, batch %d", spec.Model.Params, spec.Training.BatchSize)
	}
	if got := Labels(space, tune.Params{"layers": 0, "bs": 32, "lr": 0.01}); got["layers"] != "[8]" || got["bs"] != "32" || got["lr"] != "0.01" {
		t.Errorf("labels %v", got)
	}
	if _, err := Apply(spec, tune.Params{"bs": 0}); err == nil || !strings.Contains(err.Error(), "training.batch_size") {
		t.Errorf("batch size 0 applied: %v", err)
	}
}
