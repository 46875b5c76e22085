package explain

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mlenv/mlenv/data"
	"github.com/mlenv/mlenv/modelfile"
	"github.com/mlenv/mlenv/models"
	"github.com/mlenv/mlenv/nn"
	"github.com/mlenv/mlenv/tensor"
)

// Artifact explains a zoo model loaded from a model artifact. Its Model
// takes points in the space the network sees: the encoded numeric
// features, one embedded field per categorical and multi_hot feature (the
// concatenated rows of every embedding table the network looks the
// feature's ids up in, a multi_hot list pooled by its mean, as the zoo
// does) and the image as one field.
//
// The zoo's models look their embeddings up inside Forward, so Artifact
// runs the network on private replicas: each shares the artifact's
// weights (read-only, no gradients) and has the tables of the explained
// features replaced, for each pass, by the interpolated vectors, one row
// per point. A feature whose ids reach the network other than through
// tables named "cat.<slot>.weight" or "multi.<slot>.weight" (the zoo's
// feature embeddings, under any prefix) cannot be explained this way, and
// FromArtifact says so.
type Artifact struct {
	Model
	file   *modelfile.Model
	schema data.Schema
	target int
	fields []artifactField

	mu   sync.Mutex
	free []*replica
}

// artifactField is an embedded field and the tables that make it: their
// state-dict names and widths, in the order of its columns.
type artifactField struct {
	image  bool
	slot   int
	multi  bool
	tables []string
	widths []int
}

// replica is a copy of the network for one pass at a time.
type replica struct {
	net    models.Model
	tables [][]*tensor.Tensor // per field, per table
}

// FromArtifact prepares m for attribution of output column target (0 for
// binary and regression labels, a class index for multiclass ones).
func FromArtifact(m *modelfile.Model, target int) (*Artifact, error) {
	t := m.Meta.Transforms
	schema := t.Schema()
	if out := models.Outputs(schema.Label); target < 0 || target >= out {
		return nil, fmt.Errorf("explain: target output %d out of range: model %q has %d outputs", target, m.Meta.Name, out)
	}
	a := &Artifact{file: m, schema: schema, target: target}
	a.Inputs.Dense = slices.Clone(schema.Dense)
	sd := nn.StateDict(m.Net)
	for i, s := range schema.Categorical {
		if err := a.addField(sd, s.Name, i, false); err != nil {
			return nil, err
		}
	}
	for i, s := range schema.MultiHot {
		if err := a.addField(sd, s.Name, i, true); err != nil {
			return nil, err
		}
	}
	if s := schema.Image; s != nil {
		a.fields = append(a.fields, artifactField{image: true})
		a.Inputs.Embedded = append(a.Inputs.Embedded, Field{Name: imageName(t), Width: s[0] * s[1] * s[2]})
	}
	a.Worker = a.worker
	return a, nil
}

// addField finds the tables of a categorical (or multi_hot) slot.
func (a *Artifact) addField(sd map[string]*tensor.Tensor, name string, slot int, multi bool) error {
	kind := "cat"
	if multi {
		kind = "multi"
	}
	suffix := kind + "." + strconv.Itoa(slot) + ".weight"
	f := artifactField{slot: slot, multi: multi}
	for _, p := range a.file.Net.Parameters() {
		if p.Name == suffix || strings.HasSuffix(p.Name, "."+suffix) {
			f.tables = append(f.tables, p.Name)
			f.widths = append(f.widths, sd[p.Name].Dim(1))
		}
	}
	if len(f.tables) == 0 {
		return fmt.Errorf("explain: architecture %q does not embed feature %q through a %q table; its attributions cannot be computed", a.file.Meta.Arch, name, suffix)
	}
	width := 0
	for _, w := range f.widths {
		width += w
	}
	a.fields = append(a.fields, f)
	a.Inputs.Embedded = append(a.Inputs.Embedded, Field{Name: name, Width: width})
	return nil
}

func imageName(t *data.Transforms) string {
	for _, f := range t.Features {
		if f.Type == data.Image {
			return f.Name
		}
	}
	return "image"
}

// Points encodes the examples of a batch as points: the dense values,
// then each field's embedding vectors (or pixels).
func (a *Artifact) Points(b *data.Batch) [][]float32 {
	sd := nn.StateDict(a.file.Net)
	nd := len(a.Inputs.Dense)
	pts := make([][]float32, b.Size)
	for i := range pts {
		p := make([]float32, 0, a.Inputs.Width())
		p = append(p, b.Dense[i*nd:(i+1)*nd]...)
		for k, f := range a.fields {
			if f.image {
				w := a.Inputs.Embedded[k].Width
				p = append(p, b.Image[i*w:(i+1)*w]...)
				continue
			}
			ids := []int32{0}
			if f.multi {
				ids = b.MultiIDs[f.slot][b.MultiOffsets[f.slot][i]:b.MultiOffsets[f.slot][i+1]]
			} else {
				ids[0] = b.Cat[f.slot][i]
			}
			for j, name := range f.tables {
				p = appendMeanRow(p, sd[name].Data(), f.widths[j], ids)
			}
		}
		pts[i] = p
	}
	return pts
}

