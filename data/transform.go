package data

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Transforms is the fitted preprocessing of a job's features and label: it
// turns a raw Record into an Example. Fit builds it from training data in
// one pass; it marshals to JSON for the model artifact's model.json, and
// serving applies the unmarshalled copy with Apply, so training and serving
// compute exactly the same numbers. A Transforms is read-only once built and
// safe for concurrent use.
type Transforms struct {
	Features []FeatureTransform `json:"features"`
	Label    Label              `json:"label"`

	layout layout
}

// FeatureTransform is one feature's configuration plus what was fitted.
type FeatureTransform struct {
	Feature
	// Fill replaces a missing number (after Log): the fitted mean.
	Fill float64 `json:"fill,omitempty"`
	// Mean and Std are those of the training values (after Log), used by
	// the standard normalisation; a zero Std is stored as 1.
	Mean float64 `json:"mean,omitempty"`
	Std  float64 `json:"std,omitempty"`
	// Min and Max are used by the minmax normalisation.
	Min float64 `json:"min,omitempty"`
	Max float64 `json:"max,omitempty"`
	// Boundaries are the bucket boundaries, fixed or fitted quantiles.
	Boundaries []float64 `json:"boundaries,omitempty"`
	// Vocabulary lists the in-vocabulary values; a value's id is its index.
	Vocabulary []string `json:"vocabulary,omitempty"`
	// Shape is an image's [C, H, W].
	Shape []int `json:"shape,omitempty"`

	index map[string]int32
}

// Output groups of a feature in an Example.
const (
	groupDense = iota
	groupCat
	groupMulti
	groupImage
)

// layout places features in an Example and columns in a Record.
type layout struct {
	columns  []string // distinct source columns read: features', then the label's
	column   []int    // per feature: index into columns
	group    []int    // per feature: groupDense...
	slot     []int    // per feature: index within its group
	counts   [4]int   // features per group
	labelCol int
}

// Slot names one categorical or multi-hot input and its number of ids.
type Slot struct {
	Name        string
	Cardinality int
}

// Schema describes the Examples and Batches a Transforms produces, for
// building a model's input layers.
type Schema struct {
	Dense       []string // names of the dense columns, in order
	Categorical []Slot   // one id per example each
	MultiHot    []Slot   // a list of ids per example each
	Image       []int    // [C, H, W], or nil without an image feature
	Label       Label
}

// newTransforms checks cfg and lays it out; nothing is fitted yet.
func newTransforms(features []Feature, label Label) (*Transforms, error) {
	t := &Transforms{Label: label}
	for _, f := range features {
		t.Features = append(t.Features, FeatureTransform{Feature: f, Boundaries: slices.Clone(f.Buckets.Boundaries)})
	}
	if err := t.init(); err != nil {
		return nil, err
	}
	return t, nil
}

// init computes the layout and lookup tables, checking the configuration.
func (t *Transforms) init() error {
	l := layout{}
	addColumn := func(c string) int {
		if i := slices.Index(l.columns, c); i >= 0 {
			return i
		}
		l.columns = append(l.columns, c)
		return len(l.columns) - 1
	}
	for i := range t.Features {
		ft := &t.Features[i]
		if ft.Column == "" {
			ft.Column = ft.Name
		}
		g, err := ft.group()
		if err != nil {
			return err
		}
		if ft.VocabFrom != "" {
			if err := t.checkVocabFrom(ft); err != nil {
				return err
			}
		} else if (ft.Type == Categorical || ft.Type == MultiHot) && ft.HashBuckets <= 0 && ft.Vocab.OOVBuckets < 1 {
			return fmt.Errorf("data: feature %q: vocab.oov_buckets must be at least 1 without hash_buckets", ft.Name)
		}
		if err := ft.checkNormalize(); err != nil {
			return err
		}
		if g == groupImage && l.counts[groupImage] > 0 {
			return fmt.Errorf("data: feature %q: only one image feature is allowed", ft.Name)
		}
		l.column = append(l.column, addColumn(ft.Column))
		l.group = append(l.group, g)
		l.slot = append(l.slot, l.counts[g])
		l.counts[g]++
		if ft.Vocabulary != nil {
			ft.index = make(map[string]int32, len(ft.Vocabulary))
			for id, v := range ft.Vocabulary {
				ft.index[v] = int32(id)
			}
		}
	}
	if t.Label.Name == "" {
		return errors.New("data: the label has no column name")
	}
	switch t.Label.Type {
	case Binary, Regression, Multiclass:
	default:
		return fmt.Errorf("data: label type %q is not allowed (allowed: binary, multiclass, regression)", t.Label.Type)
	}
	l.labelCol = addColumn(t.Label.Name)
	t.layout = l
	return nil
}

