package models

import (
	"fmt"
	"slices"

	"github.com/mlenv/mlenv/data"
	"github.com/mlenv/mlenv/nn"
	"github.com/mlenv/mlenv/tensor"
)

func init() { Register("seq_transformer", buildSeqTransformer) }

// SeqTransformer scores a user's recent action sequence plus context
// features (in the style of Alibaba's Behavior Sequence Transformer): the
// last max_len ids of a multi_hot feature are embedded with learned
// positions, passed through transformer encoder blocks (multi-head self-
// attention and a feed-forward layer, each with a residual connection and
// layer normalisation, padding masked out), mean-pooled over the real
// positions, concatenated with the embedded context features and mapped
// to logits by an MLP. Parameters: sequence (the multi_hot feature,
// required), max_len (default 20), embedding_dim (default 32), heads
// (default 2, dividing embedding_dim), blocks (default 1), hidden (MLP
// widths, default [128]).
type SeqTransformer struct {
	slot, maxLen, heads int
	tokens              *nn.Embedding // [cardinality+1, dim]; the last row pads
	pos                 *tensor.Tensor
	blocks              []*encoderBlock
	context             *features // nil without other features
	net                 *nn.MLP
}

// encoderBlock is one post-norm transformer encoder layer, as
// torch.nn.TransformerEncoderLayer with a ReLU feed-forward of width
// 2*dim and no dropout.
type encoderBlock struct {
	att      *nn.MultiHeadAttention
	ff1, ff2 *nn.Linear
	norm1    *nn.LayerNorm
	norm2    *nn.LayerNorm
}

func buildSeqTransformer(cfg Config) (Model, error) {
	p := cfg.Params
	seq, err := p.String("sequence", "")
	if err != nil {
		return nil, err
	}
	s := cfg.Schema
	slot := slices.IndexFunc(s.MultiHot, func(sl data.Slot) bool { return sl.Name == seq })
	if slot < 0 {
		return nil, &ParamError{"sequence", fmt.Sprintf("%q is not a multi_hot feature of data.features (required)", seq)}
	}
	m := &SeqTransformer{slot: slot}
	if m.maxLen, err = p.Int("max_len", 20, 1); err != nil {
		return nil, err
	}
	dim, err := p.Int("embedding_dim", 32, 1)
	if err != nil {
		return nil, err
	}
	if m.heads, err = p.Int("heads", 2, 1); err != nil {
		return nil, err
	}
	if dim%m.heads != 0 {
		return nil, &ParamError{"heads", fmt.Sprintf("%d does not divide embedding_dim %d", m.heads, dim)}
	}
	blocks, err := p.Int("blocks", 1, 1)
	if err != nil {
		return nil, err
	}
	hidden, err := p.Ints("hidden", []int{128}, 1)
	if err != nil {
		return nil, err
	}
	m.tokens = newEmbedding(cfg.Rand, s.MultiHot[slot].Cardinality+1, dim)
	m.pos = tensor.Normal(cfg.Rand, 0, 0.02, m.maxLen, dim).RequiresGrad()
	for range blocks {
		m.blocks = append(m.blocks, newEncoderBlock(cfg, dim, m.heads))
	}
	width := dim
	if ctx := contextNames(s, seq); len(ctx) > 0 {
		if m.context, err = newFeatures(cfg, dim, ctx, "sequence"); err != nil {
			return nil, err
		}
		width += m.context.width(dim)
	}
	m.net = nn.NewMLP(cfg.Rand, nn.ReLU, append(append([]int{width}, hidden...), cfg.Outputs)...)
	return m, nil
}

// contextNames lists the schema's features other than the sequence.
func contextNames(s data.Schema, seq string) []string {
	names := slices.Clone(s.Dense)
	for _, sl := range slices.Concat(s.Categorical, s.MultiHot) {
		if sl.Name != seq {
			names = append(names, sl.Name)
		}
	}
	return names
}