// appendMeanRow appends the mean of the rows ids of table (width w), or
// zeros for no ids.
func appendMeanRow(p, table []float32, w int, ids []int32) []float32 {
	start := len(p)
	p = append(p, make([]float32, w)...)
	for _, id := range ids {
		for j, v := range table[int(id)*w : (int(id)+1)*w] {
			p[start+j] += v / float32(len(ids))
		}
	}
	return p
}

// TrainingMeans returns the mean baseline: the encoded training means of
// the numeric features, from the fitted transforms, and the mean of the
// embedded fields over points (a sample of the data, as Points encodes
// it).
func (a *Artifact) TrainingMeans(points [][]float32) []float32 {
	means := Means(points)
	if means == nil {
		means = make([]float32, a.Inputs.Width())
	}
	d := 0
	for _, f := range a.file.Meta.Transforms.Features {
		if f.Type != data.Numeric || f.Buckets.Enabled() {
			continue
		}
		means[d] = float32(encodedMean(f))
		d++
	}
	return means
}

// encodedMean is the fitted mean of a numeric feature after its
// normalisation.
func encodedMean(f data.FeatureTransform) float64 {
	switch f.Normalize {
	case data.NormStandard:
		return 0
	case data.NormMinMax:
		if f.Max > f.Min {
			return (f.Mean - f.Min) / (f.Max - f.Min)
		}
		return 0
	}
	return f.Mean
}

// worker gives one worker goroutine a replica of its own: the replica's
// tables are part of the graph until the worker's backward pass.
func (a *Artifact) worker() (Func, func(), error) {
	rep, err := a.get()
	if err != nil {
		return nil, nil, err
	}
	return func(dense *tensor.Tensor, embs []*tensor.Tensor) *tensor.Tensor {
		return a.forward(rep, dense, embs)
	}, func() { a.put(rep) }, nil
}

// forward runs the network on a replica with the points as inputs.
func (a *Artifact) forward(rep *replica, dense *tensor.Tensor, embs []*tensor.Tensor) *tensor.Tensor {
	rows := dense
	if rows == nil {
		rows = embs[0]
	}
	n, ar := rows.Dim(0), rows.Arena()
	b := &data.Batch{Size: n, Cat: make([][]int32, len(a.schema.Categorical)),
		MultiIDs: make([][]int32, len(a.schema.MultiHot)), MultiOffsets: make([][]int32, len(a.schema.MultiHot))}
	seq := make([]int32, n+1)
	for i := range seq {
		seq[i] = int32(i)
	}
	for s := range b.Cat {
		b.Cat[s] = seq[:n]
	}
	for s := range b.MultiIDs {
		b.MultiIDs[s], b.MultiOffsets[s] = seq[:n], seq
	}
	if dense != nil {
		b.Dense = dense.Data()
	}
	if a.schema.Image != nil {
		b.Image = embs[len(embs)-1].Data()
	}
	in := models.NewInput(ar, b, a.schema)
	in.Dense = dense
	for k, f := range a.fields {
		if f.image {
			s := a.schema.Image
			in.Image = tensor.Reshape(embs[k], n, s[0], s[1], s[2])
			continue
		}
		off := 0
		for j, table := range rep.tables[k] {
			// A view of the leaf, so that the gradient of the looked-up
			// rows flows back to it.
			*table = *tensor.Slice(embs[k], 1, off, off+f.widths[j])
			off += f.widths[j]
		}
	}
	out := rep.net.Forward(in)
	return tensor.Slice(out, 1, a.target, a.target+1)
}

// get takes a free replica or builds one.
func (a *Artifact) get() (*replica, error) {
	a.mu.Lock()
	if n := len(a.free); n > 0 {
		r := a.free[n-1]
		a.free = a.free[:n-1]
		a.mu.Unlock()
		return r, nil
	}
	a.mu.Unlock()
	meta := a.file.Meta
	net, err := models.Build(meta.Arch, meta.Params, a.schema, 0)
	if err != nil {
		return nil, fmt.Errorf("explain: replica of %q: %w", meta.Name, err)
	}
	src, dst := nn.StateDict(a.file.Net), nn.StateDict(net)
	for name, d := range dst {
		s, ok := src[name]
		if !ok || !slices.Equal(s.Shape(), d.Shape()) {
			return nil, fmt.Errorf("explain: replica of %q: parameter %q does not match the artifact", meta.Name, name)
		}
		*d = *tensor.FromSlice(s.Data(), s.Shape()...)
	}
	nn.SetTraining(net, false)
	r := &replica{net: net, tables: make([][]*tensor.Tensor, len(a.fields))}
	for k, f := range a.fields {
		for _, name := range f.tables {
			r.tables[k] = append(r.tables[k], dst[name])
		}
	}
	return r, nil
}

func (a *Artifact) put(r *replica) {
	a.mu.Lock()
	a.free = append(a.free, r)
	a.mu.Unlock()
}
