package nn

import (
	"math"
	"math/rand/v2"

	"github.com/mlenv/mlenv/tensor"
)

// Conv2d is a 2-D convolution layer over NCHW input with Weight
// [out, in, k, k] and Bias [out], as torch.nn.Conv2d with square kernels.
type Conv2d struct {
	Weight, Bias *tensor.Tensor
	Stride, Pad  int
}

// NewConv2d returns a k×k convolution from in to out channels, initialised
// as PyTorch does (uniform in ±1/sqrt(in*k*k)).
func NewConv2d(rng *rand.Rand, in, out, k, stride, pad int) *Conv2d {
	bound := float32(1 / math.Sqrt(float64(in*k*k)))
	return &Conv2d{
		Weight: tensor.Uniform(rng, -bound, bound, out, in, k, k).RequiresGrad(),
		Bias:   tensor.Uniform(rng, -bound, bound, out).RequiresGrad(),
		Stride: stride, Pad: pad,
	}
}

// Parameters returns "weight" and "bias".
func (c *Conv2d) Parameters() []NamedParam {
	return []NamedParam{{"weight", c.Weight}, {"bias", c.Bias}}
}

// Forward maps [N, in, H, W] to [N, out, Ho, Wo].
func (c *Conv2d) Forward(x *tensor.Tensor) *tensor.Tensor {
	return tensor.Conv2d(x, c.Weight, c.Bias, c.Stride, c.Pad)
}

// MaxPool2d is a k×k max-pooling layer.
type MaxPool2d struct{ K, Stride int }

// Parameters returns nil.
func (MaxPool2d) Parameters() []NamedParam { return nil }

// Forward pools [N, C, H, W].
func (p MaxPool2d) Forward(x *tensor.Tensor) *tensor.Tensor {
	return tensor.MaxPool2d(x, p.K, p.Stride)
}

// AvgPool2d is a k×k average-pooling layer.
type AvgPool2d struct{ K, Stride int }

// Parameters returns nil.
func (AvgPool2d) Parameters() []NamedParam { return nil }

// Forward pools [N, C, H, W].
func (p AvgPool2d) Forward(x *tensor.Tensor) *tensor.Tensor {
	return tensor.AvgPool2d(x, p.K, p.Stride)
}

// Flatten reshapes [N, ...] to [N, prod(...)]; it is a Layer so that
// Sequential CNNs can go from convolutions to Linear layers.
type Flatten struct{}

// Parameters returns nil.
func (Flatten) Parameters() []NamedParam { return nil }

// Forward flattens all but the first dimension.
func (Flatten) Forward(x *tensor.Tensor) *tensor.Tensor { return tensor.Reshape(x, x.Dim(0), -1) }
