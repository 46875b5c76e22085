package models

import (
	"github.com/mlenv/mlenv/nn"
	"github.com/mlenv/mlenv/tensor"
)

func init() {
	Register("logistic", buildLogistic)
	Register("mlp", buildMLP)
	Register("wide_deep", buildWideDeep)
	Register("dcn_v2", buildDCNv2)
	Register("dlrm", buildDLRM)
}

// Logistic is a generalised linear model: a weight per numeric input and a
// learned weight per categorical id (an embedding of width Outputs), summed.
// Parameters: none.
type Logistic struct {
	in     *features
	linear *nn.Linear // nil without numeric inputs
	bias   *tensor.Tensor
}

func buildLogistic(cfg Config) (Model, error) {
	return newLogistic(cfg)
}

func newLogistic(cfg Config) (*Logistic, error) {
	f, err := newFeatures(cfg, cfg.Outputs, nil, "features")
	if err != nil {
		return nil, err
	}
	m := &Logistic{in: f, bias: tensor.New(cfg.Outputs).RequiresGrad()}
	if n := f.numWidth(); n > 0 {
		m.linear = nn.NewLinear(cfg.Rand, n, cfg.Outputs, false)
	}
	return m, nil
}

// Forward returns [n, Outputs] logits.
func (m *Logistic) Forward(in *Input) *tensor.Tensor {
	out := m.bias
	if m.linear != nil {
		out = tensor.Add(m.linear.Forward(m.in.numeric(in)), out)
	}
	for _, e := range m.in.embedded(in) {
		out = tensor.Add(out, e)
	}
	if out == m.bias {
		return tensor.Expand(m.bias, in.Size, m.bias.Dim(0))
	}
	return out
}

// Parameters returns "bias", "linear.weight" and the embedding tables.
func (m *Logistic) Parameters() []nn.NamedParam {
	ps := []nn.NamedParam{{Name: "bias", Tensor: m.bias}}
	if m.linear != nil {
		ps = append(ps, nn.Prefix("linear", m.linear)...)
	}
	return append(ps, m.in.Parameters()...)
}

// MLP embeds categorical features, concatenates them with the numeric
// features and applies a multilayer perceptron. Parameters: hidden (list of
// layer widths, default [256, 128]), embedding_dim (default 16),
// activation (default relu), dropout (probability after each hidden
// layer's activation while training, default 0). Dropout masks come from
// the model's seeded generator, whose position a checkpoint does not
// record: a resumed run with dropout is not bit-identical to an
// uninterrupted one.
type MLP struct {
	in      *features
	net     *nn.MLP
	dropout *nn.Dropout // nil without dropout
}

func buildMLP(cfg Config) (Model, error) { return newMLP(cfg) }

func newMLP(cfg Config) (*MLP, error) {
	hidden, err := cfg.Params.Ints("hidden", []int{256, 128}, 1)
	if err != nil {
		return nil, err
	}
	dim, err := cfg.Params.Int("embedding_dim", 16, 1)
	if err != nil {
		return nil, err
	}
	act, err := cfg.Params.Activation("activation", nn.ReLU)
	if err != nil {
		return nil, err
	}
	p, err := cfg.Params.Float("dropout", 0, 0, 0.99)
	if err != nil {
		return nil, err
	}
	f, err := newFeatures(cfg, dim, nil, "features")
	if err != nil {
		return nil, err
	}
	sizes := append(append([]int{f.width(dim)}, hidden...), cfg.Outputs)
	m := &MLP{in: f, net: nn.NewMLP(cfg.Rand, act, sizes...)}
	if p > 0 {
		m.dropout = nn.NewDropout(cfg.Rand, float32(p))
	}
	return m, nil
}

// Forward returns [n, Outputs] logits.
func (m *MLP) Forward(in *Input) *tensor.Tensor {
	x := m.in.concat(in)
	if m.dropout == nil {
		return m.net.Forward(x)
	}
	last := len(m.net.Layers) - 1
	for _, l := range m.net.Layers[:last] {
		x = m.dropout.Forward(l.ForwardAct(x, m.net.Act))
	}
	return m.net.Layers[last].Forward(x)
}

// SetTraining turns dropout on (training) or off (evaluation, serving).
func (m *MLP) SetTraining(training bool) {
	if m.dropout != nil {
		m.dropout.SetTraining(training)
	}
}

// Parameters returns "mlp.layers.<i>.*" and the embedding tables.
func (m *MLP) Parameters() []nn.NamedParam {
	return append(nn.Prefix("mlp", m.net), m.in.Parameters()...)
}

// WideDeep adds the logits of a wide (logistic) and a deep (MLP) part,
// trained jointly (Cheng et al. 2016). Parameters: those of mlp.
type WideDeep struct {
	wide *Logistic
	deep *MLP
}

