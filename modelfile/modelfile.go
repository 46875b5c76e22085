// Package modelfile reads and writes mlenv's model artifact: one directory
// holding model.json (the architecture, its parameters, the fitted feature
// transforms, the input/output signature and the mlenv version that wrote
// it) and weights.safetensors (the network's state dict). The same
// directory is what training writes, what the registry versions and what
// serving loads, so a loaded Model applies exactly the preprocessing the
// network was trained with.
package modelfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/mlenv/mlenv/buildinfo"
	"github.com/mlenv/mlenv/data"
	"github.com/mlenv/mlenv/models"
	"github.com/mlenv/mlenv/nn"
	"github.com/mlenv/mlenv/tensor"
)

// File names inside an artifact directory, and the format version of
// model.json this package writes and reads.
const (
	MetaFile    = "model.json"
	WeightsFile = "weights.safetensors"
	Format      = 1
)

// ErrFormat marks an artifact this version cannot read.
var ErrFormat = errors.New("unsupported model artifact")

// Meta is the content of model.json.
type Meta struct {
	Format int    `json:"format"`
	Name   string `json:"name"`
	// Arch and Params rebuild the network with models.Build.
	Arch       string           `json:"arch"`
	Params     map[string]any   `json:"params,omitempty"`
	Transforms *data.Transforms `json:"transforms"`
	Signature  Signature        `json:"signature"`
	// Version and Commit identify the mlenv build that wrote the artifact.
	Version string `json:"mlenv_version"`
	Commit  string `json:"mlenv_commit,omitempty"`
}

// Signature lists the raw input columns a prediction needs and the output
// it returns.
type Signature struct {
	Inputs []Column `json:"inputs"`
	Output Output   `json:"output"`
}

// Column is one raw input column and the feature type that reads it.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Output describes the prediction: Kind is probability (binary label,
// one column), probabilities (multiclass, one column per class) or value
// (regression, one column).
type Output struct {
	Kind  string `json:"kind"`
	Width int    `json:"width"`
}

// Model is a network with its fitted transforms and metadata. Predict and
// PredictBatch are safe for concurrent use (calls are serialised); the Net
// must not be trained while a Model predicts with it.
type Model struct {
	Meta Meta
	Net  models.Model

	mu    sync.Mutex
	arena *tensor.Arena
}

// New wraps a trained network. params are the architecture parameters it
// was built from; t are the transforms fitted for it.
func New(name, arch string, params map[string]any, t *data.Transforms, net models.Model) *Model {
	info := buildinfo.Read()
	m := &Model{Net: net, Meta: Meta{
		Format: Format, Name: name, Arch: arch, Params: params, Transforms: t,
		Signature: signature(t), Version: info.Version, Commit: info.Commit,
	}}
	m.arena = tensor.NewArena()
	m.arena.SetGrad(false)
	return m
}

func signature(t *data.Transforms) Signature {
	var s Signature
	seen := map[string]bool{}
	for _, f := range t.Features {
		if !seen[f.Column] {
			seen[f.Column] = true
			s.Inputs = append(s.Inputs, Column{Name: f.Column, Type: f.Type})
		}
	}
	s.Output = Output{Kind: "probability", Width: models.Outputs(t.Label)}
	switch t.Label.Type {
	case data.Multiclass:
		s.Output.Kind = "probabilities"
	case data.Regression:
		s.Output.Kind = "value"
	}
	return s
}

// Save writes the artifact into dir, creating it if needed. Each file is
// written to a temporary name and renamed, so a reader never sees a half-
// written file.
func (m *Model) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("modelfile: %w", err)
	}
	meta, err := json.MarshalIndent(m.Meta, "", "  ")
	if err != nil {
		return fmt.Errorf("modelfile: encode %s: %w", MetaFile, err)
	}
	if err := writeAtomic(filepath.Join(dir, WeightsFile), func(path string) error { return nn.SaveFile(path, m.Net) }); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, MetaFile), func(path string) error { return os.WriteFile(path, append(meta, '\n'), 0o644) })
}

// writeAtomic calls write with a temporary path next to path, then renames
// it to path.
func writeAtomic(path string, write func(tmp string) error) error {
	tmp := path + ".tmp"
	if err := write(tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("modelfile: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("modelfile: %w", err)
	}
	return nil
}

// Load reads the artifact in dir: it rebuilds the registered architecture
// named in model.json and loads the weights into it. An artifact of another
// format version is ErrFormat; an architecture this binary does not have
// (a custom model of another binary) is an error naming it.
func Load(dir string) (*Model, error) {
	b, err := os.ReadFile(filepath.Join(dir, MetaFile))
	if err != nil {
		return nil, fmt.Errorf("modelfile: %w", err)
	}
	var meta Meta
	if err := json.Unmarshal(b, &meta); err != nil {
		return nil, fmt.Errorf("modelfile: %s: %w", filepath.Join(dir, MetaFile), err)
	}
	if meta.Format != Format {
		return nil, fmt.Errorf("modelfile: %s: format %d: %w (this mlenv reads format %d)", dir, meta.Format, ErrFormat, Format)
	}
	if meta.Transforms == nil {
		return nil, fmt.Errorf("modelfile: %s: no transforms", filepath.Join(dir, MetaFile))
	}
	net, err := models.Build(meta.Arch, meta.Params, meta.Transforms.Schema(), 0)
	if err != nil {
		return nil, fmt.Errorf("modelfile: %s: %w", dir, err)
	}
	if err := nn.LoadFile(filepath.Join(dir, WeightsFile), net); err != nil {
		return nil, fmt.Errorf("modelfile: %s: %w", dir, err)
	}
	m := New(meta.Name, meta.Arch, meta.Params, meta.Transforms, net)
	m.Meta = meta
	return m, nil
}
