package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/mlenv/mlenv/tensor"
)

// Linear is a fully connected layer y = x·Wᵀ + b with Weight [out, in] and
// Bias [out] (nil without bias), in PyTorch's layout and naming.
type Linear struct {
	Weight *tensor.Tensor
	Bias   *tensor.Tensor
}

// NewLinear returns a Linear layer initialised as PyTorch does: weight and
// bias uniform in ±1/sqrt(in).
func NewLinear(rng *rand.Rand, in, out int, bias bool) *Linear {
	bound := float32(1 / math.Sqrt(float64(in)))
	l := &Linear{Weight: tensor.Uniform(rng, -bound, bound, out, in).RequiresGrad()}
	if bias {
		l.Bias = tensor.Uniform(rng, -bound, bound, out).RequiresGrad()
	}
	return l
}

// Parameters returns "weight" and, if present, "bias".
func (l *Linear) Parameters() []NamedParam {
	ps := []NamedParam{{"weight", l.Weight}}
	if l.Bias != nil {
		ps = append(ps, NamedParam{"bias", l.Bias})
	}
	return ps
}

// Forward maps x [..., in] to [..., out].
func (l *Linear) Forward(x *tensor.Tensor) *tensor.Tensor { return l.ForwardAct(x, None) }

// ForwardAct returns act(Forward(x)), fusing the activation into the
// layer's output pass where the kernel supports it (ReLU, sigmoid, tanh).
func (l *Linear) ForwardAct(x *tensor.Tensor, act Activation) *tensor.Tensor {
	if k, ok := act.fused(); ok {
		return tensor.Linear(x, l.Weight, l.Bias, k)
	}
	return act.Apply(tensor.Linear(x, l.Weight, l.Bias, tensor.ActNone))
}

// MLP is a stack of Linear layers with an activation after every layer but
// the last. Parameters are named "layers.<i>.weight" and "layers.<i>.bias".
type MLP struct {
	Layers []*Linear
	Act    Activation
}

// NewMLP returns an MLP with layer widths sizes[0] -> sizes[1] -> ... ->
// sizes[len-1], all with bias. It panics with fewer than two sizes.
func NewMLP(rng *rand.Rand, act Activation, sizes ...int) *MLP {
	if len(sizes) < 2 {
		panic(fmt.Sprintf("nn: NewMLP needs at least two sizes, got %v", sizes))
	}
	m := &MLP{Act: act}
	for i := 0; i+1 < len(sizes); i++ {
		m.Layers = append(m.Layers, NewLinear(rng, sizes[i], sizes[i+1], true))
	}
	return m
}

// Parameters returns the layers' parameters in order.
func (m *MLP) Parameters() []NamedParam { return layerParams(m.Layers) }

// layerParams names the parameters of a list of Linear layers
// "layers.<i>.<name>", as a PyTorch ModuleList attribute named layers.
func layerParams(ls []*Linear) []NamedParam {
	var ps []NamedParam
	for i, l := range ls {
		ps = append(ps, Prefix("layers."+strconv.Itoa(i), l)...)
	}
	return ps
}

// Forward maps x [..., sizes[0]] to [..., sizes[len-1]].
func (m *MLP) Forward(x *tensor.Tensor) *tensor.Tensor {
	for i, l := range m.Layers {
		act := m.Act
		if i == len(m.Layers)-1 {
			act = None
		}
		x = l.ForwardAct(x, act)
	}
	return x
}

// Sequential applies layers in order. Parameters are named "<i>.<name>",
// as in PyTorch's nn.Sequential.
type Sequential []Layer

// Parameters returns the layers' parameters in order.
func (s Sequential) Parameters() []NamedParam {
	var ps []NamedParam
	for i, l := range s {
		ps = append(ps, Prefix(strconv.Itoa(i), l)...)
	}
	return ps
}

// Forward applies every layer in turn.
func (s Sequential) Forward(x *tensor.Tensor) *tensor.Tensor {
	for _, l := range s {
		x = l.Forward(x)
	}
	return x
}

// SetTraining forwards the mode to every layer.
func (s Sequential) SetTraining(training bool) {
	for _, l := range s {
		SetTraining(l, training)
	}
}
