// Package nn holds neural-network layers and losses built on package
// tensor's autograd. Models are plain Go structs that hold layers and call
// them in a Forward method, as in PyTorch:
//
//	type Net struct{ MLP *nn.MLP }
//	func (n *Net) Parameters() []nn.NamedParam { return nn.Prefix("mlp", n.MLP) }
//	func (n *Net) Forward(x *tensor.Tensor) *tensor.Tensor { return n.MLP.Forward(x) }
//
// Every layer reports its parameters with deterministic, PyTorch-style
// dotted names ("layers.0.weight"), so state dicts round-trip through
// safetensors files with PyTorch modules of the same structure.
package nn

import (
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/mlenv/mlenv/tensor"
)

// NamedParam is a parameter (or buffer) tensor with its state-dict name.
type NamedParam struct {
	Name   string
	Tensor *tensor.Tensor
}

// Module is anything with parameters. Parameters must return the same
// tensors in the same order on every call.
type Module interface {
	Parameters() []NamedParam
}

// Layer is a Module mapping one tensor to another.
type Layer interface {
	Module
	Forward(x *tensor.Tensor) *tensor.Tensor
}

// Trainable is implemented by modules that behave differently in training
// and evaluation (Dropout, BatchNorm) and by containers of such modules.
type Trainable interface {
	SetTraining(training bool)
}

// Buffered is implemented by modules with state that belongs in the state
// dict but is not trained by gradient (BatchNorm's running statistics).
type Buffered interface {
	Buffers() []NamedParam
}

// SetTraining switches m between training and evaluation mode if it cares.
func SetTraining(m Module, training bool) {
	if t, ok := m.(Trainable); ok {
		t.SetTraining(training)
	}
}

// Prefix returns the parameters of m with prefix + "." prepended to each name.
func Prefix(prefix string, m Module) []NamedParam {
	return prefixed(prefix, m.Parameters())
}

func prefixed(prefix string, ps []NamedParam) []NamedParam {
	out := make([]NamedParam, len(ps))
	for i, p := range ps {
		out[i] = NamedParam{prefix + "." + p.Name, p.Tensor}
	}
	return out
}

// Tensors returns the parameter tensors of m in order, for optimizers.
func Tensors(m Module) []*tensor.Tensor {
	ps := m.Parameters()
	out := make([]*tensor.Tensor, len(ps))
	for i, p := range ps {
		out[i] = p.Tensor
	}
	return out
}

// ZeroGrad clears the gradients of all parameters of m.
func ZeroGrad(m Module) {
	for _, p := range m.Parameters() {
		p.Tensor.ZeroGrad()
	}
}

// state returns m's parameters followed by its buffers, in order.
func state(m Module) []NamedParam {
	ps := m.Parameters()
	if b, ok := m.(Buffered); ok {
		ps = append(slices.Clip(ps), b.Buffers()...)
	}
	return ps
}

// StateDict returns m's parameters and buffers by name. It panics on a
// duplicate name, which is a bug in the module's Parameters.
func StateDict(m Module) map[string]*tensor.Tensor {
	ps := state(m)
	sd := make(map[string]*tensor.Tensor, len(ps))
	for _, p := range ps {
		if _, dup := sd[p.Name]; dup {
			panic(fmt.Sprintf("nn: duplicate parameter name %q", p.Name))
		}
		sd[p.Name] = p.Tensor
	}
	return sd
}

// Save writes m's state dict to w in safetensors format.
func Save(w io.Writer, m Module) error {
	return tensor.WriteSafetensors(w, StateDict(m), map[string]string{"format": "pt"})
}

// Load reads a safetensors state dict from r and copies it into m's
// parameters and buffers. Every name of m must be present with the same
// shape and no extra names may appear; otherwise nothing is changed and the
// error names the offending entry.
func Load(r io.Reader, m Module) error {
	src, _, err := tensor.ReadSafetensors(r)
	if err != nil {
		return err
	}
	return LoadStateDict(m, src)
}

// LoadStateDict copies the tensors of src into m's parameters and buffers,
// with the same checks as Load.
func LoadStateDict(m Module, src map[string]*tensor.Tensor) error {
	dst := StateDict(m)
	ps := state(m)
	for _, p := range ps {
		s, ok := src[p.Name]
		if !ok {
			return fmt.Errorf("nn: state dict lacks %q (shape %v)", p.Name, p.Tensor.Shape())
		}
		if !slices.Equal(s.Shape(), p.Tensor.Shape()) {
			return fmt.Errorf("nn: state dict entry %q has shape %v, model wants %v", p.Name, s.Shape(), p.Tensor.Shape())
		}
	}
	var extra []string
	for name := range src {
		if _, ok := dst[name]; !ok {
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		return fmt.Errorf("nn: state dict has unexpected entries %q", extra)
	}
	for _, p := range ps {
		copy(p.Tensor.Data(), src[p.Name].Data())
	}
	return nil
}

// SaveFile writes m's state dict to the safetensors file at path.
func SaveFile(path string, m Module) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("nn: save: %w", err)
	}
	if err := Save(f, m); err != nil {
		f.Close()
		return fmt.Errorf("nn: save %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("nn: save %s: %w", path, err)
	}
	return nil
}

// LoadFile reads the safetensors file at path into m (see Load).
func LoadFile(path string, m Module) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("nn: load: %w", err)
	}
	defer f.Close()
	if err := Load(f, m); err != nil {
		return fmt.Errorf("nn: load %s: %w", path, err)
	}
	return nil
}
