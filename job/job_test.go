package job

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mlenv/mlenv/data"
	"github.com/mlenv/mlenv/models"
)

const goodSpec = `name: ctr-dlrm
data:
  train: {path: train-*.parquet}
  validation: {path: valid.csv}
  features:
    - {name: I1, type: numeric, log: true}
    - {name: I2, type: numeric, buckets: {quantiles: 8}}
    - {name: C1, type: categorical, vocab: {min_count: 5, max_size: 1000}}
    - {name: C2, type: categorical, hash_buckets: 4096}
    - {name: tags, type: multi_hot, max_len: 20, vocab_from: C1}
  label: {name: click}
model:
  arch: dlrm
  params:
    embedding_dim: 16
    bottom: [64, 16]
training:
  steps: 1000
  schedule: {type: cosine, warmup_steps: 100}
  early_stopping: {metric: auc}
`

func TestLoadResolvesDefaults(t *testing.T) {
	s, err := Parse("job.yaml", []byte(goodSpec))
	if err != nil {
		t.Fatal(err)
	}
	if s.Experiment != "Default" || s.Training.BatchSize != 512 || s.Training.Optimizer != "adam" {
		t.Errorf("top-level defaults not filled: %+v", s.Training)
	}
	if s.Training.Epochs != 0 || s.Training.Steps != 1000 {
		t.Errorf("steps given: want epochs 0 steps 1000, got %d %d", s.Training.Epochs, s.Training.Steps)
	}
	if es := s.Training.EarlyStopping; es.Mode != "max" || es.Patience != 3 {
		t.Errorf("early stopping defaults for auc: got %+v", es)
	}
	if s.Data.Train.Format != data.FormatParquet || s.Data.Validation.Format != data.FormatCSV || s.Data.Validation.Delimiter != "," {
		t.Errorf("formats not inferred: %+v %+v", s.Data.Train, s.Data.Validation)
	}
	want := []data.Feature{
		{Name: "I1", Column: "I1", Type: data.Numeric, Log: true, Normalize: data.NormStandard},
		{Name: "I2", Column: "I2", Type: data.Numeric, Buckets: data.Buckets{Quantiles: 8}},
		{Name: "C1", Column: "C1", Type: data.Categorical, Vocab: data.Vocab{MinCount: 5, MaxSize: 1000, OOVBuckets: 1}},
		{Name: "C2", Column: "C2", Type: data.Categorical, HashBuckets: 4096},
		{Name: "tags", Column: "tags", Type: data.MultiHot, Separator: "|", MaxLen: 20, VocabFrom: "C1"},
	}
	if !reflect.DeepEqual(s.Data.Features, want) {
		t.Errorf("features:\n got %+v\nwant %+v", s.Data.Features, want)
	}
	if s.Model.Params["embedding_dim"] != 16 {
		t.Errorf("model params: %v", s.Model.Params)
	}
}

