package models

import (
	"github.com/mlenv/mlenv/nn"
	"github.com/mlenv/mlenv/tensor"
)

func init() { Register("two_tower", buildTwoTower) }

// Retriever is implemented by models that embed queries and items into
// one space (two_tower), so that the trainer can measure recall@k: Embed
// returns [n, dim] query and item vectors for the examples of in.
type Retriever interface {
	Embed(in *Input) (query, item *tensor.Tensor)
}

// TwoTower is a retrieval model: a query tower and an item tower, each an
// MLP over its own features, map an example to two unit vectors whose dot
// product, divided by a temperature, scores the pair. It trains on the
// positive rows of each batch (label 1) with in-batch negatives: every
// other positive item of the batch is a negative for a query (sampled
// softmax, Yi et al. 2019). Parameters: query_features and item_features
// (lists of feature names, required), hidden (tower widths, default [64]),
// output_dim (default 32), embedding_dim (default 16), temperature
// (default 0.1).
type TwoTower struct {
	queryIn, itemIn *features
	query, item     *nn.MLP
	invTemp         float32
}

func buildTwoTower(cfg Config) (Model, error) {
	p := cfg.Params
	qNames, err := p.Strings("query_features", nil)
	if err != nil {
		return nil, err
	}
	iNames, err := p.Strings("item_features", nil)
	if err != nil {
		return nil, err
	}
	if len(qNames) == 0 || len(iNames) == 0 {
		missing := "query_features"
		if len(qNames) > 0 {
			missing = "item_features"
		}
		return nil, &ParamError{missing, "required: the names of the features of this tower"}
	}
	hidden, err := p.Ints("hidden", []int{64}, 1)
	if err != nil {
		return nil, err
	}
	out, err := p.Int("output_dim", 32, 1)
	if err != nil {
		return nil, err
	}
	dim, err := p.Int("embedding_dim", 16, 1)
	if err != nil {
		return nil, err
	}
	temp, err := p.Float("temperature", 0.1, 1e-3, 10)
	if err != nil {
		return nil, err
	}
	m := &TwoTower{invTemp: float32(1 / temp)}
	if m.queryIn, err = newFeatures(cfg, dim, qNames, "query_features"); err != nil {
		return nil, err
	}
	if m.itemIn, err = newFeatures(cfg, dim, iNames, "item_features"); err != nil {
		return nil, err
	}
	m.query = nn.NewMLP(cfg.Rand, nn.ReLU, append(append([]int{m.queryIn.width(dim)}, hidden...), out)...)
	m.item = nn.NewMLP(cfg.Rand, nn.ReLU, append(append([]int{m.itemIn.width(dim)}, hidden...), out)...)
	return m, nil
}

// Embed returns the unit-length query and item vectors, [n, output_dim]
// each.
func (m *TwoTower) Embed(in *Input) (query, item *tensor.Tensor) {
	return normalize(m.query.Forward(m.queryIn.concat(in))), normalize(m.item.Forward(m.itemIn.concat(in)))
}

// Forward scores each example's own query-item pair: [n, 1] logits.
func (m *TwoTower) Forward(in *Input) *tensor.Tensor {
	q, it := m.Embed(in)
	return tensor.MulScalar(tensor.Sum(tensor.Mul(q, it), 1, true), m.invTemp)
}

// Loss is the in-batch softmax cross-entropy of the positive rows: row i's
// query should score its own item above the items of the other positive
// rows. A batch without positives gives a zero loss.
func (m *TwoTower) Loss(in *Input) *tensor.Tensor {
	var pos []int
	for i, y := range in.Labels {
		if y > 0.5 {
			pos = append(pos, i)
		}
	}
	q, it := m.Embed(in)
	if len(pos) == 0 {
		return tensor.MulScalar(tensor.SumAll(q), 0)
	}
	q, it = tensor.IndexSelect(q, 0, pos), tensor.IndexSelect(it, 0, pos)
	logits := tensor.MulScalar(tensor.MatMul(q, tensor.Transpose(it, 0, 1)), m.invTemp)
	labels := make([]int, len(pos))
	for i := range labels {
		labels[i] = i
	}
	return nn.CrossEntropy(logits, labels, 0)
}

// Parameters returns "query.*", "item.*" and the towers' embedding tables
// under "query_in" and "item_in".
func (m *TwoTower) Parameters() []nn.NamedParam {
	ps := nn.Prefix("query", m.query)
	ps = append(ps, nn.Prefix("item", m.item)...)
	ps = append(ps, nn.Prefix("query_in", m.queryIn)...)
	return append(ps, nn.Prefix("item_in", m.itemIn)...)
}

// normalize scales each row of x [n, d] to unit L2 norm.
func normalize(x *tensor.Tensor) *tensor.Tensor {
	norm := tensor.Sqrt(tensor.AddScalar(tensor.Sum(tensor.Mul(x, x), 1, true), 1e-12))
	return tensor.Div(x, norm)
}
