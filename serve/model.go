package serve

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Model is a loaded model that serve can run. The engine's model artifact
// loader implements it; tests implement it with small Go functions.
//
// Infer must be safe for concurrent use when the model is served with more
// than one instance (BatchConfig.Instances > 1).
type Model interface {
	// Metadata describes the model. It must not change once the model is
	// loaded into a Repository.
	Metadata() Metadata

	// Infer runs the model on one batch. inputs holds one tensor per
	// Metadata().Inputs entry, in that order, each validated against its
	// TensorSpec. When the model is served with batching, the first
	// dimension of every input is the batch (the rows of several requests
	// concatenated) and every output must have that same first dimension;
	// the server splits outputs back to the requests by rows.
	//
	// ctx belongs to the batch, not to any one caller, since a batch
	// serves several; callers' deadlines are enforced while they queue.
	//
	// Infer returns one tensor per Metadata().Outputs entry, in any order.
	// It must not retain or modify inputs after returning. A panic inside
	// Infer fails only the batch it ran on.
	Infer(ctx context.Context, inputs []Tensor) ([]Tensor, error)
}

// Metadata is a model's identity and signature, as reported by the
// protocol's model metadata endpoint.
type Metadata struct {
	Name     string // model name, used in URLs; must be non-empty
	Version  string // version label, for example "3"; must be non-empty
	Platform string // framework or backend, for example "mlenv" or "onnx"
	Inputs   []TensorSpec
	Outputs  []TensorSpec
}

// TensorSpec describes one model input or output.
type TensorSpec struct {
	Name     string
	Datatype Datatype
	// Shape gives each dimension; -1 marks a variable dimension. For a
	// batched model the first dimension is the batch and must be -1.
	Shape []int64
	// AllowNonFinite lets an FP32/FP64 input carry NaN and ±Inf; by default
	// requests with such values are rejected as bad requests.
	AllowNonFinite bool
}

// validate checks the metadata for loading: names, datatypes, shapes, and
// for batched models (batched true) a variable first dimension everywhere.
func (m Metadata) validate(batched bool) error {
	if m.Name == "" {
		return errors.New("model metadata: empty name")
	}
	if m.Version == "" {
		return fmt.Errorf("model %q: empty version", m.Name)
	}
	if len(m.Inputs) == 0 || len(m.Outputs) == 0 {
		return fmt.Errorf("model %q: needs at least one input and one output", m.Name)
	}
	for _, group := range []struct {
		kind  string
		specs []TensorSpec
	}{{"input", m.Inputs}, {"output", m.Outputs}} {
		kind, specs := group.kind, group.specs
		seen := map[string]bool{}
		for _, s := range specs {
			if s.Name == "" || seen[s.Name] {
				return fmt.Errorf("model %q: %s name %q is empty or repeated", m.Name, kind, s.Name)
			}
			seen[s.Name] = true
			if !s.Datatype.Valid() {
				return fmt.Errorf("model %q: %s %q: unsupported datatype %q", m.Name, kind, s.Name, s.Datatype)
			}
			for i, d := range s.Shape {
				if d < -1 {
					return fmt.Errorf("model %q: %s %q: dimension %d is %d", m.Name, kind, s.Name, i, d)
				}
			}
			if batched && !s.batchable() {
				return fmt.Errorf("model %q: %s %q: batching needs a variable first dimension, shape is %v", m.Name, kind, s.Name, s.Shape)
			}
		}
	}
	return nil
}

// Batchable reports whether the model can be served with dynamic batching:
// every input and output has a variable first dimension. A model exported
// with a fixed batch size is not batchable.
func (m Metadata) Batchable() bool {
	for _, s := range slices.Concat(m.Inputs, m.Outputs) {
		if !s.batchable() {
			return false
		}
	}
	return true
}

// batchable reports whether the tensor's first dimension is variable.
func (s TensorSpec) batchable() bool { return len(s.Shape) > 0 && s.Shape[0] == -1 }

// shapeMatches reports whether shape fits spec, where -1 in spec matches any
// size.
func shapeMatches(spec, shape []int64) bool {
	if len(spec) != len(shape) {
		return false
	}
	for i, d := range spec {
		if d != -1 && d != shape[i] {
			return false
		}
	}
	return true
}

// checkInputs validates a request's inputs against the model signature and
// returns them in signature order. Errors name the offending input.
func (m Metadata) checkInputs(inputs []Tensor) ([]Tensor, error) {
	ordered := make([]Tensor, len(m.Inputs))
	found := make([]bool, len(m.Inputs))
	for i, t := range inputs {
		j := i // clients usually send the inputs in signature order
		if j >= len(m.Inputs) || m.Inputs[j].Name != t.Name {
			j = slices.IndexFunc(m.Inputs, func(s TensorSpec) bool { return s.Name == t.Name })
		}
		if j < 0 {
			return nil, fmt.Errorf("inputs[%d].name: model %q has no input %q", i, m.Name, t.Name)
		}
		if found[j] {
			return nil, fmt.Errorf("inputs[%d].name: input %q given twice", i, t.Name)
		}
		found[j] = true
		spec := m.Inputs[j]
		if t.Datatype != spec.Datatype {
			return nil, fmt.Errorf("input %q: datatype %s, model expects %s", t.Name, t.Datatype, spec.Datatype)
		}
		if !shapeMatches(spec.Shape, t.Shape) {
			return nil, fmt.Errorf("input %q: shape %v does not match model shape %v", t.Name, t.Shape, spec.Shape)
		}
		if err := t.Validate(); err != nil {
			return nil, err
		}
		if !spec.AllowNonFinite {
			if err := checkFinite(t); err != nil {
				return nil, err
			}
		}
		ordered[j] = t
	}
	for j, ok := range found {
		if !ok {
			return nil, fmt.Errorf("inputs: missing input %q of model %q", m.Inputs[j].Name, m.Name)
		}
	}
	return ordered, nil
}

// checkOutputs validates a model's outputs against its signature and returns
// them in signature order; batch, when non-negative, is the required first
// dimension. A failure here is the model's fault, not the caller's.
func (m Metadata) checkOutputs(outputs []Tensor, batch int64) ([]Tensor, error) {
	if len(outputs) != len(m.Outputs) {
		return nil, fmt.Errorf("model %q returned %d outputs, signature has %d", m.Name, len(outputs), len(m.Outputs))
	}
	ordered := make([]Tensor, len(m.Outputs))
	for _, t := range outputs {
		j := slices.IndexFunc(m.Outputs, func(s TensorSpec) bool { return s.Name == t.Name })
		if j < 0 || ordered[j].Name != "" {
			return nil, fmt.Errorf("model %q returned unknown or repeated output %q", m.Name, t.Name)
		}
		spec := m.Outputs[j]
		if t.Datatype != spec.Datatype || !shapeMatches(spec.Shape, t.Shape) {
			return nil, fmt.Errorf("model %q output %q: %s%v does not match signature %s%v", m.Name, t.Name, t.Datatype, t.Shape, spec.Datatype, spec.Shape)
		}
		if batch >= 0 && t.Shape[0] != batch {
			return nil, fmt.Errorf("model %q output %q: first dimension %d, batch has %d rows", m.Name, t.Name, t.Shape[0], batch)
		}
		if err := t.Validate(); err != nil {
			return nil, fmt.Errorf("model %q: %w", m.Name, err)
		}
		ordered[j] = t
	}
	return ordered, nil
}