func (ft *FeatureTransform) group() (int, error) {
	switch ft.Type {
	case Numeric:
		if ft.Buckets.Enabled() {
			return groupCat, nil
		}
		return groupDense, nil
	case Categorical:
		return groupCat, nil
	case MultiHot:
		return groupMulti, nil
	case Image:
		return groupImage, nil
	}
	return 0, fmt.Errorf("data: feature %q: type %q is not allowed (allowed: categorical, image, multi_hot, numeric)", ft.Name, ft.Type)
}

// vocabOwner returns the index of the feature whose vocabulary ft uses:
// the one VocabFrom names, or ft's own index i.
func (t *Transforms) vocabOwner(i int) int {
	name := t.Features[i].VocabFrom
	if name == "" {
		return i
	}
	return slices.IndexFunc(t.Features, func(o FeatureTransform) bool { return o.Name == name })
}

// checkVocabFrom checks that ft shares the vocabulary of a feature that
// fits one of its own, and takes that feature's vocabulary settings.
func (t *Transforms) checkVocabFrom(ft *FeatureTransform) error {
	i := slices.IndexFunc(t.Features, func(o FeatureTransform) bool { return o.Name == ft.VocabFrom })
	switch {
	case ft.Type != Categorical && ft.Type != MultiHot:
		return fmt.Errorf("data: feature %q: vocab_from is only for categorical and multi_hot features", ft.Name)
	case i < 0:
		return fmt.Errorf("data: feature %q: vocab_from names no feature %q", ft.Name, ft.VocabFrom)
	}
	o := t.Features[i]
	if (o.Type != Categorical && o.Type != MultiHot) || o.HashBuckets > 0 || o.VocabFrom != "" || o.Name == ft.Name {
		return fmt.Errorf("data: feature %q: vocab_from %q must name another categorical or multi_hot feature with a vocabulary of its own", ft.Name, ft.VocabFrom)
	}
	ft.HashBuckets, ft.Vocab = 0, o.Vocab
	return nil
}

// checkNormalize rejects a normalisation the feature type does not have.
// An empty one means none.
func (ft *FeatureTransform) checkNormalize() error {
	allowed := map[string]bool{"": true, NormNone: true, NormStandard: true}
	switch ft.Type {
	case Numeric:
		allowed[NormMinMax] = true
	case Image:
		allowed[NormScale] = true
	}
	if !allowed[ft.Normalize] {
		return fmt.Errorf("data: feature %q: normalize %q is not allowed for a %s feature", ft.Name, ft.Normalize, ft.Type)
	}
	return nil
}

// UnmarshalJSON restores fitted transforms, as written by json.Marshal.
func (t *Transforms) UnmarshalJSON(b []byte) error {
	type plain Transforms
	if err := json.Unmarshal(b, (*plain)(t)); err != nil {
		return err
	}
	return t.init()
}

// Columns returns the source columns the transforms read, in Record order.
func (t *Transforms) Columns() []string { return slices.Clone(t.layout.columns) }

// Schema describes the examples these transforms produce.
func (t *Transforms) Schema() Schema {
	s := Schema{Label: t.Label}
	for i := range t.Features {
		ft := &t.Features[i]
		switch t.layout.group[i] {
		case groupDense:
			s.Dense = append(s.Dense, ft.Name)
		case groupCat:
			s.Categorical = append(s.Categorical, Slot{ft.Name, ft.Cardinality()})
		case groupMulti:
			s.MultiHot = append(s.MultiHot, Slot{ft.Name, ft.Cardinality()})
		case groupImage:
			s.Image = slices.Clone(ft.Shape)
		}
	}
	return s
}

// Cardinality is the number of distinct ids an id-valued feature produces.
func (ft *FeatureTransform) Cardinality() int {
	switch {
	case ft.Type == Numeric:
		return len(ft.Boundaries) + 1
	case ft.HashBuckets > 0:
		return ft.HashBuckets
	}
	return len(ft.Vocabulary) + ft.Vocab.OOVBuckets
}

// Example is one encoded row. Dense holds the numeric features, Cat one id
// per categorical (or bucketised) feature, Multi a list of ids per
// multi_hot feature, Image the image's C*H*W values, in Schema order.
type Example struct {
	Dense []float32
	Cat   []int32
	Multi [][]int32
	Image []float32
	Label float32
}

// newExample allocates an Example with the sizes of t's layout.
func (t *Transforms) newExample() *Example {
	c := t.layout.counts
	return &Example{
		Dense: make([]float32, c[groupDense]),
		Cat:   make([]int32, c[groupCat]),
		Multi: make([][]int32, c[groupMulti]),
	}
}

// Encode turns r, whose fields follow Columns, into ex, allocating ex's
// slices when nil. A bad value is a *RowError naming the row and column.
func (t *Transforms) Encode(r *Record, ex *Example) error {
	if err := t.encodeFeatures(r, ex); err != nil {
		return err
	}
	y, err := t.label(r.Fields[t.layout.labelCol])
	if err != nil {
		return r.rowError(t.Label.Name, err)
	}
	ex.Label = y
	return nil
}