func TestYAMLRoundTrip(t *testing.T) {
	s, err := Parse("job.yaml", []byte(goodSpec))
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.YAML()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse("resolved.yaml", out)
	if err != nil {
		t.Fatalf("resolved spec does not parse: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(s.Data, again.Data) || !reflect.DeepEqual(s.Training, again.Training) ||
		!reflect.DeepEqual(s.Model, again.Model) || !reflect.DeepEqual(s.Tracking, again.Tracking) {
		t.Errorf("round trip changed the spec:\n%s", out)
	}
	if !strings.Contains(string(out), "batch_size: 512") {
		t.Errorf("resolved spec lacks defaults:\n%s", out)
	}
}

func TestLoadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "job.yaml")
	if err := os.WriteFile(path, []byte(goodSpec+"  batch_size: -4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	want := path + ":21:15: training.batch_size: -4 is too small (minimum 1)"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

// TestErrors checks exact messages and positions of bad specs. Each case
// replaces one line of base.
func TestErrors(t *testing.T) {
	const base = `name: j
data:
  train: {path: t.parquet}
  features:
    - name: x
      type: numeric
model: {arch: mlp}
training:
  batch_size: 64
`
	cases := []struct{ old, new, want string }{
		{"  batch_size: 64", "  batch_sise: 64",
			"job.yaml:9:3: training.batch_sise: unknown field (allowed: batch_size, checkpoint_every, early_stopping, epochs, eval_every, learning_rate, optimizer, schedule, seed, steps, weight_decay)"},
		{"  batch_size: 64", "  batch_size: lots",
			`job.yaml:9:15: training.batch_size: want an integer, got "lots"`},
		{"  batch_size: 64", "  batch_size: -1",
			"job.yaml:9:15: training.batch_size: -1 is too small (minimum 1)"},
		{"  batch_size: 64", "  batch_size: [1]",
			"job.yaml:9:15: training.batch_size: want an integer, got a list"},
		{"      type: numeric", "      type: numerical",
			`job.yaml:6:13: data.features[0].type: "numerical" is not allowed (allowed: categorical, image, multi_hot, numeric)`},
		{"model: {arch: mlp}", "model: {arch: gpt}",
			`job.yaml:7:15: model.arch: "gpt" is not allowed (allowed: cnn, dcn_v2, dlrm, logistic, mlp, seq_transformer, two_tower, wide_deep)`},
		{"      type: numeric", "      type: numeric\n      hash_buckets: 10",
			"job.yaml:7:21: data.features[0].hash_buckets: only allowed for categorical and multi_hot features"},
		{"  train: {path: t.parquet}", "  train: {path: t.bin}",
			`job.yaml:3:17: data.train.path: cannot infer the format of "t.bin" from its name; set data.train.format (allowed: csv, idx, parquet)`},
		{"  batch_size: 64", "  batch_size: 64\n  epochs: 2\n  steps: 10",
			"job.yaml:11:10: training.steps: give epochs or steps, not both"},
		{"  batch_size: 64", "  batch_size: 64\n  learning_rate: true",
			`job.yaml:10:18: training.learning_rate: want a finite number, got "true"`},
		{"name: j", "name: j\nname: k", "job.yaml:2:1: name: field given twice"},
		{"name: j", "name: ''", "job.yaml:1:7: name: required"},
		{"      type: numeric", "      type: image",
			"job.yaml:6:13: data.features[0].type: image features need an idx training source"},
		{"      type: numeric", "      type: categorical\n      hash_buckets: 10\n      vocab: {min_count: 2}",
			"job.yaml:8:7: data.features[0].vocab: only allowed without hash_buckets (hashing needs no vocabulary)"},
		{"      type: numeric", "      type: numeric\n      buckets: {boundaries: [1, 1]}",
			"job.yaml:7:33: data.features[0].buckets.boundaries[1]: boundaries must increase strictly"},
		{"  batch_size: 64", "  early_stopping: {metric: recall@0}",
			"job.yaml:9:28: training.early_stopping.metric: \"recall@0\": recall@K needs a positive integer K\n" +
				"job.yaml:9:28: training.early_stopping.metric: early stopping needs data.validation"},
		{"  batch_size: 64", "  early_stopping: {metric: auc}",
			"job.yaml:9:28: training.early_stopping.metric: early stopping needs data.validation"},
		{"model: {arch: mlp}", "model: {arch: mlp}\ntracking: {uri: 'ftp://x'}",
			`job.yaml:8:17: tracking.uri: "ftp://x" is not allowed (allowed: embedded, an http:// or https:// server URL)`},
		{"  train: {path: t.parquet}", "  train: {path: t.parquet}\n  label: {num_classes: 3}",
			"job.yaml:4:24: data.label.num_classes: only allowed for multiclass labels"},
		{"  train: {path: t.parquet}", "  train: 5",
			`job.yaml:3:10: data.train: want a mapping, got "5"`},
		{"  batch_size: 64", "  learning_rate: 0.01\n  schedule: {type: cosine, min_learning_rate: 0.1}",
			"job.yaml:10:47: training.schedule.min_learning_rate: 0.1 must be at least 0 and below learning_rate"},
		{"      type: numeric", "      type: categorical\n      vocab_from: y",
			`job.yaml:7:19: data.features[0].vocab_from: "y" names no feature`},
		{"      type: numeric", "      type: categorical\n      vocab_from: x",
			"job.yaml:7:19: data.features[0].vocab_from: a feature cannot share its own vocabulary"},
		{"      type: numeric", "      type: numeric\n      vocab_from: x",
			"job.yaml:7:19: data.features[0].vocab_from: only allowed for categorical and multi_hot features"},
		{"  batch_size: 64", "  schedule: {type: step}",
			"job.yaml:9:3: training.schedule.decay_steps: 0 is too small (minimum 1)"},
	}
	for _, c := range cases {
		src := strings.Replace(base, c.old, c.new, 1)
		_, err := Parse("job.yaml", []byte(src))
		if err == nil || err.Error() != c.want {
			t.Errorf("%q -> %q:\n got %v\nwant %s", c.old, c.new, err, c.want)
		}
		var e *Error
		if err != nil && !errors.As(err, &e) {
			t.Errorf("%q: error %T is not an *Error", c.new, err)
		}
	}
	if _, err := Parse("job.yaml", []byte(base)); err != nil {
		t.Errorf("base spec: %v", err)
	}
}

func TestErrorsListEveryProblem(t *testing.T) {
	src := "name: j\ndata:\n  train: {path: a.csv, labels: b}\nmodel: {arch: mlp}\nresources: {workers: 0}\n"
	_, err := Parse("j.yaml", []byte(src))
	want := []string{
		"j.yaml:3:32: data.train.labels: only allowed for idx sources",
		"j.yaml:2:1: data.features: at least one feature is required",
		"j.yaml:5:22: resources.workers: 0 is too small (minimum 1)",
	}
	if err == nil {
		t.Fatal("no error")
	}
	got := strings.Split(err.Error(), "\n")
	// Errors come ordered by position; data.features is absent, so it is
	// placed at the enclosing data field.
	wantSorted := []string{want[1], want[0], want[2]}
	if !reflect.DeepEqual(got, wantSorted) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantSorted, "\n"))
	}
}

