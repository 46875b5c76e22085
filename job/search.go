package job

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/mlenv/mlenv/tune"
)

// Search is the search section: the hyperparameters `mlenv tune` samples,
// the spec field each one sets, the objective and the study's budget. Its
// zero value is an absent section; zero fields take the defaults their
// comments give.
type Search struct {
	// Metric is the validation metric the study optimises (one of the
	// trainer's metrics); Mode is max or min, by default the direction in
	// which Metric improves.
	Metric string `yaml:"metric"`
	Mode   string `yaml:"mode,omitempty"`
	// Trials is the number of trials to run (0: 20); Parallel how many run
	// at once (0: 1).
	Trials   int `yaml:"trials,omitempty"`
	Parallel int `yaml:"parallel,omitempty"`
	// Sampler is one of tune.SamplerNames (empty: tpe); Seed seeds it.
	Sampler string        `yaml:"sampler,omitempty"`
	Seed    int64         `yaml:"seed,omitempty"`
	Pruner  SearchPruner  `yaml:"pruner,omitempty"`
	Params  []SearchParam `yaml:"params"`
}

// SearchPruner configures early stopping of trials. Type is asha,
// hyperband, median or none (empty: none). Resources are training steps:
// MinResource is the first rung (0: training.eval_every), MaxResource the
// full budget of a trial (Hyperband; 0: training.steps), Eta the halving
// rate (0: 3). Startup and Warmup are the median rule's: complete trials
// needed before it prunes (0: 5) and steps before it looks.
type SearchPruner struct {
	Type        string `yaml:"type,omitempty"`
	MinResource int    `yaml:"min_resource,omitempty"`
	MaxResource int    `yaml:"max_resource,omitempty"`
	Eta         int    `yaml:"eta,omitempty"`
	Startup     int    `yaml:"startup,omitempty"`
	Warmup      int    `yaml:"warmup,omitempty"`
}

// SearchParam is one hyperparameter. Field is the spec field it sets: a
// scalar such as training.learning_rate, or a key under model.params.
// Type is float (Low..High, Log for a log scale), int (Low..High by Step,
// or Log) or categorical (Choices, each a YAML value such as 0.1, adam or
// "[128, 64]"). When makes the parameter exist only in trials where an
// earlier categorical parameter takes one of the listed values.
type SearchParam struct {
	Name    string          `yaml:"name"`
	Field   string          `yaml:"field"`
	Type    string          `yaml:"type"`
	Low     float64         `yaml:"low,omitempty"`
	High    float64         `yaml:"high,omitempty"`
	Log     bool            `yaml:"log,omitempty"`
	Step    float64         `yaml:"step,omitempty"`
	Choices []string        `yaml:"choices,omitempty"`
	When    SearchCondition `yaml:"when,omitempty"`
}

// SearchCondition names a parent parameter and the values under which the
// parameter that holds it is active. An empty Param means unconditional.
type SearchCondition struct {
	Param string   `yaml:"param,omitempty"`
	In    []string `yaml:"in,omitempty"`
}

// The parameter types and pruners a search section accepts.
var (
	searchTypes   = []string{"categorical", "float", "int"}
	searchPruners = []string{"asha", "hyperband", "median", "none"}
)

// HasSearch reports whether the spec has a search section.
func (s *Spec) HasSearch() bool { return s.isSet("search") || len(s.Search.Params) > 0 }

// Maximize reports whether the study maximises its metric.
func (s *Search) Maximize() bool {
	if s.Mode != "" {
		return s.Mode == "max"
	}
	return metricMode(s.Metric) == "max"
}

// ChoiceValue decodes a categorical choice as YAML: "0.1" is a float,
// "64" an int, "[128, 64]" a list, "adam" a string.
func ChoiceValue(choice string) (any, error) {
	var v any
	if err := yaml.Unmarshal([]byte(choice), &v); err != nil {
		return nil, fmt.Errorf("choice %q is not a YAML value: %w", choice, err)
	}
	return v, nil
}