func buildWideDeep(cfg Config) (Model, error) {
	wide, err := newLogistic(cfg)
	if err != nil {
		return nil, err
	}
	deep, err := newMLP(cfg)
	if err != nil {
		return nil, err
	}
	return &WideDeep{wide: wide, deep: deep}, nil
}

// Forward returns [n, Outputs] logits.
func (m *WideDeep) Forward(in *Input) *tensor.Tensor {
	return tensor.Add(m.wide.Forward(in), m.deep.Forward(in))
}

// Parameters returns "wide.*" and "deep.*".
func (m *WideDeep) Parameters() []nn.NamedParam {
	return append(nn.Prefix("wide", m.wide), nn.Prefix("deep", m.deep)...)
}

// DCNv2 is the Deep & Cross Network v2 in its stacked form (Wang et al.
// 2021): cross layers x_{l+1} = x0 ⊙ (W_l x_l + b_l) + x_l over the
// concatenated inputs x0, then an MLP. Parameters: cross_layers (default
// 3), hidden (default [256, 128]), embedding_dim (default 16).
type DCNv2 struct {
	in    *features
	cross *nn.CrossNet
	net   *nn.MLP
}

func buildDCNv2(cfg Config) (Model, error) {
	layers, err := cfg.Params.Int("cross_layers", 3, 1)
	if err != nil {
		return nil, err
	}
	hidden, err := cfg.Params.Ints("hidden", []int{256, 128}, 1)
	if err != nil {
		return nil, err
	}
	dim, err := cfg.Params.Int("embedding_dim", 16, 1)
	if err != nil {
		return nil, err
	}
	f, err := newFeatures(cfg, dim, nil, "features")
	if err != nil {
		return nil, err
	}
	w := f.width(dim)
	return &DCNv2{
		in:    f,
		cross: nn.NewCrossNet(cfg.Rand, w, layers),
		net:   nn.NewMLP(cfg.Rand, nn.ReLU, append(append([]int{w}, hidden...), cfg.Outputs)...),
	}, nil
}

// Forward returns [n, Outputs] logits.
func (m *DCNv2) Forward(in *Input) *tensor.Tensor {
	return m.net.Forward(m.cross.Forward(m.in.concat(in)))
}

// Parameters returns "cross.layers.<i>.*", "mlp.*" and the embedding
// tables.
func (m *DCNv2) Parameters() []nn.NamedParam {
	ps := append(nn.Prefix("cross", m.cross), nn.Prefix("mlp", m.net)...)
	return append(ps, m.in.Parameters()...)
}

// DLRM is Facebook's deep learning recommendation model (Naumov et al.
// 2019): a bottom MLP maps the numeric features to an embedding-sized
// vector, which is concatenated with the pairwise dot products of it and
// all embeddings (nn.DotInteraction), and a top MLP maps that to the
// logits. It needs at least one numeric feature. Parameters:
// embedding_dim (default 16), bottom (default [64], widths before the
// final embedding_dim layer), top (default [256, 128]).
type DLRM struct {
	in     *features
	bottom *nn.MLP
	top    *nn.MLP
}

func buildDLRM(cfg Config) (Model, error) {
	dim, err := cfg.Params.Int("embedding_dim", 16, 1)
	if err != nil {
		return nil, err
	}
	bottom, err := cfg.Params.Ints("bottom", []int{64}, 1)
	if err != nil {
		return nil, err
	}
	top, err := cfg.Params.Ints("top", []int{256, 128}, 1)
	if err != nil {
		return nil, err
	}
	f, err := newFeatures(cfg, dim, nil, "features")
	if err != nil {
		return nil, err
	}
	if f.numWidth() == 0 {
		return nil, &ParamError{"bottom", "dlrm needs at least one numeric feature for its bottom MLP"}
	}
	fields := 1 + len(f.cats) + len(f.multis)
	return &DLRM{
		in:     f,
		bottom: nn.NewMLP(cfg.Rand, nn.ReLU, append(append([]int{f.numWidth()}, bottom...), dim)...),
		top:    nn.NewMLP(cfg.Rand, nn.ReLU, append(append([]int{dim + fields*(fields-1)/2}, top...), cfg.Outputs)...),
	}, nil
}

// Forward returns [n, Outputs] logits.
func (m *DLRM) Forward(in *Input) *tensor.Tensor {
	dense := tensor.ReLU(m.bottom.Forward(m.in.numeric(in)))
	return m.top.Forward(nn.DotInteraction(dense, m.in.embedded(in)...))
}

// Parameters returns "bottom.*", "top.*" and the embedding tables.
func (m *DLRM) Parameters() []nn.NamedParam {
	ps := append(nn.Prefix("bottom", m.bottom), nn.Prefix("top", m.top)...)
	return append(ps, m.in.Parameters()...)
}