func (t *Transforms) encodeFeatures(r *Record, ex *Example) error {
	if ex.Dense == nil && ex.Cat == nil && ex.Multi == nil {
		*ex = *t.newExample()
	}
	for i := range t.Features {
		ft := &t.Features[i]
		f := r.Fields[t.layout.column[i]]
		slot := t.layout.slot[i]
		var err error
		switch t.layout.group[i] {
		case groupDense:
			var x float64
			x, err = ft.dense(f)
			ex.Dense[slot] = float32(x)
		case groupCat:
			ex.Cat[slot], err = ft.id(f)
		case groupMulti:
			ex.Multi[slot], err = ft.ids(f, ex.Multi[slot][:0])
		case groupImage:
			ex.Image, err = ft.image(f, ex.Image[:0])
		}
		if err != nil {
			return r.rowError(ft.Column, err)
		}
	}
	return nil
}

// Apply encodes one raw input row for serving: row maps a column name to a
// number (any Go numeric type), a string, a list ([]string or []any) or,
// for an image, []float32 / []float64 of raw values. The label is not
// needed. It gives exactly the numbers Encode gives for the same row read
// from a file.
func (t *Transforms) Apply(row map[string]any) (*Example, error) {
	r := &Record{Fields: make([]Field, len(t.layout.columns))}
	for i, c := range t.layout.columns {
		if i == t.layout.labelCol && !slices.Contains(t.layout.column, i) {
			continue
		}
		f, err := fieldOf(row[c])
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c, err)
		}
		r.Fields[i] = f
	}
	ex := t.newExample()
	if err := t.encodeFeatures(r, ex); err != nil {
		return nil, err
	}
	return ex, nil
}

// ApplyBatch encodes several raw input rows, each as Apply does, into one
// Batch for a model's forward pass; its Labels are zero. A bad row is an
// error naming its index and column.
func (t *Transforms) ApplyBatch(rows []map[string]any) (*Batch, error) {
	b := t.NewBatch(len(rows))
	for i, row := range rows {
		ex, err := t.Apply(row)
		if err != nil {
			return nil, fmt.Errorf("row %d: %w", i, err)
		}
		b.Append(ex)
	}
	return b, nil
}

// fieldOf converts a serving input value to a Field.
func fieldOf(v any) (Field, error) {
	switch v := v.(type) {
	case nil:
		return Field{}, nil
	case string:
		if v == "" {
			return Field{}, nil
		}
		return Field{Kind: Str, Str: v}, nil
	case float64:
		return Field{Kind: Num, Num: v}, nil
	case float32:
		return Field{Kind: Num, Num: float64(v)}, nil
	case int:
		return Field{Kind: Num, Num: float64(v)}, nil
	case int32:
		return Field{Kind: Num, Num: float64(v)}, nil
	case int64:
		return Field{Kind: Num, Num: float64(v)}, nil
	case bool:
		if v {
			return Field{Kind: Num, Num: 1}, nil
		}
		return Field{Kind: Num}, nil
	case json.Number:
		x, err := v.Float64()
		return Field{Kind: Num, Num: x}, err
	case []string:
		return Field{Kind: List, List: v}, nil
	case []any:
		list := make([]string, len(v))
		for i, item := range v {
			f, err := fieldOf(item)
			if err != nil || (f.Kind != Str && f.Kind != Num) {
				return Field{}, fmt.Errorf("list item %d: want a string or number, got %T", i, item)
			}
			list[i] = f.text()
		}
		return Field{Kind: List, List: list}, nil
	case []float32:
		return Field{Kind: Vec, Vec: v}, nil
	case []float64:
		vec := make([]float32, len(v))
		for i, x := range v {
			vec[i] = float32(x)
		}
		return Field{Kind: Vec, Vec: vec}, nil
	}
	return Field{}, fmt.Errorf("unsupported value type %T", v)
}

// number is a field's numeric value (before Log); ok is false when missing.
func (f Field) number() (x float64, ok bool, err error) {
	switch f.Kind {
	case Null:
		return 0, false, nil
	case Num:
		x = f.Num
	case Str:
		x, err = strconv.ParseFloat(strings.TrimSpace(f.Str), 64)
		if err != nil {
			return 0, false, fmt.Errorf("%q is not a number", f.Str)
		}
	default:
		return 0, false, fmt.Errorf("want a number, got a %s", f.Kind)
	}
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, false, fmt.Errorf("%v is not a finite number", x)
	}
	return x, true, nil
}

