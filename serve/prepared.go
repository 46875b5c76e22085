package serve

import (
	"fmt"

	"github.com/mlenv/mlenv/data"
)

// InputChecker is implemented by models whose inputs have constraints that
// a TensorSpec cannot express, such as ids within a vocabulary. The
// repository calls CheckInputs on each request (inputs validated and in
// signature order) before queueing it, so that a bad request fails alone,
// with ErrBadRequest, instead of failing the batch it would have joined.
type InputChecker interface {
	CheckInputs(inputs []Tensor) error
}

// The names of the prepared inputs that are not named after a feature.
const (
	preparedDense       = "dense"
	preparedCategorical = "categorical"
	preparedImage       = "image"
)

// preparedInput says which part of a data.Batch a prepared input fills.
type preparedInput struct {
	name  string
	cards []int    // categorical: per column, the feature's cardinality; multi_hot: one
	names []string // categorical: per column, the feature's name
	slot  int      // multi_hot: the feature's index among the bags
}

// Prepared returns a view of the artifact that takes the tensors its fitted
// transforms produce instead of raw columns, for clients that encode
// features themselves. It shares the artifact's model copies. Inputs, each
// with the batch as first dimension and present when the model has such
// features:
//
//   - "dense" FP32 [n, d]: the numeric features after their transforms
//     (log, normalisation, filling), in the transforms' Schema().Dense order.
//   - "categorical" INT64 [n, c]: one id per categorical or bucketised
//     feature, in Schema().Categorical order, each in [0, cardinality).
//   - one INT64 [n, L] input per multi_hot feature, named after it: each
//     row's ids, -1 entries being padding; L may differ between requests
//     (requests of different L are not merged into one batch).
//   - "image" FP32 [n, C, H, W]: the pixels after the transforms.
//
// The output is the artifact's. It fails when a multi_hot feature is named
// like one of the other inputs.
func (a *Artifact) Prepared() (*Artifact, error) {
	s := a.transforms.Schema()
	p := &Artifact{idle: a.idle, transforms: a.transforms, meta: a.meta}
	p.meta.Inputs = nil
	add := func(in preparedInput, d Datatype, shape ...int64) {
		p.meta.Inputs = append(p.meta.Inputs, TensorSpec{Name: in.name, Datatype: d, Shape: append([]int64{-1}, shape...)})
		p.prepared = append(p.prepared, in)
	}
	if len(s.Dense) > 0 {
		add(preparedInput{name: preparedDense}, FP32, int64(len(s.Dense)))
	}
	if len(s.Categorical) > 0 {
		in := preparedInput{name: preparedCategorical}
		for _, c := range s.Categorical {
			in.cards, in.names = append(in.cards, c.Cardinality), append(in.names, c.Name)
		}
		add(in, Int64, int64(len(s.Categorical)))
	}
	for i, m := range s.MultiHot {
		if m.Name == preparedDense || m.Name == preparedCategorical || m.Name == preparedImage {
			return nil, fmt.Errorf("model %q: multi_hot feature %q has the name of a prepared input", a.meta.Name, m.Name)
		}
		add(preparedInput{name: m.Name, cards: []int{m.Cardinality}, names: []string{m.Name}, slot: i}, Int64, -1)
	}
	if s.Image != nil {
		add(preparedInput{name: preparedImage}, FP32, int64(s.Image[0]), int64(s.Image[1]), int64(s.Image[2]))
	}
	return p, nil
}

// CheckInputs checks that the ids of prepared inputs are within their
// features' cardinalities; raw inputs need no check beyond the signature.
// Errors name the input, row and feature.
func (a *Artifact) CheckInputs(inputs []Tensor) error {
	for j, in := range a.prepared {
		if in.cards == nil {
			continue
		}
		ids := inputs[j].Data.([]int64)
		width := max(int(inputs[j].Shape[1]), 1)
		for k, id := range ids {
			f := 0
			if in.name == preparedCategorical {
				f = k % width
			}
			padding := id == -1 && in.name != preparedCategorical // bags only
			if !padding && (id < 0 || id >= int64(in.cards[f])) {
				return fmt.Errorf("input %q: row %d: id %d of feature %q is outside [0, %d)", in.name, k/width, id, in.names[f], in.cards[f])
			}
		}
	}
	return nil
}

// preparedBatch lays checked prepared inputs (n rows each, in signature
// order) out as the batch the network reads.
func (a *Artifact) preparedBatch(inputs []Tensor, n int) *data.Batch {
	s := a.transforms.Schema()
	b := &data.Batch{Size: n, Labels: make([]float32, n),
		MultiIDs: make([][]int32, len(s.MultiHot)), MultiOffsets: make([][]int32, len(s.MultiHot))}
	for j, in := range a.prepared {
		t := inputs[j]
		switch {
		case in.name == preparedDense:
			b.Dense = t.Data.([]float32)
		case in.name == preparedImage:
			b.Image = t.Data.([]float32)
		case in.name == preparedCategorical:
			ids, c := t.Data.([]int64), len(in.cards)
			b.Cat = make([][]int32, c)
			for f := range c {
				col := make([]int32, n)
				for i := range col {
					col[i] = int32(ids[i*c+f])
				}
				b.Cat[f] = col
			}
		default:
			ids, w := t.Data.([]int64), int(t.Shape[1])
			flat, offsets := make([]int32, 0, len(ids)), append(make([]int32, 0, n+1), 0)
			for i := range n {
				for _, id := range ids[i*w : (i+1)*w] {
					if id >= 0 {
						flat = append(flat, int32(id))
					}
				}
				offsets = append(offsets, int32(len(flat)))
			}
			b.MultiIDs[in.slot], b.MultiOffsets[in.slot] = flat, offsets
		}
	}
	return b
}