func newEncoderBlock(cfg Config, dim, heads int) *encoderBlock {
	return &encoderBlock{
		att: nn.NewMultiHeadAttention(cfg.Rand, dim, heads),
		ff1: nn.NewLinear(cfg.Rand, dim, 2*dim, true), ff2: nn.NewLinear(cfg.Rand, 2*dim, dim, true),
		norm1: nn.NewLayerNorm(dim), norm2: nn.NewLayerNorm(dim),
	}
}

// Forward returns [n, Outputs] logits.
func (m *SeqTransformer) Forward(in *Input) *tensor.Tensor {
	n, L, dim := in.Size, m.maxLen, m.pos.Dim(1)
	ids, keep, bias := m.pad(in)
	x := tensor.Reshape(m.tokens.Lookup(in.arena, ids), n, L, dim)
	x = tensor.Add(x, m.pos)
	maskBias := in.constant(bias, n, 1, 1, L)
	for _, b := range m.blocks {
		x = b.forward(x, maskBias)
	}
	mask := in.constant(keep, n, L, 1)
	counts := make([]float32, n)
	for i := range n {
		var c float32
		for _, k := range keep[i*L : (i+1)*L] {
			c += k
		}
		counts[i] = 1 / max(c, 1)
	}
	pooled := tensor.Mul(tensor.Sum(tensor.Mul(x, mask), 1, false), in.constant(counts, n, 1))
	if m.context != nil {
		pooled = tensor.Concat(1, pooled, m.context.concat(in))
	}
	return m.net.Forward(pooled)
}

// pad lays out the last maxLen ids of each example's sequence right-aligned
// in [n*maxLen] ids (the pad row where there are fewer), with keep 1 at
// real positions and bias -1e9 at padded ones.
func (m *SeqTransformer) pad(in *Input) (ids []int, keep, bias []float32) {
	L, padID := m.maxLen, m.tokens.Weight.Dim(0)-1
	bag := in.Multi[m.slot]
	ids = make([]int, in.Size*L)
	keep = make([]float32, in.Size*L)
	bias = make([]float32, in.Size*L)
	for i := range in.Size {
		seq := bag.ids(i)
		seq = seq[max(0, len(seq)-L):]
		start := L - len(seq)
		for j := range L {
			k := i*L + j
			if j < start {
				ids[k], bias[k] = padID, -1e9
				continue
			}
			ids[k], keep[k] = seq[j-start], 1
		}
	}
	return ids, keep, bias
}

// forward maps x [n, L, dim] through the block; maskBias [n, 1, 1, L] is
// added to the attention scores.
func (b *encoderBlock) forward(x, maskBias *tensor.Tensor) *tensor.Tensor {
	x = b.norm1.Forward(tensor.Add(x, b.att.Forward(x, x, x, maskBias)))
	return b.norm2.Forward(tensor.Add(x, b.ff2.Forward(b.ff1.ForwardAct(x, nn.ReLU))))
}

func (b *encoderBlock) Parameters() []nn.NamedParam {
	var ps []nn.NamedParam
	for _, l := range []struct {
		name string
		m    nn.Module
	}{{"self_attn", b.att}, {"linear1", b.ff1}, {"linear2", b.ff2}, {"norm1", b.norm1}, {"norm2", b.norm2}} {
		ps = append(ps, nn.Prefix(l.name, l.m)...)
	}
	return ps
}

// Parameters returns "tokens.weight", "pos", "blocks.<i>.*", "mlp.*" and
// the context embedding tables under "context".
func (m *SeqTransformer) Parameters() []nn.NamedParam {
	ps := append(nn.Prefix("tokens", m.tokens), nn.NamedParam{Name: "pos", Tensor: m.pos})
	for i, b := range m.blocks {
		ps = append(ps, nn.Prefix("blocks."+itoa(i), b)...)
	}
	ps = append(ps, nn.Prefix("mlp", m.net)...)
	if m.context != nil {
		ps = append(ps, nn.Prefix("context", m.context)...)
	}
	return ps
}
