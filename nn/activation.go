package nn

import (
	"fmt"
	"math/rand/v2"

	"github.com/mlenv/mlenv/tensor"
)

// Activation names an elementwise nonlinearity. It is a Layer without
// parameters, so it can stand in a Sequential, and its string form is what
// model specs use.
type Activation string

// Supported activations; None is the identity.
const (
	None    Activation = "none"
	ReLU    Activation = "relu"
	GELU    Activation = "gelu"
	SiLU    Activation = "silu"
	Sigmoid Activation = "sigmoid"
	Tanh    Activation = "tanh"
)

// ParseActivation validates a name from a spec; "" means None.
func ParseActivation(s string) (Activation, error) {
	switch a := Activation(s); a {
	case "":
		return None, nil
	case None, ReLU, GELU, SiLU, Sigmoid, Tanh:
		return a, nil
	}
	return "", fmt.Errorf("nn: unknown activation %q (want none, relu, gelu, silu, sigmoid or tanh)", s)
}

// Apply returns the activation of x. It panics on an unknown activation.
func (a Activation) Apply(x *tensor.Tensor) *tensor.Tensor {
	switch a {
	case None, "":
		return x
	case ReLU:
		return tensor.ReLU(x)
	case GELU:
		return tensor.GELU(x)
	case SiLU:
		return tensor.SiLU(x)
	case Sigmoid:
		return tensor.Sigmoid(x)
	case Tanh:
		return tensor.Tanh(x)
	}
	panic(fmt.Sprintf("nn: unknown activation %q", string(a)))
}

// fused returns the kernel activation tensor.Linear can fuse, if any.
func (a Activation) fused() (tensor.Activation, bool) {
	switch a {
	case None, "":
		return tensor.ActNone, true
	case ReLU:
		return tensor.ActReLU, true
	case Sigmoid:
		return tensor.ActSigmoid, true
	case Tanh:
		return tensor.ActTanh, true
	}
	return 0, false
}

// Parameters returns nil: activations have none.
func (a Activation) Parameters() []NamedParam { return nil }

// Forward is Apply.
func (a Activation) Forward(x *tensor.Tensor) *tensor.Tensor { return a.Apply(x) }

// Dropout zeroes each element with probability P during training and
// scales the survivors by 1/(1-P); in evaluation mode it is the identity.
// It starts in training mode.
type Dropout struct {
	P    float32
	rng  *rand.Rand
	eval bool
}

// NewDropout returns a Dropout layer drawing its masks from rng.
// It panics unless 0 <= p < 1.
func NewDropout(rng *rand.Rand, p float32) *Dropout {
	if p < 0 || p >= 1 {
		panic(fmt.Sprintf("nn: dropout probability %v not in [0, 1)", p))
	}
	return &Dropout{P: p, rng: rng}
}

// Parameters returns nil.
func (d *Dropout) Parameters() []NamedParam { return nil }

// SetTraining switches between training (masking) and evaluation (identity).
func (d *Dropout) SetTraining(training bool) { d.eval = !training }

// Forward applies a fresh random mask in training mode.
func (d *Dropout) Forward(x *tensor.Tensor) *tensor.Tensor {
	if d.eval || d.P == 0 {
		return x
	}
	mask := x.Arena().New(x.Shape()...)
	m := mask.Data()
	scale := 1 / (1 - d.P)
	for i := range m {
		if d.rng.Float32() >= d.P {
			m[i] = scale
		}
	}
	return tensor.Mul(x, mask)
}
