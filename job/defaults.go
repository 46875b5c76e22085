package job

import (
	"fmt"

	"github.com/mlenv/mlenv/data"
)

// Default returns a spec holding every default that does not depend on
// other fields. Defaults that do (per feature type, per source format, the
// early-stopping mode) are filled by resolve. docs/jobspec.md lists them all.
func Default() *Spec {
	return &Spec{
		Experiment: "Default",
		Data: Data{
			Label:         data.Label{Name: "label", Type: data.Binary},
			BadRows:       BadRowsFail,
			ShuffleBuffer: 10000,
			Prefetch:      4,
		},
		Training: Training{
			Optimizer:    "adam",
			LearningRate: 0.001,
			Schedule:     Schedule{Type: "constant"},
			BatchSize:    512,
			Epochs:       1,
			Seed:         1,
		},
		Tracking:  Tracking{URI: TrackingEmbedded},
		Resources: Resources{Executor: "local", Workers: 1},
	}
}

// Values of Data.BadRows and Tracking.URI.
const (
	BadRowsFail      = "fail"
	BadRowsSkip      = "skip"
	TrackingEmbedded = "embedded"
)

// resolve fills the defaults that depend on other fields.
func (s *Spec) resolve() {
	for _, src := range []*data.Source{&s.Data.Train, &s.Data.Validation, &s.Data.Test} {
		resolveSource(src)
	}
	for i := range s.Data.Features {
		prefix := fmt.Sprintf("data.features[%d].", i)
		resolveFeature(&s.Data.Features[i], func(field string) bool { return s.isSet(prefix + field) })
	}
	t := &s.Training
	if s.isSet("training.steps") && !s.isSet("training.epochs") {
		t.Epochs = 0
	}
	if t.Schedule.Type == "step" && t.Schedule.Gamma == 0 {
		t.Schedule.Gamma = 0.1
	}
	if es := &t.EarlyStopping; es.Metric != "" {
		if es.Patience == 0 && !s.isSet("training.early_stopping.patience") {
			es.Patience = 3
		}
		if es.Mode == "" {
			es.Mode = metricMode(es.Metric)
		}
	}
	if s.Tracking.URI == TrackingEmbedded && s.Tracking.Dir == "" {
		s.Tracking.Dir = ".mlenv"
	}
}

func resolveSource(src *data.Source) {
	if src.Path == "" {
		return
	}
	if src.Format == "" {
		src.Format = data.FormatOf(src.Path)
	}
	if src.Format == data.FormatCSV && src.Delimiter == "" {
		src.Delimiter = ","
	}
}

// resolveFeature fills a feature's type-dependent defaults; set reports
// whether the file gave the named field, so that an explicit zero stays for
// Validate to reject.
func resolveFeature(f *data.Feature, set func(field string) bool) {
	if f.Column == "" {
		f.Column = f.Name
	}
	switch f.Type {
	case data.Numeric:
		if f.Normalize == "" && !f.Buckets.Enabled() {
			f.Normalize = data.NormStandard
		}
	case data.Image:
		if f.Normalize == "" {
			f.Normalize = data.NormScale
		}
	case data.MultiHot:
		if f.Separator == "" {
			f.Separator = "|"
		}
		fallthrough
	case data.Categorical:
		if f.HashBuckets == 0 && f.VocabFrom == "" {
			v := &f.Vocab
			if !set("vocab.min_count") {
				v.MinCount = 1
			}
			if !set("vocab.oov_buckets") {
				v.OOVBuckets = 1
			}
		}
	}
}

// metricMode is the direction in which a metric improves.
func metricMode(metric string) string {
	switch {
	case metric == "loss", metric == "logloss", metric == "rmse":
		return "min"
	}
	return "max"
}

// isSet reports whether the file gave a value for the field at path.
func (s *Spec) isSet(path string) bool {
	_, ok := s.pos[path]
	return ok
}
