package models

import (
	"math/rand/v2"
	"slices"

	"github.com/mlenv/mlenv/data"
	"github.com/mlenv/mlenv/nn"
	"github.com/mlenv/mlenv/tensor"
)

// Input is one batch of encoded examples as model inputs (shapes in
// brackets). Tensors live in the arena given to NewInput and are valid
// until its next Reset.
type Input struct {
	Size   int
	Dense  *tensor.Tensor // [Size, len(Schema.Dense)], nil without numeric features
	Cat    [][]int        // one [Size] column of ids per categorical slot
	Multi  []Bag          // one bag of ids per example, per multi_hot slot
	Image  *tensor.Tensor // [Size, C, H, W], nil without an image feature
	Labels []float32      // [Size]
	arena  *tensor.Arena
}

// Bag holds the id lists of a multi_hot slot for a batch in PyTorch's
// flat form: example i's ids start at IDs[Offsets[i]] and run to the next
// offset (the last to the end); Offsets has Size entries.
type Bag struct {
	IDs     []int
	Offsets []int
}

// ids returns example i's ids.
func (b Bag) ids(i int) []int {
	end := len(b.IDs)
	if i+1 < len(b.Offsets) {
		end = b.Offsets[i+1]
	}
	return b.IDs[b.Offsets[i]:end]
}

// NewInput converts a data batch laid out by schema into model inputs in
// arena ar (nil: the heap). It copies what it needs; b may be reused after.
func NewInput(ar *tensor.Arena, b *data.Batch, schema data.Schema) *Input {
	in := &Input{Size: b.Size, Labels: slices.Clone(b.Labels), arena: ar}
	if nd := len(schema.Dense); nd > 0 {
		in.Dense = fromSlice(ar, b.Dense, b.Size, nd)
	}
	for _, col := range b.Cat {
		in.Cat = append(in.Cat, toInts(col))
	}
	for f := range b.MultiIDs {
		in.Multi = append(in.Multi, Bag{IDs: toInts(b.MultiIDs[f]), Offsets: toInts(b.MultiOffsets[f][:b.Size])})
	}
	if s := schema.Image; s != nil {
		in.Image = fromSlice(ar, b.Image, b.Size, s[0], s[1], s[2])
	}
	return in
}

// Arena returns the arena the input's tensors live in.
func (in *Input) Arena() *tensor.Arena { return in.arena }

// zeros returns a zero tensor of shape in the input's arena.
func (in *Input) zeros(shape ...int) *tensor.Tensor {
	if in.arena == nil {
		return tensor.New(shape...)
	}
	return in.arena.New(shape...)
}

// constant returns a tensor holding a copy of v in the input's arena.
func (in *Input) constant(v []float32, shape ...int) *tensor.Tensor {
	return fromSlice(in.arena, v, shape...)
}

func fromSlice(ar *tensor.Arena, v []float32, shape ...int) *tensor.Tensor {
	if ar == nil {
		return tensor.FromSlice(append([]float32(nil), v...), shape...)
	}
	return ar.FromSlice(v, shape...)
}

func toInts(ids []int32) []int {
	out := make([]int, len(ids))
	for i, id := range ids {
		out[i] = int(id)
	}
	return out
}

// embeddingStd is the deviation of initial embedding rows: small, so that
// a model starts near its bias and sums of many embeddings do not saturate
// the first layers (nn's tables start at PyTorch's N(0, 1)).
const embeddingStd = 0.05

// newEmbedding returns a sparse-gradient table [rows, dim] drawn from
// N(0, embeddingStd²).
func newEmbedding(rng *rand.Rand, rows, dim int) *nn.Embedding {
	e := nn.NewEmbedding(rng, rows, dim, true)
	scale(e.Weight, embeddingStd)
	return e
}

// newBag returns a mean-pooling sparse-gradient bag table [rows, dim]
// drawn from N(0, embeddingStd²).
func newBag(rng *rand.Rand, rows, dim int) *nn.EmbeddingBag {
	e := nn.NewEmbeddingBag(rng, rows, dim, nn.BagMean, nn.NoPadding, true)
	scale(e.Weight, embeddingStd)
	return e
}

func scale(w *tensor.Tensor, c float32) {
	d := w.Data()
	for i := range d {
		d[i] *= c
	}
}
