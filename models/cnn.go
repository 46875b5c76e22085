package models

import (
	"fmt"

	"github.com/mlenv/mlenv/nn"
	"github.com/mlenv/mlenv/tensor"
)

func init() { Register("cnn", buildCNN) }

// CNN is a convolutional network for one image feature: blocks of a 3x3
// convolution (stride 1, zero padding 1), ReLU and 2x2 max pooling, then
// an MLP over the flattened maps. Parameters: channels (output channels
// per block, default [16, 32]), hidden (MLP widths, default [128]).
type CNN struct {
	convs []*nn.Conv2d
	net   *nn.MLP
}

func buildCNN(cfg Config) (Model, error) {
	channels, err := cfg.Params.Ints("channels", []int{16, 32}, 1)
	if err != nil {
		return nil, err
	}
	hidden, err := cfg.Params.Ints("hidden", []int{128}, 1)
	if err != nil {
		return nil, err
	}
	s := cfg.Schema
	if s.Image == nil || len(s.Dense)+len(s.Categorical)+len(s.MultiHot) > 0 {
		return nil, &ParamError{"channels", "cnn needs exactly one image feature and no other features"}
	}
	c, h, w := s.Image[0], s.Image[1], s.Image[2]
	m := &CNN{}
	for i, out := range channels {
		if h < 2 || w < 2 {
			return nil, &ParamError{fmt.Sprintf("channels[%d]", i), fmt.Sprintf("too many blocks: the image is down to %dx%d", h, w)}
		}
		m.convs = append(m.convs, nn.NewConv2d(cfg.Rand, c, out, 3, 1, 1))
		h, w, c = h/2, w/2, out
	}
	m.net = nn.NewMLP(cfg.Rand, nn.ReLU, append(append([]int{h * w * c}, hidden...), cfg.Outputs)...)
	return m, nil
}

// Forward returns [n, Outputs] logits for in.Image [n, C, H, W].
func (m *CNN) Forward(in *Input) *tensor.Tensor {
	x := in.Image
	pool := nn.MaxPool2d{K: 2, Stride: 2}
	for _, c := range m.convs {
		x = pool.Forward(tensor.ReLU(c.Forward(x)))
	}
	return m.net.Forward(tensor.Reshape(x, in.Size, -1))
}

// Parameters returns "conv.<i>.weight" [out, in, 3, 3], "conv.<i>.bias"
// and "mlp.*".
func (m *CNN) Parameters() []nn.NamedParam {
	var ps []nn.NamedParam
	for i, c := range m.convs {
		ps = append(ps, nn.Prefix("conv."+itoa(i), c)...)
	}
	return append(ps, nn.Prefix("mlp", m.net)...)
}
