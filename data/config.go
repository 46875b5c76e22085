package data

// File formats a Source can name.
const (
	FormatParquet = "parquet"
	FormatCSV     = "csv"
	FormatIDX     = "idx"
)

// Feature types.
const (
	Numeric     = "numeric"     // one number per row; normalised or bucketised
	Categorical = "categorical" // one string or integer id per row
	MultiHot    = "multi_hot"   // a list of ids per row (order kept: also a sequence)
	Image       = "image"       // the pixels of an IDX image
)

// Normalisations of numeric and image features.
const (
	NormStandard = "standard" // (x - mean) / std
	NormMinMax   = "minmax"   // (x - min) / (max - min)
	NormScale    = "scale"    // x / 255, images only
	NormNone     = "none"     // x unchanged
)

// Label types.
const (
	Binary     = "binary"     // 0 or 1
	Regression = "regression" // any number
	Multiclass = "multiclass" // a class index in [0, NumClasses)
)

// Source names the files of one data split. It is the job spec's
// data.train, data.validation and data.test section.
type Source struct {
	// Path is a file or a glob (path/filepath.Match syntax); all matches are
	// read in sorted order.
	Path string `yaml:"path" json:"path"`
	// Format is parquet, csv or idx. The job spec infers it from Path.
	Format string `yaml:"format" json:"format"`
	// Labels is the glob of IDX label files, paired in sorted order with the
	// image files of Path. IDX only.
	Labels string `yaml:"labels,omitempty" json:"labels,omitempty"`
	// Delimiter separates CSV fields; one character. CSV only.
	Delimiter string `yaml:"delimiter,omitempty" json:"delimiter,omitempty"`
	// Columns names the CSV columns of files that have no header line.
	// Empty means the first line of each file is the header. CSV only.
	Columns []string `yaml:"columns,omitempty" json:"columns,omitempty"`
}

// Feature says how one input column becomes model input. It is an element
// of the job spec's data.features list; docs/jobspec.md documents each field.
type Feature struct {
	// Name is the feature's name, unique in the spec.
	Name string `yaml:"name" json:"name"`
	// Column is the source column it is read from; it defaults to Name.
	Column string `yaml:"column" json:"column"`
	// Type is numeric, categorical, multi_hot or image.
	Type string `yaml:"type" json:"type"`

	// Log applies log1p(max(x, 0)) before normalising or bucketising.
	// Numeric only.
	Log bool `yaml:"log,omitempty" json:"log,omitempty"`
	// Normalize is standard, minmax or none for numeric features and
	// scale, standard or none for images; empty means none. Unused when
	// bucketised.
	Normalize string `yaml:"normalize,omitempty" json:"normalize,omitempty"`
	// Buckets turns a numeric feature into a categorical id: the index of
	// the bucket the value falls into.
	Buckets Buckets `yaml:"buckets,omitempty" json:"buckets,omitzero"`

	// Vocab configures the vocabulary fitted on training data for
	// categorical and multi_hot features.
	Vocab Vocab `yaml:"vocab,omitempty" json:"vocab,omitzero"`
	// HashBuckets, when positive, hashes values into that many ids instead
	// of fitting a vocabulary.
	HashBuckets int `yaml:"hash_buckets,omitempty" json:"hash_buckets,omitempty"`
	// VocabFrom names another categorical or multi_hot feature whose
	// vocabulary this one shares: it is fitted over the values of both
	// (with that feature's Vocab settings), so that equal values get equal
	// ids, as a sequence model needs for a history and its candidate item.
	VocabFrom string `yaml:"vocab_from,omitempty" json:"vocab_from,omitempty"`

	// Separator splits a multi_hot value stored as one string (CSV, or a
	// Parquet string column). Parquet list columns need none.
	Separator string `yaml:"separator,omitempty" json:"separator,omitempty"`
	// MaxLen, when positive, keeps only the last MaxLen items of a
	// multi_hot list (the most recent ones for a time-ordered sequence).
	MaxLen int `yaml:"max_len,omitempty" json:"max_len,omitempty"`
}

// Buckets configures bucketising: fixed boundaries, or quantile boundaries
// fitted on training data. A value x falls into bucket i when
// boundaries[i-1] <= x < boundaries[i]; there are len(boundaries)+1 buckets.
type Buckets struct {
	Boundaries []float64 `yaml:"boundaries,omitempty" json:"boundaries,omitempty"`
	// Quantiles is the number of equal-frequency buckets to fit.
	Quantiles int `yaml:"quantiles,omitempty" json:"quantiles,omitempty"`
}

// Enabled reports whether bucketising is configured.
func (b Buckets) Enabled() bool { return len(b.Boundaries) > 0 || b.Quantiles > 0 }

// Vocab configures a fitted vocabulary. Values seen fewer than MinCount
// times, or beyond the MaxSize most frequent, are out of vocabulary and
// hash into OOVBuckets extra ids.
type Vocab struct {
	MinCount   int `yaml:"min_count" json:"min_count"`
	MaxSize    int `yaml:"max_size" json:"max_size"` // 0: no limit
	OOVBuckets int `yaml:"oov_buckets" json:"oov_buckets"`
}

// Label names the target column and its type.
type Label struct {
	Name       string `yaml:"name" json:"name"`
	Type       string `yaml:"type" json:"type"`
	NumClasses int    `yaml:"num_classes,omitempty" json:"num_classes,omitempty"` // multiclass only
}
