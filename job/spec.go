// Package job defines the job spec: the YAML file in which a team describes
// a training job (data, features, model, training, tracking, resources)
// once. Load decodes a file strictly: unknown keys, wrong types and
// impossible values are errors of the form
//
//	file:line:column: field.path: what is wrong (allowed: a, b, c)
//
// Defaults live in one place (Default and resolve in defaults.go) and are
// documented field by field in docs/jobspec.md.
package job

import (
	"bytes"
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/mlenv/mlenv/data"
)

// Spec is a resolved job spec. Build one with Load or Parse; a Spec built in
// code should start from Default and be checked with Validate.
type Spec struct {
	Name       string    `yaml:"name"`
	Experiment string    `yaml:"experiment"`
	Data       Data      `yaml:"data"`
	Model      Model     `yaml:"model"`
	Training   Training  `yaml:"training"`
	Tracking   Tracking  `yaml:"tracking"`
	Resources  Resources `yaml:"resources"`
	Search     Search    `yaml:"search,omitempty"`

	file string         // the file it was read from, for error positions
	pos  map[string]pos // field path -> position of its value in file
}

// Data is the data section: the splits, the features and the label.
type Data struct {
	Train      data.Source `yaml:"train"`
	Validation data.Source `yaml:"validation,omitempty"`
	Test       data.Source `yaml:"test,omitempty"`
	// Features are the model inputs, in order.
	Features []data.Feature `yaml:"features"`
	Label    data.Label     `yaml:"label"`
	// BadRows is fail (stop at the first malformed row) or skip (skip and
	// count malformed rows).
	BadRows string `yaml:"bad_rows"`
	// ShuffleBuffer is the number of examples the training shuffle buffer
	// holds; 0 disables shuffling.
	ShuffleBuffer int `yaml:"shuffle_buffer"`
	// Prefetch is the number of batches prepared ahead in the background.
	Prefetch int `yaml:"prefetch"`
	// InMemory keeps each split's encoded examples in memory after the
	// first epoch, so later epochs read no file and shuffle fully.
	InMemory bool `yaml:"in_memory"`
}

// Model picks a zoo architecture. Params are the architecture's own
// parameters; the model zoo validates them (use Spec.FieldError for
// positioned errors under "model.params").
type Model struct {
	Arch   string         `yaml:"arch"`
	Params map[string]any `yaml:"params,omitempty"`
}

// Training configures the optimiser and the loop.
type Training struct {
	Optimizer    string   `yaml:"optimizer"`
	LearningRate float64  `yaml:"learning_rate"`
	WeightDecay  float64  `yaml:"weight_decay"`
	Schedule     Schedule `yaml:"schedule"`
	BatchSize    int      `yaml:"batch_size"`
	// Exactly one of Epochs and Steps is positive.
	Epochs int `yaml:"epochs,omitempty"`
	Steps  int `yaml:"steps,omitempty"`
	// EvalEvery is the number of steps between evaluations on the
	// validation split; 0 evaluates at the end of each epoch.
	EvalEvery     int           `yaml:"eval_every"`
	EarlyStopping EarlyStopping `yaml:"early_stopping,omitempty"`
	Seed          int64         `yaml:"seed"`
	// CheckpointEvery is the number of steps between checkpoints; 0 writes
	// one at the end of each epoch.
	CheckpointEvery int `yaml:"checkpoint_every"`
}

// Schedule is the learning-rate schedule. The rate rises linearly over
// WarmupSteps, then follows Type: constant; linear or cosine decay to
// MinLearningRate at the last step; step multiplies by Gamma every
// DecaySteps.
type Schedule struct {
	Type            string  `yaml:"type"`
	WarmupSteps     int     `yaml:"warmup_steps"`
	DecaySteps      int     `yaml:"decay_steps,omitempty"`
	Gamma           float64 `yaml:"gamma,omitempty"`
	MinLearningRate float64 `yaml:"min_learning_rate"`
}

// EarlyStopping stops training when Metric on the validation split has not
// improved by more than MinDelta for Patience evaluations. An empty Metric
// disables it.
type EarlyStopping struct {
	Metric   string  `yaml:"metric,omitempty"`
	Patience int     `yaml:"patience,omitempty"`
	Mode     string  `yaml:"mode,omitempty"`
	MinDelta float64 `yaml:"min_delta,omitempty"`
}

// Tracking says where runs are recorded: URI "embedded" keeps them in a
// local store under Dir; an http(s) URI names an mlenv or MLflow server.
type Tracking struct {
	URI string `yaml:"uri"`
	Dir string `yaml:"dir,omitempty"`
}

// Resources says what the job may use.
type Resources struct {
	// Threads bounds compute threads per worker; 0 means all cores.
	Threads int `yaml:"threads"`
	// Executor runs the workers: local, slurm or kubernetes.
	Executor string `yaml:"executor"`
	// Workers is the number of data-parallel worker processes.
	Workers int `yaml:"workers"`
}

// File returns the path the spec was loaded from ("" when built in code).
func (s *Spec) File() string { return s.file }

// YAML renders the resolved spec, defaults included, as YAML. It is what
// `mlenv train --dry-run` prints and what a run records as its parameters;
// Parse of the output yields an equal spec.
func (s *Spec) YAML() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(s); err != nil {
		return nil, fmt.Errorf("job: render spec: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("job: render spec: %w", err)
	}
	return buf.Bytes(), nil
}
