package models

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/mlenv/mlenv/data"
	"github.com/mlenv/mlenv/nn"
	"github.com/mlenv/mlenv/tensor"
)

// features turns a selection of an Input's features into tensors: the
// numeric features as they are, the flattened image, and one embedding
// vector of width dim per categorical and multi_hot feature (the mean of
// a multi_hot list). Architectures combine these parts in their own way.
type features struct {
	dense    []int // columns of Input.Dense, nil for none
	allDense bool  // dense covers every column, no selection needed
	image    int   // flattened image size, 0 for none
	cats     []int // slots of Input.Cat
	catEmb   []*nn.Embedding
	multis   []int // slots of Input.Multi
	multiEmb []*nn.EmbeddingBag
}

// newFeatures selects the features called names from schema (all of them
// when names is nil) and makes their embeddings of width dim. param names
// the parameter that listed the names, for errors.
func newFeatures(cfg Config, dim int, names []string, param string) (*features, error) {
	s := cfg.Schema
	f := &features{}
	want := func(name string) bool { return names == nil || slices.Contains(names, name) }
	found := 0
	for i, name := range s.Dense {
		if want(name) {
			f.dense = append(f.dense, i)
			found++
		}
	}
	f.allDense = len(f.dense) == len(s.Dense)
	for i, slot := range s.Categorical {
		if want(slot.Name) {
			f.cats = append(f.cats, i)
			f.catEmb = append(f.catEmb, newEmbedding(cfg.Rand, slot.Cardinality, dim))
			found++
		}
	}
	for i, slot := range s.MultiHot {
		if want(slot.Name) {
			f.multis = append(f.multis, i)
			f.multiEmb = append(f.multiEmb, newBag(cfg.Rand, slot.Cardinality, dim))
			found++
		}
	}
	if s.Image != nil && names == nil {
		f.image = s.Image[0] * s.Image[1] * s.Image[2]
	}
	if names != nil && found != len(names) {
		for i, n := range names {
			if !slices.Contains(s.Dense, n) && !hasSlot(s.Categorical, n) && !hasSlot(s.MultiHot, n) {
				return nil, &ParamError{fmt.Sprintf("%s[%d]", param, i), fmt.Sprintf("%q is not a numeric, categorical or multi_hot feature of data.features", n)}
			}
		}
	}
	if found == 0 && f.image == 0 {
		return nil, &ParamError{param, "selects no features"}
	}
	return f, nil
}

func hasSlot(slots []data.Slot, name string) bool {
	return slices.ContainsFunc(slots, func(s data.Slot) bool { return s.Name == name })
}

// numWidth is the width of the numeric part: dense features plus image.
func (f *features) numWidth() int { return len(f.dense) + f.image }

// numeric returns the dense features and flattened image as [n, numWidth],
// or nil when there are none.
func (f *features) numeric(in *Input) *tensor.Tensor {
	var parts []*tensor.Tensor
	if len(f.dense) > 0 {
		d := in.Dense
		if !f.allDense {
			d = tensor.IndexSelect(d, 1, f.dense)
		}
		parts = append(parts, d)
	}
	if f.image > 0 {
		parts = append(parts, tensor.Reshape(in.Image, in.Size, f.image))
	}
	switch len(parts) {
	case 0:
		return nil
	case 1:
		return parts[0]
	}
	return tensor.Concat(1, parts...)
}

// embedded returns one [n, dim] vector per categorical and multi_hot
// feature, in schema order.
func (f *features) embedded(in *Input) []*tensor.Tensor {
	out := make([]*tensor.Tensor, 0, len(f.cats)+len(f.multis))
	for k, slot := range f.cats {
		out = append(out, f.catEmb[k].Lookup(in.arena, in.Cat[slot]))
	}
	for k, slot := range f.multis {
		bag := in.Multi[slot]
		out = append(out, f.multiEmb[k].Forward(in.arena, bag.IDs, bag.Offsets))
	}
	return out
}

// width is the width of concat for embeddings of width dim.
func (f *features) width(dim int) int {
	return f.numWidth() + (len(f.cats)+len(f.multis))*dim
}

// concat returns numeric and embedded parts side by side: [n, width(dim)].
func (f *features) concat(in *Input) *tensor.Tensor {
	parts := f.embedded(in)
	if x := f.numeric(in); x != nil {
		parts = append([]*tensor.Tensor{x}, parts...)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return tensor.Concat(1, parts...)
}

// Parameters names the tables "cat.<i>.weight" and "multi.<i>.weight"
// after the slot they embed.
func (f *features) Parameters() []nn.NamedParam {
	var ps []nn.NamedParam
	for k, slot := range f.cats {
		ps = append(ps, nn.Prefix("cat."+itoa(slot), f.catEmb[k])...)
	}
	for k, slot := range f.multis {
		ps = append(ps, nn.Prefix("multi."+itoa(slot), f.multiEmb[k])...)
	}
	return ps
}

func itoa(i int) string { return strconv.Itoa(i) }
