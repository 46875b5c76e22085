package serve

import (
	"fmt"
	"slices"

	"github.com/mlenv/mlenv/data"
)

// fieldSources returns, for each column of t's Records (t.Columns order),
// the index of the signature input it is read from, or -1 for a column no
// input carries: the label, which only training data has.
func fieldSources(t *data.Transforms, inputs []TensorSpec) []int {
	cols := t.Columns()
	src := make([]int, len(cols))
	for k, c := range cols {
		src[k] = slices.IndexFunc(inputs, func(s TensorSpec) bool { return s.Name == c })
	}
	return src
}

// encode turns validated input tensors (in signature order, n rows each)
// into one batch for the network. Each row becomes a data.Record whose
// fields are read straight from the tensors, and Transforms.Encode, which
// encodes training rows, encodes it: no map per row as Transforms.Apply
// would need, and the same numbers. Columns that no input carries (the
// label) are given 0, a value every label type accepts; the batch's labels
// are zero. Record and Example buffers are reused across rows.
func (a *Artifact) encode(inputs []Tensor, n int) (*data.Batch, error) {
	rec := &data.Record{Fields: make([]data.Field, len(a.sources))}
	for k, j := range a.sources {
		if j < 0 {
			rec.Fields[k] = data.Field{Kind: data.Num}
		}
	}
	var ex data.Example
	var b *data.Batch
	for i := range n {
		for k, j := range a.sources {
			if j >= 0 {
				rec.Fields[k] = a.field(inputs[j], j, i, n)
			}
		}
		if err := a.transforms.Encode(rec, &ex); err != nil {
			return nil, fmt.Errorf("row %d: %w", i, err)
		}
		if b == nil {
			b = newBatch(&ex, n)
		}
		appendExample(b, &ex)
	}
	return b, nil
}

// field is row i of input tensor t (input j of the signature, n rows) as a
// Record field, as Transforms.Apply would read the value from a map: an
// empty BYTES element is a missing value, and a multi_hot element the
// Artifact splits itself becomes a list.
func (a *Artifact) field(t Tensor, j, i, n int) data.Field {
	switch v := t.Data.(type) {
	case []float32:
		if a.image[j] {
			w := len(v) / n
			return data.Field{Kind: data.Vec, Vec: v[i*w : (i+1)*w : (i+1)*w]}
		}
		return data.Field{Kind: data.Num, Num: float64(v[i])}
	case [][]byte:
		switch {
		case len(v[i]) == 0:
			return data.Field{}
		case a.split[j] != "":
			return data.Field{Kind: data.List, List: splitItems(string(v[i]), a.split[j])}
		}
		return data.Field{Kind: data.Str, Str: string(v[i])}
	}
	panic(fmt.Sprintf("serve: input %q holds %T, which the artifact's signature does not allow", t.Name, t.Data))
}

// newBatch allocates a batch with room for n examples shaped like ex.
func newBatch(ex *data.Example, n int) *data.Batch {
	b := &data.Batch{
		Dense:        make([]float32, 0, n*len(ex.Dense)),
		Cat:          make([][]int32, len(ex.Cat)),
		MultiIDs:     make([][]int32, len(ex.Multi)),
		MultiOffsets: make([][]int32, len(ex.Multi)),
		Labels:       make([]float32, n),
	}
	for f := range b.Cat {
		b.Cat[f] = make([]int32, 0, n)
	}
	for f := range b.MultiOffsets {
		b.MultiOffsets[f] = append(make([]int32, 0, n+1), 0)
	}
	if len(ex.Image) > 0 {
		b.Image = make([]float32, 0, n*len(ex.Image))
	}
	return b
}

// appendExample appends a copy of ex to b, in the layout data.Batch
// documents.
func appendExample(b *data.Batch, ex *data.Example) {
	b.Size++
	b.Dense = append(b.Dense, ex.Dense...)
	for f, id := range ex.Cat {
		b.Cat[f] = append(b.Cat[f], id)
	}
	for f, ids := range ex.Multi {
		b.MultiIDs[f] = append(b.MultiIDs[f], ids...)
		b.MultiOffsets[f] = append(b.MultiOffsets[f], int32(len(b.MultiIDs[f])))
	}
	b.Image = append(b.Image, ex.Image...)
}