func TestFieldErrorForModelParams(t *testing.T) {
	s, err := Parse("job.yaml", []byte(goodSpec))
	if err != nil {
		t.Fatal(err)
	}
	got := s.FieldError("model.params.bottom[1]", "must be %d", 8).Error()
	if want := "job.yaml:16:18: model.params.bottom[1]: must be 8"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	got = s.FieldError("model.params.top", "required").Error()
	if want := "job.yaml:14:3: model.params.top: required"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestValidateCodeBuiltSpec(t *testing.T) {
	s := Default()
	s.Name = "x"
	s.Model.Arch = "mlp"
	s.Data.Train = data.Source{Path: "a.parquet", Format: data.FormatParquet}
	s.Data.Features = []data.Feature{{Name: "a", Column: "a", Type: data.Numeric, Normalize: data.NormNone}}
	s.Tracking.Dir = ".mlenv"
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	s.Training.BatchSize = 0
	if err := s.Validate(); err == nil || err.Error() != "training.batch_size: 0 is too small (minimum 1)" {
		t.Errorf("got %v", err)
	}
}

func TestIDXSpec(t *testing.T) {
	src := `name: fashion
data:
  train: {path: train-images-idx3-ubyte.gz, labels: train-labels-idx1-ubyte.gz}
  features: [{name: image, type: image}]
  label: {type: multiclass, num_classes: 10}
model: {arch: cnn}
`
	s, err := Parse("f.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if s.Data.Train.Format != data.FormatIDX || s.Data.Features[0].Normalize != data.NormScale || s.Data.Label.Name != "label" {
		t.Errorf("resolved %+v", s.Data)
	}
	bad := strings.Replace(src, ", labels: train-labels-idx1-ubyte.gz", "", 1)
	bad = strings.Replace(bad, "[{name: image, type: image}]", "[{name: image, type: image}, {name: x, type: numeric}]", 1)
	_, err = Parse("f.yaml", []byte(bad))
	want := "f.yaml:3:3: data.train.labels: required for idx sources (the label files)\n" +
		"f.yaml:4:58: data.features[1].type: an idx source provides only an image feature"
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

// Architectures registered with the model zoo, custom ones included, are
// valid at the time the spec is validated, and the error lists them.
func TestCustomArch(t *testing.T) {
	src := strings.Replace(goodSpec, "arch: dlrm", "arch: job_test_custom", 1)
	_, err := Parse("job.yaml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), `job.yaml:13:9: model.arch: "job_test_custom" is not allowed (allowed: cnn, dcn_v2, dlrm,`) {
		t.Fatalf("unregistered arch: %v", err)
	}
	models.Register("job_test_custom", func(models.Config) (models.Model, error) { return nil, errors.New("not built") })
	if _, err := Parse("job.yaml", []byte(src)); err != nil {
		t.Fatalf("registered custom arch: %v", err)
	}
	src = strings.Replace(goodSpec, "arch: dlrm", "arch: gpt", 1)
	if _, err := Parse("job.yaml", []byte(src)); err == nil || !strings.Contains(err.Error(), "job_test_custom, logistic") {
		t.Fatalf("allowed list without the custom arch: %v", err)
	}
}
