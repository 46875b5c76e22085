package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/mlenv/mlenv/tensor"
)

// MultiHeadAttention is scaled dot-product attention over Heads heads, as
// torch.nn.MultiheadAttention(dim, heads, batch_first=True): InProjWeight
// [3*dim, dim] and InProjBias [3*dim] project queries, keys and values (in
// that order), OutProj mixes the heads. Parameter names match PyTorch's
// state dict.
type MultiHeadAttention struct {
	InProjWeight, InProjBias *tensor.Tensor
	OutProj                  *Linear
	Heads                    int
}

// NewMultiHeadAttention returns attention over dim features split into
// heads heads, initialised as PyTorch does (Xavier-uniform in-projection,
// zero biases). It panics unless heads divides dim.
func NewMultiHeadAttention(rng *rand.Rand, dim, heads int) *MultiHeadAttention {
	if heads < 1 || dim%heads != 0 {
		panic(fmt.Sprintf("nn: MultiHeadAttention: %d heads do not divide dim %d", heads, dim))
	}
	out := NewLinear(rng, dim, dim, true)
	clear(out.Bias.Data())
	return &MultiHeadAttention{
		InProjWeight: tensor.XavierUniform(rng, 1, 3*dim, dim).RequiresGrad(),
		InProjBias:   tensor.New(3 * dim).RequiresGrad(),
		OutProj:      out,
		Heads:        heads,
	}
}

// Parameters returns in_proj_weight, in_proj_bias, out_proj.weight and
// out_proj.bias.
func (m *MultiHeadAttention) Parameters() []NamedParam {
	return append([]NamedParam{{"in_proj_weight", m.InProjWeight}, {"in_proj_bias", m.InProjBias}},
		Prefix("out_proj", m.OutProj)...)
}

// Forward attends queries q [B, L, dim] over keys k and values v
// [B, S, dim] and returns [B, L, dim]. mask, if not nil, is added to the
// attention scores and must broadcast to [B, heads, L, S]: use 0 to keep
// and -Inf to block a position (see CausalMask). A query whose positions
// are all blocked yields NaN, as in PyTorch.
func (m *MultiHeadAttention) Forward(q, k, v, mask *tensor.Tensor) *tensor.Tensor {
	dim := m.InProjWeight.Dim(1)
	if q.Rank() != 3 || q.Dim(2) != dim || k.Rank() != 3 || v.Rank() != 3 || !slices.Equal(k.Shape(), v.Shape()) || k.Dim(0) != q.Dim(0) || k.Dim(2) != dim {
		panic(fmt.Sprintf("nn: MultiHeadAttention over dim %d: query %v, key %v and value %v are not compatible", dim, q.Shape(), k.Shape(), v.Shape()))
	}
	heads := func(x *tensor.Tensor, part int) *tensor.Tensor {
		w := tensor.Slice(m.InProjWeight, 0, part*dim, (part+1)*dim)
		b := tensor.Slice(m.InProjBias, 0, part*dim, (part+1)*dim)
		y := tensor.Linear(x, w, b, tensor.ActNone) // [B, T, dim]
		y = tensor.Reshape(y, x.Dim(0), x.Dim(1), m.Heads, dim/m.Heads)
		return tensor.Permute(y, 0, 2, 1, 3) // [B, heads, T, dim/heads]
	}
	qh, kh, vh := heads(q, 0), heads(k, 1), heads(v, 2)
	scores := tensor.MulScalar(tensor.MatMul(qh, tensor.Transpose(kh, 2, 3)), float32(1/math.Sqrt(float64(dim/m.Heads))))
	if mask != nil {
		scores = tensor.Add(scores, mask)
	}
	ctx := tensor.MatMul(tensor.Softmax(scores, -1), vh) // [B, heads, L, dim/heads]
	ctx = tensor.Reshape(tensor.Permute(ctx, 0, 2, 1, 3), q.Dim(0), q.Dim(1), dim)
	return m.OutProj.Forward(ctx)
}

// CausalMask returns the [n, n] additive mask that blocks attention from
// position i to positions j > i.
func CausalMask(n int) *tensor.Tensor {
	m := tensor.New(n, n)
	d := m.Data()
	for i := range n {
		for j := i + 1; j < n; j++ {
			d[i*n+j] = float32(math.Inf(-1))
		}
	}
	return m
}