// text is a scalar field's value as a string: numbers that are integers
// print without a fraction, so 7 and "7" are the same category.
func (f Field) text() string {
	if f.Kind == Num {
		if f.Num == math.Trunc(f.Num) && math.Abs(f.Num) < 1<<53 {
			return strconv.FormatInt(int64(f.Num), 10)
		}
		return strconv.FormatFloat(f.Num, 'g', -1, 64)
	}
	return f.Str
}

// items is a multi-hot field's list of values.
func (f Field) items(sep string, buf []string) ([]string, error) {
	switch f.Kind {
	case Null:
		return buf, nil
	case List:
		return append(buf, f.List...), nil
	case Str:
		for item := range strings.SplitSeq(f.Str, sep) {
			if item != "" {
				buf = append(buf, item)
			}
		}
		return buf, nil
	case Num:
		return append(buf, f.text()), nil
	}
	return nil, fmt.Errorf("want a list, got a %s", f.Kind)
}

// String names the kind for error messages.
func (k Kind) String() string {
	return [...]string{"missing value", "number", "string", "list", "vector"}[k]
}

// value is a numeric feature's value after Log and missing-value filling.
func (ft *FeatureTransform) value(f Field) (float64, error) {
	x, ok, err := f.number()
	if err != nil || !ok {
		return ft.Fill, err
	}
	if ft.Log {
		x = math.Log1p(max(x, 0))
	}
	return x, nil
}

// dense encodes a normalised numeric feature.
func (ft *FeatureTransform) dense(f Field) (float64, error) {
	x, err := ft.value(f)
	if err != nil {
		return 0, err
	}
	switch ft.Normalize {
	case NormStandard:
		return (x - ft.Mean) / ft.Std, nil
	case NormMinMax:
		if ft.Max > ft.Min {
			return (x - ft.Min) / (ft.Max - ft.Min), nil
		}
		return 0, nil
	}
	return x, nil
}

// id encodes a categorical or bucketised feature.
func (ft *FeatureTransform) id(f Field) (int32, error) {
	if ft.Type == Numeric {
		x, err := ft.value(f)
		return int32(sort.Search(len(ft.Boundaries), func(i int) bool { return ft.Boundaries[i] > x })), err
	}
	if f.Kind != Null && f.Kind != Str && f.Kind != Num {
		return 0, fmt.Errorf("want one value, got a %s", f.Kind)
	}
	return ft.lookup(f.text()), nil
}

// lookup maps one categorical value to its id.
func (ft *FeatureTransform) lookup(s string) int32 {
	if ft.HashBuckets > 0 {
		return hashID(s, ft.HashBuckets)
	}
	if id, ok := ft.index[s]; ok {
		return id
	}
	return int32(len(ft.Vocabulary)) + hashID(s, ft.Vocab.OOVBuckets)
}

// ids encodes a multi_hot feature, appending to buf.
func (ft *FeatureTransform) ids(f Field, buf []int32) ([]int32, error) {
	items, err := f.items(ft.Separator, nil)
	if err != nil {
		return nil, err
	}
	if ft.MaxLen > 0 && len(items) > ft.MaxLen {
		items = items[len(items)-ft.MaxLen:]
	}
	for _, s := range items {
		buf = append(buf, ft.lookup(s))
	}
	return buf, nil
}

// image encodes an image's pixels, appending to buf.
func (ft *FeatureTransform) image(f Field, buf []float32) ([]float32, error) {
	if f.Kind != Vec {
		return nil, fmt.Errorf("want an image, got a %s", f.Kind)
	}
	if want := shapeSize(ft.Shape); len(f.Vec) != want {
		return nil, fmt.Errorf("image has %d values, want %d (shape %v)", len(f.Vec), want, ft.Shape)
	}
	scale, shift := float32(1), float32(0)
	switch ft.Normalize {
	case NormScale:
		scale = 1.0 / 255
	case NormStandard:
		scale, shift = float32(1/ft.Std), float32(-ft.Mean/ft.Std)
	}
	for _, v := range f.Vec {
		buf = append(buf, v*scale+shift)
	}
	return buf, nil
}

func shapeSize(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// label decodes the label value.
func (t *Transforms) label(f Field) (float32, error) {
	y, ok, err := f.number()
	if err == nil && !ok {
		err = errors.New("missing label")
	}
	if err != nil {
		return 0, err
	}
	switch t.Label.Type {
	case Binary:
		if y != 0 && y != 1 {
			return 0, fmt.Errorf("binary label %v is not 0 or 1", y)
		}
	case Multiclass:
		if y != math.Trunc(y) || y < 0 || int(y) >= t.Label.NumClasses {
			return 0, fmt.Errorf("class %v is not an integer in [0, %d)", y, t.Label.NumClasses)
		}
	}
	return float32(y), nil
}

// hashID maps s to [0, n) with 64-bit FNV-1a, the hash that serving code in
// any language must use to reproduce hashed ids.
func hashID(s string, n int) int32 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return int32(h % uint64(n))
}
