package serve

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/mlenv/mlenv/data"
	"github.com/mlenv/mlenv/modelfile"
)

// Artifact serves an mlenv model artifact (package modelfile): requests
// carry the raw feature columns of the artifact's signature by name, the
// artifact's fitted transforms encode them exactly as training did, and the
// network runs in no-grad mode. Inputs, one per signature column, all with
// the batch as first dimension:
//
//   - numeric: FP32 [n]; NaN and ±Inf are rejected.
//   - categorical: BYTES [n]; integer ids as their decimal text ("7"). An
//     empty string is a missing value.
//   - multi_hot: BYTES [n], each element the row's items joined with the
//     feature's separator (data.features[].separator of the job spec, "|"
//     by default), or with "," when the artifact's feature has none.
//     Empty items are dropped.
//   - image: FP32 [n, C, H, W] of raw pixel values.
//
// There is one output, named after the signature's output kind:
// "probability" FP32 [n, 1] for a binary label, "probabilities" FP32
// [n, classes] for a multiclass one, "value" FP32 [n, k] for regression.
//
// An Artifact is safe for concurrent use. A modelfile.Model serialises
// its Predict calls, so an Artifact holds one or more copies of the model
// and each Infer call takes an idle one: with k copies, k batches (the
// batcher's Instances) run at once.
type Artifact struct {
	idle       chan *modelfile.Model // the copies not running a batch
	transforms *data.Transforms      // the copies' fitted transforms (all equal)
	meta       Metadata
	image      []bool          // raw inputs: whether it is an image column
	split      []string        // raw inputs: where to split a multi_hot element ourselves, or "" to leave it to the transforms
	sources    []int           // per column of the transforms' Records: the raw input it is read from (see fieldSources)
	prepared   []preparedInput // per input of a Prepared view; nil for raw inputs
}

var _ InputChecker = (*Artifact)(nil)

// LoadArtifact loads the artifact directory dir (see modelfile.Load) copies
// times (at least once) and serves it as model name at version label ver;
// an empty name stands for the artifact's own name, or else the
// directory's base name.
func LoadArtifact(dir, name, ver string, copies int) (*Artifact, error) {
	ms := make([]*modelfile.Model, max(copies, 1))
	for i := range ms {
		m, err := modelfile.Load(dir)
		if err != nil {
			return nil, err
		}
		ms[i] = m
	}
	if name == "" {
		name = cmp.Or(ms[0].Meta.Name, filepath.Base(filepath.Clean(dir)))
	}
	return NewArtifact(ms[0], name, ver, ms[1:]...)
}

// NewArtifact serves the loaded model m, and its copies (loaded from the
// same artifact), as model name at version label ver. It fails when the
// signature has a column type it cannot take.
func NewArtifact(m *modelfile.Model, name, ver string, copies ...*modelfile.Model) (*Artifact, error) {
	sig := m.Meta.Signature
	a := &Artifact{idle: make(chan *modelfile.Model, 1+len(copies)), transforms: m.Meta.Transforms, meta: Metadata{Name: name, Version: ver, Platform: "mlenv"}}
	a.idle <- m
	for _, c := range copies {
		a.idle <- c
	}
	for _, c := range sig.Inputs {
		spec, err := columnSpec(m.Meta.Transforms, c)
		if err != nil {
			return nil, fmt.Errorf("model %q: %w", name, err)
		}
		a.meta.Inputs = append(a.meta.Inputs, spec)
		a.image = append(a.image, c.Type == data.Image)
		a.split = append(a.split, listSeparator(m.Meta.Transforms, c))
	}
	a.sources = fieldSources(m.Meta.Transforms, a.meta.Inputs)
	if sig.Output.Kind == "" || sig.Output.Width < 1 {
		return nil, fmt.Errorf("model %q: signature output %q of width %d", name, sig.Output.Kind, sig.Output.Width)
	}
	a.meta.Outputs = []TensorSpec{{Name: sig.Output.Kind, Datatype: FP32, Shape: []int64{-1, int64(sig.Output.Width)}}}
	return a, nil
}

// columnSpec is the input tensor that carries raw column c.
func columnSpec(t *data.Transforms, c modelfile.Column) (TensorSpec, error) {
	switch c.Type {
	case data.Numeric:
		return TensorSpec{Name: c.Name, Datatype: FP32, Shape: []int64{-1}}, nil
	case data.Categorical, data.MultiHot:
		return TensorSpec{Name: c.Name, Datatype: Bytes, Shape: []int64{-1}}, nil
	case data.Image:
		for _, f := range t.Features {
			if f.Column == c.Name && len(f.Shape) > 0 {
				shape := []int64{-1}
				for _, d := range f.Shape {
					shape = append(shape, int64(d))
				}
				return TensorSpec{Name: c.Name, Datatype: FP32, Shape: shape}, nil
			}
		}
		return TensorSpec{}, fmt.Errorf("image column %q has no fitted shape", c.Name)
	}
	return TensorSpec{}, fmt.Errorf("column %q: unsupported feature type %q", c.Name, c.Type)
}

// listSeparator is the separator that splits a multi_hot element of column
// c in a request: "," when the column's feature has none, "" for columns
// that are not multi_hot lists (Apply splits by the feature's separator).
func listSeparator(t *data.Transforms, c modelfile.Column) string {
	if c.Type != data.MultiHot {
		return ""
	}
	for _, f := range t.Features {
		if f.Column == c.Name && f.Separator != "" {
			return ""
		}
	}
	return ","
}

// Metadata returns the model's name, version and raw-column signature.
func (a *Artifact) Metadata() Metadata { return a.meta }

// Infer encodes the column tensors with the artifact's transforms (or, in
// a Prepared view, lays the prepared tensors out) and runs the network on
// them as one batch. Inputs
// with different row counts (possible when the model is served without
// batching, which does not compare them) are an error wrapping
// ErrBadRequest.
func (a *Artifact) Infer(_ context.Context, inputs []Tensor) ([]Tensor, error) {
	n := int(inputs[0].Shape[0])
	for _, t := range inputs[1:] {
		if int(t.Shape[0]) != n {
			return nil, fmt.Errorf("%w: input %q has %d rows, input %q has %d", ErrBadRequest, t.Name, t.Shape[0], inputs[0].Name, n)
		}
	}
	out := Tensor{Name: a.meta.Outputs[0].Name, Datatype: FP32, Shape: []int64{int64(n), a.meta.Outputs[0].Shape[1]}}
	if n == 0 {
		out.Data = []float32{}
		return []Tensor{out}, nil
	}
	b := (*data.Batch)(nil)
	if a.prepared != nil {
		b = a.preparedBatch(inputs, n)
	} else {
		var err error
		if b, err = a.encode(inputs, n); err != nil {
			return nil, err
		}
	}
	m := <-a.idle
	defer func() { a.idle <- m }()
	preds, err := m.PredictBatch(b)
	if err != nil {
		return nil, err
	}
	flat := make([]float32, 0, n*int(out.Shape[1]))
	for _, p := range preds {
		flat = append(flat, p...)
	}
	out.Data = flat
	return []Tensor{out}, nil
}

// splitItems splits s at sep, dropping empty items.
func splitItems(s, sep string) []string {
	items := []string{}
	for item := range strings.SplitSeq(s, sep) {
		if item != "" {
			items = append(items, item)
		}
	}
	return items
}
