// Command custom-model is mlenv with one more model architecture: a
// factorization machine written in Go against mlenv's engine. It shows how a
// team adds its own model and keeps the whole mlenv CLI — train, checkpoints,
// artifacts, serving — for it: register the architecture from an init
// function and call cli.Main.
//
//	go build -o mlenv-fm ./examples/custom-model
//	./mlenv-fm train examples/custom-model/fm.yaml
package main

import (
	"fmt"
	"os"

	"github.com/mlenv/mlenv/cli"
	"github.com/mlenv/mlenv/models"
	"github.com/mlenv/mlenv/nn"
	"github.com/mlenv/mlenv/tensor"
)

func init() { models.Register("fm", buildFM) }

func main() { os.Exit(cli.Main(os.Args[1:])) }

// FM is a factorization machine (Rendle 2010) over numeric and categorical
// features: a linear term plus all pairwise interactions, each the dot
// product of two learned factor vectors, computed in linear time as
// ½·Σ_k[(Σ_i v_ik x_i)² − Σ_i v_ik² x_i²]. Parameters: factors (default 8).
type FM struct {
	linear      *nn.Linear      // numeric features -> logit, with the bias
	denseFactor *tensor.Tensor  // [numeric features, factors]
	weight      []*nn.Embedding // per categorical feature: [ids, 1]
	factor      []*nn.Embedding // per categorical feature: [ids, factors]
}

func buildFM(cfg models.Config) (models.Model, error) {
	k, err := cfg.Params.Int("factors", 8, 1)
	if err != nil {
		return nil, err
	}
	s := cfg.Schema
	if cfg.Outputs != 1 || len(s.Dense) == 0 || len(s.MultiHot) > 0 || s.Image != nil {
		return nil, fmt.Errorf("fm needs a binary or regression label, numeric and categorical features only")
	}
	m := &FM{
		linear:      nn.NewLinear(cfg.Rand, len(s.Dense), 1, true),
		denseFactor: tensor.Normal(cfg.Rand, 0, 0.01, len(s.Dense), k).RequiresGrad(),
	}
	for _, slot := range s.Categorical {
		m.weight = append(m.weight, &nn.Embedding{Weight: tensor.New(slot.Cardinality, 1).SetSparseGrad()})
		m.factor = append(m.factor, &nn.Embedding{Weight: tensor.Normal(cfg.Rand, 0, 0.01, slot.Cardinality, k).SetSparseGrad()})
	}
	return m, nil
}

// Forward returns [n, 1] logits.
func (m *FM) Forward(in *models.Input) *tensor.Tensor {
	ar := in.Arena()
	x := in.Dense
	y := m.linear.Forward(x)
	sum := tensor.MatMul(x, m.denseFactor)                                               // Σ_i v_i x_i
	squares := tensor.MatMul(tensor.Mul(x, x), tensor.Mul(m.denseFactor, m.denseFactor)) // Σ_i v_i² x_i²
	for f, ids := range in.Cat {
		y = tensor.Add(y, m.weight[f].Lookup(ar, ids))
		v := m.factor[f].Lookup(ar, ids)
		sum = tensor.Add(sum, v)
		squares = tensor.Add(squares, tensor.Mul(v, v))
	}
	pairs := tensor.Sum(tensor.Sub(tensor.Mul(sum, sum), squares), 1, true)
	return tensor.Add(y, tensor.MulScalar(pairs, 0.5))
}

// Parameters names the tensors for the state dict.
func (m *FM) Parameters() []nn.NamedParam {
	ps := append(nn.Prefix("linear", m.linear), nn.NamedParam{Name: "dense_factor", Tensor: m.denseFactor})
	for f := range m.weight {
		ps = append(ps, nn.Prefix(fmt.Sprintf("weight.%d", f), m.weight[f])...)
		ps = append(ps, nn.Prefix(fmt.Sprintf("factor.%d", f), m.factor[f])...)
	}
	return ps
}
