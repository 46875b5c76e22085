package job

import (
	"strings"
	"testing"
)

// searchSpec is a valid spec followed by a search section.
const searchSpec = `name: s
data:
  train: {path: t.csv}
  features:
    - {name: x, type: numeric}
model:
  arch: mlp
  params: {hidden: [8]}
search:
`

func TestSearchErrorsArePositioned(t *testing.T) {
	tests := []struct {
		search string
		want   string
	}{
		{"  metric: auc\n  params:\n    - {name: lr, field: training.learning_rat, type: float, low: 0.1, high: 1}\n",
			`s.yaml:12:25: search.params[0].field: training.learning_rat: no field "learning_rat" in the job spec`},
		{"  metric: auc\n  params:\n    - {name: lr, field: training.learning_rate, type: float, low: 0, high: 1, log: true}\n",
			"s.yaml:12:67: search.params[0].low: 0 must be positive on a log scale"},
		{"  metric: auc\n  params:\n    - {name: bs, field: training.batch_size, type: int, low: 8.5, high: 64}\n",
			"s.yaml:12:62: search.params[0].low: 8.5 is not an integer"},
		{"  metric: auc\n  params:\n    - {name: o, field: training.optimizer, type: categorical, choices: [adam, sgd]}\n    - {name: wd, field: training.weight_decay, type: float, low: 0, high: 1, when: {param: o, in: [adagrad]}}\n",
			`s.yaml:13:100: search.params[1].when.in[0]: "adagrad" is not a choice of "o" (choices: adam, sgd)`},
		{"  metric: auc\n  params:\n    - {name: wd, field: training.weight_decay, type: float, low: 0, high: 1, when: {param: o, in: [x]}}\n",
			`s.yaml:12:92: search.params[0].when.param: "o" is not a parameter declared before this one`},
		{"  metric: auc\n  params:\n    - {name: e, field: training.epochs, type: float, low: 0.5, high: 2}\n",
			"s.yaml:12:24: search.params[0].field: training.epochs: cannot set a int field to 0.5"},
		{"  metric: auc\n  pruner: {type: asha2}\n  params:\n    - {name: e, field: training.epochs, type: int, low: 1, high: 2}\n",
			`s.yaml:11:18: search.pruner.type: "asha2" is not allowed (allowed: asha, hyperband, median, none)`},
		{"  metric: auc\n  sampler: bayes\n  params: []\n",
			`s.yaml:11:12: search.sampler: "bayes" is not allowed`},
		{"  metric: auc\n  params: []\n",
			"s.yaml:11:3: search.params: at least one parameter is required"},
		{"  metric: auc\n  param: []\n",
			"s.yaml:11:3: search.param: unknown field (allowed: metric, mode, parallel, params, pruner, sampler, seed, trials)"},
		{"  params:\n    - {name: e, field: model.params.hidden, type: categorical, choices: [\"[8\"]}\n",
			"s.yaml:9:1: search.metric: required"},
		{"  metric: auc\n  params:\n    - {name: e, field: model.params.hidden, type: categorical, choices: [\"[8\"]}\n",
			`s.yaml:12:74: search.params[0].choices[0]: choice "[8" is not a YAML value`},
	}
	for _, tt := range tests {
		_, err := Parse("s.yaml", []byte(searchSpec+tt.search))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("search:\n%s\nerror %v\nwant %q", tt.search, err, tt.want)
		}
	}
}

func TestSearchSectionAndSetField(t *testing.T) {
	s, err := Parse("s.yaml", []byte(searchSpec+"  metric: logloss\n  params:\n    - {name: h, field: model.params.hidden, type: categorical, choices: [\"[16, 8]\", \"[4]\"]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !s.HasSearch() || s.Search.Maximize() || len(s.Search.Params) != 1 {
		t.Fatalf("search %+v", s.Search)
	}
	if Default().HasSearch() {
		t.Error("a spec without a search section has one")
	}
	v, err := ChoiceValue(s.Search.Params[0].Choices[0])
	if err != nil {
		t.Fatal(err)
	}
	c := *s
	if err := c.SetField("model.params.hidden", v); err != nil {
		t.Fatal(err)
	}
	if err := c.SetField("training.learning_rate", 3); err != nil || c.Training.LearningRate != 3 {
		t.Errorf("set learning_rate 3: %v, %g", err, c.Training.LearningRate)
	}
	if got, orig := c.Model.Params["hidden"].([]any), s.Model.Params["hidden"].([]any); len(got) != 2 || len(orig) != 1 {
		t.Errorf("hidden: copy %v, original %v", got, orig)
	}
	if err := c.SetField("data.features", 1); err == nil {
		t.Error("set a list field to a number")
	}
}