// SetField sets the spec field at path (a scalar field such as
// training.learning_rate, or model.params.KEY) to v, an int, a float64, a
// string or any value for model.params. A number converts between int and
// float when exact. It is how a tuning trial applies its parameters to a
// copy of the spec; model.params is copied before the first change, so a
// shallow copy of a spec can be set without touching the original.
func (s *Spec) SetField(path string, v any) error {
	if key, ok := strings.CutPrefix(path, "model.params."); ok {
		if key == "" || strings.ContainsAny(key, ".[") {
			return fmt.Errorf("%s: only a top-level key of model.params can be searched", path)
		}
		params := make(map[string]any, len(s.Model.Params)+1)
		for k, old := range s.Model.Params {
			params[k] = old
		}
		params[key] = v
		s.Model.Params = params
		return nil
	}
	f, err := specField(reflect.ValueOf(s).Elem(), path)
	if err != nil {
		return err
	}
	return setScalar(f, path, v)
}

// specField finds the struct field at a dotted yaml path.
func specField(v reflect.Value, path string) (reflect.Value, error) {
	for name := range strings.SplitSeq(path, ".") {
		if v.Kind() != reflect.Struct {
			return reflect.Value{}, fmt.Errorf("%s: %q is not inside a section", path, name)
		}
		i := slices.IndexFunc(reflect.VisibleFields(v.Type()), func(f reflect.StructField) bool {
			tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			return f.IsExported() && tag == name
		})
		if i < 0 {
			return reflect.Value{}, fmt.Errorf("%s: no field %q in the job spec", path, name)
		}
		v = v.Field(i)
	}
	switch v.Kind() {
	case reflect.Int, reflect.Int64, reflect.Float64, reflect.String, reflect.Bool:
		return v, nil
	}
	return reflect.Value{}, fmt.Errorf("%s: not a single value (a %s)", path, v.Kind())
}

// setScalar stores v in f, converting exact numbers between int and float.
func setScalar(f reflect.Value, path string, v any) error {
	switch x := v.(type) {
	case int:
		switch f.Kind() {
		case reflect.Int, reflect.Int64:
			f.SetInt(int64(x))
			return nil
		case reflect.Float64:
			f.SetFloat(float64(x))
			return nil
		}
	case float64:
		switch f.Kind() {
		case reflect.Float64:
			f.SetFloat(x)
			return nil
		case reflect.Int, reflect.Int64:
			if x == math.Trunc(x) {
				f.SetInt(int64(x))
				return nil
			}
		}
	case string:
		if f.Kind() == reflect.String {
			f.SetString(x)
			return nil
		}
	case bool:
		if f.Kind() == reflect.Bool {
			f.SetBool(x)
			return nil
		}
	}
	return fmt.Errorf("%s: cannot set a %s field to %v", path, f.Kind(), v)
}

// search checks the search section, when there is one.
func (v *validator) search() {
	if !v.s.HasSearch() {
		return
	}
	sr := &v.s.Search
	if sr.Metric == "" {
		v.fail("search.metric", "required (the validation metric to optimise)")
	} else if _, ok := strings.CutPrefix(sr.Metric, "recall@"); !ok {
		v.oneOf("search.metric", sr.Metric, metrics)
	}
	if sr.Mode != "" {
		v.oneOf("search.mode", sr.Mode, modes)
	}
	v.atLeast("search.trials", sr.Trials, 0)
	v.atLeast("search.parallel", sr.Parallel, 0)
	if sr.Sampler != "" {
		v.oneOf("search.sampler", sr.Sampler, tune.SamplerNames())
	}
	v.searchPruner(sr.Pruner)
	if len(sr.Params) == 0 {
		v.fail("search.params", "at least one parameter is required")
	}
	seen := map[string]int{}
	for i, p := range sr.Params {
		v.searchParam(fmt.Sprintf("search.params[%d]", i), p, seen)
		seen[p.Name] = i
	}
}

func (v *validator) searchPruner(p SearchPruner) {
	if p.Type != "" {
		v.oneOf("search.pruner.type", p.Type, searchPruners)
	}
	for _, f := range []struct {
		name string
		val  int
	}{{"min_resource", p.MinResource}, {"max_resource", p.MaxResource}, {"eta", p.Eta}, {"startup", p.Startup}, {"warmup", p.Warmup}} {
		v.atLeast("search.pruner."+f.name, f.val, 0)
	}
	if p.Eta == 1 {
		v.fail("search.pruner.eta", "must be at least 2")
	}
}

