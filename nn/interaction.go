package nn

import (
	"fmt"
	"math/rand/v2"

	"github.com/mlenv/mlenv/tensor"
)

// DotInteraction is DLRM's feature interaction: given the bottom-MLP
// output [B, d] and F-1 embeddings [B, d], it returns the dense vector
// concatenated with the pairwise dot products of all F vectors (strictly
// lower triangle, pairs (i, j) with j < i in row order, as DLRM's
// interact_features): [B, d + F(F-1)/2]. It has no parameters.
func DotInteraction(dense *tensor.Tensor, embs ...*tensor.Tensor) *tensor.Tensor {
	feats := append([]*tensor.Tensor{dense}, embs...)
	f := len(feats)
	for _, e := range embs {
		if e.Rank() != 2 || e.Dim(0) != dense.Dim(0) || e.Dim(1) != dense.Dim(1) {
			panic(fmt.Sprintf("nn: DotInteraction: embedding shape %v does not match dense shape %v", e.Shape(), dense.Shape()))
		}
	}
	t := tensor.Stack(1, feats...)                   // [B, F, d]
	z := tensor.MatMul(t, tensor.Transpose(t, 1, 2)) // [B, F, F]
	flat := tensor.Reshape(z, dense.Dim(0), f*f)     // [B, F*F]
	pairs := dense.Arena().Ints(f * (f - 1) / 2)[:0]
	for i := 1; i < f; i++ {
		for j := 0; j < i; j++ {
			pairs = append(pairs, i*f+j)
		}
	}
	return tensor.Concat(1, dense, tensor.IndexSelect(flat, 1, pairs))
}

// CrossNet is DCNv2's cross network: x_{l+1} = x0 ⊙ (W_l x_l + b_l) + x_l
// with full-rank W_l [d, d]. Parameters are "layers.<l>.weight" and
// "layers.<l>.bias".
type CrossNet struct {
	Layers []*Linear
}

// NewCrossNet returns a cross network of depth layers over dim features.
func NewCrossNet(rng *rand.Rand, dim, layers int) *CrossNet {
	c := &CrossNet{}
	for range layers {
		c.Layers = append(c.Layers, NewLinear(rng, dim, dim, true))
	}
	return c
}

// Parameters returns the layers' parameters in order.
func (c *CrossNet) Parameters() []NamedParam { return layerParams(c.Layers) }

// Forward maps x0 [B, d] to [B, d].
func (c *CrossNet) Forward(x0 *tensor.Tensor) *tensor.Tensor {
	x := x0
	for _, l := range c.Layers {
		x = tensor.Add(tensor.Mul(x0, l.Forward(x)), x)
	}
	return x
}
