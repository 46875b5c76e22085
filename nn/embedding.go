package nn

import (
	"fmt"
	"math/rand/v2"

	"github.com/mlenv/mlenv/tensor"
)

// Embedding maps integer ids to rows of Weight [num, dim]. Ids equal to
// PaddingID (NoPadding for none) look up zeros and pass no gradient, as
// torch.nn.Embedding(padding_idx=...) does with its zero padding row.
type Embedding struct {
	Weight    *tensor.Tensor
	PaddingID int
}

// NewEmbedding returns an embedding table initialised N(0, 1) as PyTorch
// does, without a padding id. With sparse, Backward delivers the gradient
// as touched rows only (tensor.RowGrad), which the optimizers in package
// optim update lazily.
func NewEmbedding(rng *rand.Rand, num, dim int, sparse bool) *Embedding {
	return &Embedding{Weight: newTable(rng, num, dim, sparse), PaddingID: NoPadding}
}

func newTable(rng *rand.Rand, num, dim int, sparse bool) *tensor.Tensor {
	w := tensor.Normal(rng, 0, 1, num, dim)
	if sparse {
		return w.SetSparseGrad()
	}
	return w.RequiresGrad()
}

// Parameters returns "weight".
func (e *Embedding) Parameters() []NamedParam { return []NamedParam{{"weight", e.Weight}} }

// Lookup returns the rows for ids, [len(ids), dim], in arena ar (nil for
// the heap). ids must stay unchanged until Backward.
func (e *Embedding) Lookup(ar *tensor.Arena, ids []int) *tensor.Tensor {
	rows := tensor.Lookup(ar, e.Weight, ids)
	if e.PaddingID < 0 {
		return rows
	}
	keep := ar.New(len(ids), 1)
	k := keep.Data()
	for i, id := range ids {
		if id != e.PaddingID {
			k[i] = 1
		}
	}
	return tensor.Mul(rows, keep)
}

// BagMode selects how EmbeddingBag pools the rows of a bag.
type BagMode string

// Pooling modes of EmbeddingBag.
const (
	BagSum  BagMode = "sum"
	BagMean BagMode = "mean"
)

// NoPadding is the PaddingID of a bag without a padding id.
const NoPadding = -1

// EmbeddingBag pools (sums or averages) the embeddings of variable-length
// bags of ids, as torch.nn.EmbeddingBag: ids of PaddingID are skipped and
// not counted, and an empty bag gives zeros.
type EmbeddingBag struct {
	Weight    *tensor.Tensor
	Mode      BagMode
	PaddingID int
}

// NewEmbeddingBag returns a bag layer with a table [num, dim] initialised
// N(0, 1) and its padding row (if any) zeroed. See NewEmbedding for sparse.
func NewEmbeddingBag(rng *rand.Rand, num, dim int, mode BagMode, paddingID int, sparse bool) *EmbeddingBag {
	if mode != BagSum && mode != BagMean {
		panic(fmt.Sprintf("nn: EmbeddingBag mode %q (want sum or mean)", mode))
	}
	w := newTable(rng, num, dim, sparse)
	if paddingID >= 0 {
		clear(w.Data()[paddingID*dim : (paddingID+1)*dim])
	}
	return &EmbeddingBag{Weight: w, Mode: mode, PaddingID: paddingID}
}

// Parameters returns "weight".
func (e *EmbeddingBag) Parameters() []NamedParam { return []NamedParam{{"weight", e.Weight}} }

// Forward pools bags given in PyTorch's flat form: bag b holds
// ids[offsets[b]:offsets[b+1]] (the last runs to the end). It returns
// [len(offsets), dim] in arena ar (nil for the heap). It panics if offsets
// do not start at 0 or decrease, or an id is out of range.
func (e *EmbeddingBag) Forward(ar *tensor.Arena, ids, offsets []int) *tensor.Tensor {
	bags, dim := len(offsets), e.Weight.Dim(1)
	kept, bagOf := ar.Ints(len(ids))[:0], ar.Ints(len(ids))[:0]
	var scale *tensor.Tensor
	if e.Mode == BagMean {
		scale = ar.New(bags, 1)
	}
	for b, start := range offsets {
		end := len(ids)
		if b+1 < bags {
			end = offsets[b+1]
		}
		if start < 0 || start > end || end > len(ids) || (b == 0 && start != 0) {
			panic(fmt.Sprintf("nn: EmbeddingBag: offsets %v invalid for %d ids", offsets, len(ids)))
		}
		n := 0
		for _, id := range ids[start:end] {
			if id != e.PaddingID || e.PaddingID < 0 {
				kept, bagOf = append(kept, id), append(bagOf, b)
				n++
			}
		}
		if scale != nil && n > 0 {
			scale.Data()[b] = 1 / float32(n)
		}
	}
	sum := tensor.IndexAdd(ar.New(bags, dim), 0, bagOf, tensor.Lookup(ar, e.Weight, kept))
	if scale != nil {
		return tensor.Mul(sum, scale)
	}
	return sum
}
