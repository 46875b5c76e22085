// Package models is mlenv's model zoo: network architectures built from a
// job spec's model section and the schema of the fitted features, and a
// registry to which user Go code adds its own architectures.
//
// An architecture is a Builder registered under a name from an init
// function:
//
//	func init() { models.Register("my_net", buildMyNet) }
//
// The trainer and the model artifact find architectures by name only, so a
// custom model gets training, checkpoints, artifacts and serving for free.
// Building panics nowhere on bad parameters: a Builder returns a
// *ParamError naming the parameter, which the CLI positions in the spec
// file.
package models

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/mlenv/mlenv/data"
	"github.com/mlenv/mlenv/nn"
	"github.com/mlenv/mlenv/tensor"
)

// Model is a network that maps a batch of encoded examples to outputs.
// Forward returns [n, Outputs] values: logits for binary and multiclass
// labels, predictions for regression. A Model is not safe for concurrent
// use; give each goroutine its own arena and serialise calls.
type Model interface {
	nn.Module
	Forward(in *Input) *tensor.Tensor
}

// Losser is implemented by models that train with their own loss rather
// than the one of their label type (two_tower's in-batch softmax). Loss
// returns a scalar tensor for the batch; labels are in.Labels.
type Losser interface {
	Loss(in *Input) *tensor.Tensor
}

// Config is what a Builder gets: the architecture's parameters from the
// spec, the schema of the fitted features, the number of outputs the label
// needs, and a seeded source for initial weights.
type Config struct {
	Params  *Params
	Schema  data.Schema
	Outputs int
	Rand    *rand.Rand
}

// Builder makes a model from a Config. It returns a *ParamError for a bad
// or missing parameter and must not keep cfg.Params.
type Builder func(cfg Config) (Model, error)

var (
	mu       sync.RWMutex
	builders = map[string]Builder{}
)

// Register makes an architecture available under name. It is meant to be
// called from init functions and panics if name is empty, b is nil or name
// is already registered.
func Register(name string, b Builder) {
	if name == "" {
		panic("models: Register with an empty name")
	}
	if b == nil {
		panic("models: Register of nil builder for " + name)
	}
	mu.Lock()
	defer mu.Unlock()
	if _, dup := builders[name]; dup {
		panic("models: Register called twice for " + name)
	}
	builders[name] = b
}

// Names returns the registered architecture names, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	return slices.Sorted(maps.Keys(builders))
}

// unregisterAll empties the registry; tests restore it afterwards.
func unregisterAll() map[string]Builder {
	mu.Lock()
	defer mu.Unlock()
	old := builders
	builders = map[string]Builder{}
	return old
}

// Outputs is the number of model outputs a label needs: NumClasses for a
// multiclass label, else 1.
func Outputs(l data.Label) int {
	if l.Type == data.Multiclass {
		return l.NumClasses
	}
	return 1
}

// Build makes the architecture arch for the features of schema, with
// weights drawn from seed. Errors name the architecture; a bad parameter
// is a *ParamError (use errors.As). A panic inside the builder, a bug in
// it, is returned as an error.
func Build(arch string, params map[string]any, schema data.Schema, seed uint64) (m Model, err error) {
	mu.RLock()
	b, ok := builders[arch]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("models: unknown architecture %q (registered: %v)", arch, Names())
	}
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("models: building %s: panic: %v", arch, r)
		}
	}()
	p := &Params{values: params, used: map[string]bool{}}
	m, err = b(Config{Params: p, Schema: schema, Outputs: Outputs(schema.Label), Rand: rand.New(rand.NewPCG(seed, 0x6d6f64656c73))})
	if err == nil {
		err = p.unknown()
	}
	if err != nil {
		return nil, fmt.Errorf("models: %s: %w", arch, err)
	}
	return m, nil
}
