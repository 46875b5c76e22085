package job

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mlenv/mlenv/data"
	"github.com/mlenv/mlenv/models"
)

// Allowed values of the spec's other enumerated fields.
var (
	optimizers   = []string{"adagrad", "adam", "adamw", "momentum", "sgd"}
	schedules    = []string{"constant", "cosine", "linear", "step"}
	metrics      = []string{"accuracy", "auc", "logloss", "loss", "recall@K", "rmse"}
	executors    = []string{"kubernetes", "local", "slurm"}
	formats      = []string{data.FormatCSV, data.FormatIDX, data.FormatParquet}
	featureTypes = []string{data.Categorical, data.Image, data.MultiHot, data.Numeric}
	labelTypes   = []string{data.Binary, data.Multiclass, data.Regression}
	numericNorms = []string{data.NormMinMax, data.NormNone, data.NormStandard}
	imageNorms   = []string{data.NormNone, data.NormScale, data.NormStandard}
	badRows      = []string{BadRowsFail, BadRowsSkip}
	modes        = []string{"max", "min"}
	namePattern  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
)

// FieldError returns an *Error for the field at path (such as
// "model.params.hidden[1]"), positioned at its value in the spec file when
// the file gave it, else at its nearest enclosing field that the file gave,
// else at the start of the file.
// The model zoo uses it to report bad architecture parameters.
func (s *Spec) FieldError(path, format string, args ...any) error {
	e := &Error{File: s.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	if s.pos != nil {
		e.Line, e.Column = 1, 1
	}
	for p := path; p != ""; p = parent(p) {
		if at, ok := s.pos[p]; ok {
			e.Line, e.Column = at.line, at.col
			break
		}
	}
	return e
}

// parent strips the last element from a field path.
func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// Validate checks every field and returns all problems found, ordered by
// position, joined with errors.Join; each is an *Error. The allowed
// architectures are those of the model registry (models.Names) at the time
// of the call: the zoo's and any a custom binary registered in its init
// functions.
func (s *Spec) Validate() error {
	v := validator{s: s}
	v.top()
	v.data()
	v.training()
	v.platform()
	v.search()
	slices.SortStableFunc(v.errs, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	errs := make([]error, len(v.errs))
	for i, e := range v.errs {
		errs[i] = e
	}
	return errors.Join(errs...)
}

type validator struct {
	s    *Spec
	errs []*Error
}

func (v *validator) fail(path, format string, args ...any) {
	v.errs = append(v.errs, v.s.FieldError(path, format, args...).(*Error))
}

// oneOf checks that the value at path is one of allowed.
func (v *validator) oneOf(path, val string, allowed []string) {
	if !slices.Contains(allowed, val) {
		v.fail(path, "%q is not allowed (allowed: %s)", val, strings.Join(allowed, ", "))
	}
}

func (v *validator) atLeast(path string, val, min int) {
	if val < min {
		v.fail(path, "%d is too small (minimum %d)", val, min)
	}
}

// only rejects fields the file gave that do not apply in context.
func (v *validator) only(prefix string, fields []string, why string) {
	for _, f := range fields {
		if v.s.isSet(prefix + f) {
			v.fail(prefix+f, "only allowed %s", why)
		}
	}
}

func (v *validator) top() {
	if v.s.Name == "" {
		v.fail("name", "required")
	} else if !namePattern.MatchString(v.s.Name) {
		v.fail("name", "%q is not a valid name (letters, digits, '.', '_', '-'; starting with a letter or digit)", v.s.Name)
	}
	if v.s.Experiment == "" {
		v.fail("experiment", "must not be empty")
	}
	v.oneOf("model.arch", v.s.Model.Arch, models.Names())
}

func (v *validator) data() {
	d := &v.s.Data
	v.source("data.train", d.Train)
	for _, split := range []struct {
		path string
		src  data.Source
	}{{"data.validation", d.Validation}, {"data.test", d.Test}} {
		if split.src.Path != "" || v.s.isSet(split.path) {
			v.source(split.path, split.src)
		}
	}
	v.oneOf("data.bad_rows", d.BadRows, badRows)
	v.atLeast("data.shuffle_buffer", d.ShuffleBuffer, 0)
	v.atLeast("data.prefetch", d.Prefetch, 1)
	if len(d.Features) == 0 {
		v.fail("data.features", "at least one feature is required")
	}
	seen := map[string]bool{}
	for i, f := range d.Features {
		path := fmt.Sprintf("data.features[%d]", i)
		if seen[f.Name] {
			v.fail(path+".name", "feature %q given twice", f.Name)
		}
		seen[f.Name] = true
		v.feature(path, f, d.Train.Format == data.FormatIDX)
		if f.VocabFrom != "" && (f.Type == data.Categorical || f.Type == data.MultiHot) {
			v.vocabFrom(path, f)
		}
	}
	v.label()
}

func (v *validator) source(path string, src data.Source) {
	if src.Path == "" {
		v.fail(path+".path", "required")
		return
	}
	if src.Format == "" {
		v.fail(path+".path", "cannot infer the format of %q from its name; set %s.format (allowed: %s)", src.Path, path, strings.Join(formats, ", "))
		return
	}
	v.oneOf(path+".format", src.Format, formats)
	if src.Format != data.FormatIDX {
		v.only(path+".", []string{"labels"}, "for idx sources")
	} else if src.Labels == "" {
		v.fail(path+".labels", "required for idx sources (the label files)")
	}
	if src.Format != data.FormatCSV {
		v.only(path+".", []string{"delimiter", "columns"}, "for csv sources")
	} else if utf8.RuneCountInString(src.Delimiter) != 1 || src.Delimiter == "\n" || src.Delimiter == "\"" {
		v.fail(path+".delimiter", "%q must be one character other than a quote or newline", src.Delimiter)
	}
}

// Fields that only some feature types take.
var (
	numericOnly = []string{"log", "buckets"}
	idOnly      = []string{"vocab", "hash_buckets", "vocab_from"}
	multiOnly   = []string{"separator", "max_len"}
)

func (v *validator) feature(path string, f data.Feature, idx bool) {
	if f.Name == "" {
		v.fail(path+".name", "required")
	}
	v.oneOf(path+".type", f.Type, featureTypes)
	p := path + "."
	if f.Type != data.Numeric {
		v.only(p, numericOnly, "for numeric features")
	}
	if f.Type != data.Categorical && f.Type != data.MultiHot {
		v.only(p, idOnly, "for categorical and multi_hot features")
	}
	if f.Type != data.MultiHot {
		v.only(p, multiOnly, "for multi_hot features")
	}
	if f.Type == data.Image {
		if !idx {
			v.fail(path+".type", "image features need an idx training source")
		}
		v.oneOf(p+"normalize", f.Normalize, imageNorms)
	} else if idx && f.Type != "" && slices.Contains(featureTypes, f.Type) {
		v.fail(path+".type", "an idx source provides only an image feature")
	}
	switch f.Type {
	case data.Numeric:
		v.numeric(p, f)
	case data.Categorical, data.MultiHot:
		v.ids(p, f)
	default:
		v.only(p, []string{"normalize"}, "for numeric and image features")
	}
}

func (v *validator) numeric(p string, f data.Feature) {
	b := f.Buckets
	if !b.Enabled() {
		v.oneOf(p+"normalize", f.Normalize, numericNorms)
		return
	}
	v.only(p, []string{"normalize"}, "without buckets (a bucketised feature is an id)")
	if len(b.Boundaries) > 0 && b.Quantiles > 0 {
		v.fail(p+"buckets", "give boundaries or quantiles, not both")
	}
	for i := 1; i < len(b.Boundaries); i++ {
		if b.Boundaries[i] <= b.Boundaries[i-1] {
			v.fail(fmt.Sprintf("%sbuckets.boundaries[%d]", p, i), "boundaries must increase strictly")
		}
	}
	if v.s.isSet(p+"buckets.quantiles") || len(b.Boundaries) == 0 {
		v.atLeast(p+"buckets.quantiles", b.Quantiles, 2)
	}
}

func (v *validator) ids(p string, f data.Feature) {
	if f.VocabFrom != "" {
		v.only(p, []string{"vocab", "hash_buckets"}, "without vocab_from (the shared vocabulary's settings apply)")
	} else if f.HashBuckets > 0 {
		v.only(p, []string{"vocab"}, "without hash_buckets (hashing needs no vocabulary)")
	} else {
		v.atLeast(p+"hash_buckets", f.HashBuckets, 0)
		v.atLeast(p+"vocab.min_count", f.Vocab.MinCount, 1)
		v.atLeast(p+"vocab.max_size", f.Vocab.MaxSize, 0)
		v.atLeast(p+"vocab.oov_buckets", f.Vocab.OOVBuckets, 1)
	}
	if f.Type == data.MultiHot {
		if f.Separator == "" {
			v.fail(p+"separator", "must not be empty")
		}
		v.atLeast(p+"max_len", f.MaxLen, 0)
	}
}

// vocabFrom checks that a feature sharing a vocabulary names another
// feature that fits one of its own.
func (v *validator) vocabFrom(path string, f data.Feature) {
	features := v.s.Data.Features
	i := slices.IndexFunc(features, func(o data.Feature) bool { return o.Name == f.VocabFrom })
	switch {
	case i < 0:
		v.fail(path+".vocab_from", "%q names no feature", f.VocabFrom)
	case features[i].Name == f.Name:
		v.fail(path+".vocab_from", "a feature cannot share its own vocabulary")
	case features[i].Type != data.Categorical && features[i].Type != data.MultiHot,
		features[i].HashBuckets > 0, features[i].VocabFrom != "":
		v.fail(path+".vocab_from", "%q must be a categorical or multi_hot feature with a vocabulary of its own", f.VocabFrom)
	}
}

func (v *validator) label() {
	l := v.s.Data.Label
	if l.Name == "" {
		v.fail("data.label.name", "required")
	}
	v.oneOf("data.label.type", l.Type, labelTypes)
	if l.Type == data.Multiclass {
		v.atLeast("data.label.num_classes", l.NumClasses, 2)
	} else {
		v.only("data.label.", []string{"num_classes"}, "for multiclass labels")
	}
}

func (v *validator) training() {
	t := v.s.Training
	v.oneOf("training.optimizer", t.Optimizer, optimizers)
	if t.LearningRate <= 0 {
		v.fail("training.learning_rate", "%g must be positive", t.LearningRate)
	}
	if t.WeightDecay < 0 {
		v.fail("training.weight_decay", "%g must not be negative", t.WeightDecay)
	}
	v.schedule(t.Schedule, t.LearningRate)
	v.atLeast("training.batch_size", t.BatchSize, 1)
	switch {
	case t.Epochs > 0 && t.Steps > 0:
		v.fail("training.steps", "give epochs or steps, not both")
	case t.Epochs <= 0 && t.Steps <= 0:
		path := "training.epochs"
		if v.s.isSet("training.steps") {
			path = "training.steps"
		}
		v.fail(path, "must be positive")
	}
	v.atLeast("training.eval_every", t.EvalEvery, 0)
	v.atLeast("training.checkpoint_every", t.CheckpointEvery, 0)
	v.earlyStopping(t.EarlyStopping)
}

func (v *validator) schedule(s Schedule, lr float64) {
	v.oneOf("training.schedule.type", s.Type, schedules)
	v.atLeast("training.schedule.warmup_steps", s.WarmupSteps, 0)
	if s.MinLearningRate < 0 || (lr > 0 && s.MinLearningRate >= lr) {
		v.fail("training.schedule.min_learning_rate", "%g must be at least 0 and below learning_rate", s.MinLearningRate)
	}
	if s.Type != "step" {
		v.only("training.schedule.", []string{"decay_steps", "gamma"}, "for the step schedule")
		return
	}
	v.atLeast("training.schedule.decay_steps", s.DecaySteps, 1)
	if s.Gamma <= 0 || s.Gamma > 1 {
		v.fail("training.schedule.gamma", "%g must be in (0, 1]", s.Gamma)
	}
}

func (v *validator) earlyStopping(es EarlyStopping) {
	const p = "training.early_stopping."
	if es.Metric == "" {
		v.only(p, []string{"patience", "mode", "min_delta"}, "with a metric")
		return
	}
	if k, ok := strings.CutPrefix(es.Metric, "recall@"); ok {
		if n, err := strconv.Atoi(k); err != nil || n < 1 {
			v.fail(p+"metric", "%q: recall@K needs a positive integer K", es.Metric)
		}
	} else {
		v.oneOf(p+"metric", es.Metric, metrics)
	}
	v.atLeast(p+"patience", es.Patience, 1)
	v.oneOf(p+"mode", es.Mode, modes)
	if es.MinDelta < 0 {
		v.fail(p+"min_delta", "%g must not be negative", es.MinDelta)
	}
	if v.s.Data.Validation.Path == "" {
		v.fail(p+"metric", "early stopping needs data.validation")
	}
}

func (v *validator) platform() {
	tr := v.s.Tracking
	if tr.URI == TrackingEmbedded {
		if tr.Dir == "" {
			v.fail("tracking.dir", "must not be empty")
		}
	} else {
		u, err := url.Parse(tr.URI)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.fail("tracking.uri", "%q is not allowed (allowed: embedded, an http:// or https:// server URL)", tr.URI)
		}
		v.only("tracking.", []string{"dir"}, "with the embedded store")
	}
	r := v.s.Resources
	v.atLeast("resources.threads", r.Threads, 0)
	v.oneOf("resources.executor", r.Executor, executors)
	v.atLeast("resources.workers", r.Workers, 1)
}