// searchParam checks one parameter; seen maps earlier names to indices.
func (v *validator) searchParam(at string, p SearchParam, seen map[string]int) {
	if p.Name == "" {
		v.fail(at+".name", "required")
	} else if _, dup := seen[p.Name]; dup {
		v.fail(at+".name", "parameter %q is declared twice", p.Name)
	}
	v.oneOf(at+".type", p.Type, searchTypes)
	if p.Field == "" {
		v.fail(at+".field", "required (the spec field it sets, such as training.learning_rate)")
	} else if err := v.s.checkSearchField(p); err != nil {
		v.fail(at+".field", "%v", err)
	}
	switch p.Type {
	case "float", "int":
		v.searchRange(at, p)
	case "categorical":
		if len(p.Choices) == 0 {
			v.fail(at+".choices", "at least one choice is required")
		}
		for i, c := range p.Choices {
			if _, err := ChoiceValue(c); err != nil {
				v.fail(fmt.Sprintf("%s.choices[%d]", at, i), "%v", err)
			}
		}
	}
	v.searchCondition(at, p.When, seen)
}

// checkSearchField checks that p's field exists and can hold p's values,
// by setting them on a copy of the spec. Errors in the values themselves
// are reported by their own checks.
func (s *Spec) checkSearchField(p SearchParam) error {
	probe := *s
	var vals []any
	switch p.Type {
	case "float":
		vals = []any{p.Low}
	case "int":
		vals = []any{int(p.Low)}
	case "categorical":
		for _, c := range p.Choices {
			if x, err := ChoiceValue(c); err == nil {
				vals = append(vals, x)
			}
		}
	}
	for _, x := range vals {
		if err := probe.SetField(p.Field, x); err != nil {
			return err
		}
	}
	return nil
}

func (v *validator) searchRange(at string, p SearchParam) {
	if p.Low > p.High {
		v.fail(at+".high", "%g is below low %g", p.High, p.Low)
	}
	if p.Log && p.Low <= 0 {
		v.fail(at+".low", "%g must be positive on a log scale", p.Low)
	}
	if p.Type == "int" {
		for _, b := range []struct {
			name string
			val  float64
		}{{"low", p.Low}, {"high", p.High}, {"step", p.Step}} {
			if b.val != math.Trunc(b.val) {
				v.fail(at+"."+b.name, "%g is not an integer", b.val)
			}
		}
	}
	switch {
	case p.Step < 0:
		v.fail(at+".step", "%g must be positive", p.Step)
	case p.Step > 0 && p.Type == "float":
		v.fail(at+".step", "only allowed for int parameters")
	case p.Step > 1 && p.Log:
		v.fail(at+".step", "a log-scaled parameter cannot have a step")
	}
	if len(p.Choices) > 0 {
		v.fail(at+".choices", "only allowed for categorical parameters")
	}
}

// searchCondition checks that when names an earlier categorical parameter
// and some of its choices.
func (v *validator) searchCondition(at string, c SearchCondition, seen map[string]int) {
	if c.Param == "" {
		if len(c.In) > 0 {
			v.fail(at+".when.param", "required with when.in")
		}
		return
	}
	i, ok := seen[c.Param]
	if !ok {
		v.fail(at+".when.param", "%q is not a parameter declared before this one", c.Param)
		return
	}
	parent := v.s.Search.Params[i]
	if parent.Type != "categorical" {
		v.fail(at+".when.param", "%q is %s; conditions need a categorical parent", c.Param, parent.Type)
		return
	}
	if len(c.In) == 0 {
		v.fail(at+".when.in", "list the values of %q under which this parameter exists", c.Param)
	}
	for j, val := range c.In {
		if !slices.Contains(parent.Choices, val) {
			v.fail(fmt.Sprintf("%s.when.in[%d]", at, j), "%q is not a choice of %q (choices: %s)", val, c.Param, strings.Join(parent.Choices, ", "))
		}
	}
}
