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
	b := a.transforms.NewBatch(n)
	for i := range n {
		for k, j := range a.sources {
			if j >= 0 {
				rec.Fields[k] = a.field(inputs[j], j, i, n)
			}
		}
		if err := a.transforms.Encode(rec, &ex); err != nil {
			return nil, fmt.Errorf("row %d: %w", i, err)
		}
		b.Append(&ex)
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
