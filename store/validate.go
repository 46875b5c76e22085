package store

import (
	"path"
	"regexp"
	"strings"
)

// MLflow's limits on what one request may log.
const (
	MaxMetricsPerBatch    = 1000
	MaxParamsTagsPerBatch = 100
	MaxEntitiesPerBatch   = 1000
	MaxBatchRequestBytes  = 1_000_000
	MaxEntityKeyLength    = 250
	MaxParamValueLength   = 6000
	MaxTagValueLength     = 8000
	MaxExperimentTagValue = 5000
	MaxModelTagValue      = 100_000
	MaxExperimentName     = 500
)

var validKey = regexp.MustCompile(`^[/\w.\- :]*$`)

// checkKey validates a metric, param or tag key the way MLflow does: at
// most 250 characters of letters, digits, _ - . space / :, and not a path
// that normalises to something else.
func checkKey(kind, key string) error {
	if key == "" {
		return Errorf(InvalidParameterValue, "%s key must not be empty", kind)
	}
	if len(key) > MaxEntityKeyLength {
		return Errorf(InvalidParameterValue, "%s key %q is %d characters long, over the limit of %d",
			kind, truncate(key), len(key), MaxEntityKeyLength)
	}
	if !validKey.MatchString(key) {
		return Errorf(InvalidParameterValue, "invalid %s name %q: names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colons (:) and slashes (/)", kind, key)
	}
	if clean := path.Clean(key); clean != key || clean == "." || strings.HasPrefix(clean, "..") || strings.HasPrefix(clean, "/") {
		return Errorf(InvalidParameterValue, "invalid %s name %q: names must not resolve to other names as paths (this one resolves to %q)", kind, key, clean)
	}
	return nil
}

func checkValue(kind, key, value string, limit int) error {
	if len(value) > limit {
		return Errorf(InvalidParameterValue, "%s %q: value is %d characters long, over the limit of %d",
			kind, key, len(value), limit)
	}
	return nil
}

// checkTag validates a run tag. Tag keys follow the key rules except that
// MLflow allows system tags such as mlflow.source.name.
func checkTag(t Tag, limit int) error {
	if t.Key == "" {
		return Errorf(InvalidParameterValue, "tag key must not be empty")
	}
	if len(t.Key) > MaxEntityKeyLength {
		return Errorf(InvalidParameterValue, "tag key %q is %d characters long, over the limit of %d",
			truncate(t.Key), len(t.Key), MaxEntityKeyLength)
	}
	return checkValue("tag", t.Key, t.Value, limit)
}

// checkBatch validates a log-batch request against MLflow's limits.
func checkBatch(b Batch) error {
	if len(b.Metrics) > MaxMetricsPerBatch {
		return Errorf(InvalidParameterValue, "a batch logged %d metrics, over the limit of %d", len(b.Metrics), MaxMetricsPerBatch)
	}
	if len(b.Params) > MaxParamsTagsPerBatch {
		return Errorf(InvalidParameterValue, "a batch logged %d params, over the limit of %d", len(b.Params), MaxParamsTagsPerBatch)
	}
	if len(b.Tags) > MaxParamsTagsPerBatch {
		return Errorf(InvalidParameterValue, "a batch logged %d tags, over the limit of %d", len(b.Tags), MaxParamsTagsPerBatch)
	}
	if n := len(b.Metrics) + len(b.Params) + len(b.Tags); n > MaxEntitiesPerBatch {
		return Errorf(InvalidParameterValue, "a batch logged %d metrics, params and tags, over the limit of %d", n, MaxEntitiesPerBatch)
	}
	for _, m := range b.Metrics {
		if err := checkKey("metric", m.Key); err != nil {
			return err
		}
	}
	if err := checkParams(b.Params); err != nil {
		return err
	}
	for _, t := range b.Tags {
		if err := checkTag(t, MaxTagValueLength); err != nil {
			return err
		}
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
