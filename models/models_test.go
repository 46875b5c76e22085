package models

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/mlenv/mlenv/data"
	"github.com/mlenv/mlenv/nn"
	"github.com/mlenv/mlenv/tensor"
)

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s did not panic", what)
		}
	}()
	f()
}

func TestRegistry(t *testing.T) {
	if want := []string{"cnn", "dcn_v2", "dlrm", "logistic", "mlp", "seq_transformer", "two_tower", "wide_deep"}; !slices.Equal(Names(), want) {
		t.Errorf("Names() = %v, want %v", Names(), want)
	}
	saved := unregisterAll()
	defer func() { builders = saved }()
	b := func(Config) (Model, error) { return nil, nil }
	Register("b", b)
	Register("a", b)
	if got := Names(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("Names() = %v, want sorted [a b]", got)
	}
	mustPanic(t, "empty name", func() { Register("", b) })
	mustPanic(t, "nil builder", func() { Register("c", nil) })
	mustPanic(t, "duplicate", func() { Register("a", b) })
}

// schema is a small feature set with every kind of input but images.
var schema = data.Schema{
	Dense:       []string{"x1", "x2"},
	Categorical: []data.Slot{{Name: "c1", Cardinality: 5}, {Name: "c2", Cardinality: 3}},
	MultiHot:    []data.Slot{{Name: "tags", Cardinality: 4}},
	Label:       data.Label{Name: "y", Type: data.Binary},
}

// batch is three examples of schema; the second has no tags.
func batch() *data.Batch {
	return &data.Batch{
		Size: 3, Dense: []float32{1, 2, 3, 4, 5, 6},
		Cat:      [][]int32{{0, 4, 2}, {1, 2, 0}},
		MultiIDs: [][]int32{{0, 3, 1}}, MultiOffsets: [][]int32{{0, 2, 2, 3}},
		Labels: []float32{1, 0, 1},
	}
}

func TestEveryTabularArchitectureRuns(t *testing.T) {
	params := map[string]map[string]any{
		"two_tower":       {"query_features": []any{"x1", "c1"}, "item_features": []any{"c2", "tags"}},
		"seq_transformer": {"sequence": "tags", "max_len": 3, "embedding_dim": 8},
	}
	for _, arch := range Names() {
		if arch == "cnn" {
			continue
		}
		t.Run(arch, func(t *testing.T) {
			m, err := Build(arch, params[arch], schema, 1)
			if err != nil {
				t.Fatal(err)
			}
			y := m.Forward(NewInput(nil, batch(), schema))
			if !slices.Equal(y.Shape(), []int{3, 1}) {
				t.Fatalf("output shape %v, want [3 1]", y.Shape())
			}
			// Every parameter gets a gradient from the loss.
			var loss *tensor.Tensor
			if l, ok := m.(Losser); ok {
				loss = l.Loss(NewInput(nil, batch(), schema))
			} else {
				loss = tensor.SumAll(y)
			}
			loss.Backward()
			for _, p := range m.Parameters() {
				if p.Tensor.Grad() == nil && p.Tensor.Rows() == nil {
					t.Errorf("parameter %s has no gradient", p.Name)
				}
			}
			// Names are unique: the state dict would panic otherwise.
			_ = nn.StateDict(m)
		})
	}
}

func TestCNNShapes(t *testing.T) {
	s := data.Schema{Image: []int{1, 6, 6}, Label: data.Label{Name: "y", Type: data.Multiclass, NumClasses: 4}}
	m, err := Build("cnn", map[string]any{"channels": []any{2, 3}, "hidden": []any{5}}, s, 1)
	if err != nil {
		t.Fatal(err)
	}
	b := &data.Batch{Size: 2, Image: make([]float32, 2*36), Labels: []float32{0, 3}}
	if y := m.Forward(NewInput(nil, b, s)); !slices.Equal(y.Shape(), []int{2, 4}) {
		t.Errorf("output shape %v, want [2 4]", y.Shape())
	}
	if _, err := Build("cnn", map[string]any{"channels": []any{2, 3, 4}}, s, 1); err == nil || !strings.Contains(err.Error(), "channels[2]") {
		t.Errorf("three blocks on 6x6 (6, 3, 1): %v", err)
	}
}

func TestBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		arch   string
		params map[string]any
		param  string // the ParamError's Param, "" for another error
		want   string
	}{
		{"nope", nil, "", `unknown architecture "nope"`},
		{"mlp", map[string]any{"hidden": []any{8, 0}}, "hidden[1]", "too small"},
		{"mlp", map[string]any{"hidden": "wide"}, "hidden", "want a list of integers"},
		{"mlp", map[string]any{"hiden": []any{8}}, "hiden", "unknown parameter (allowed: activation, dropout, embedding_dim, hidden)"},
		{"mlp", map[string]any{"activation": "swish"}, "activation", "not an activation"},
		{"mlp", map[string]any{"embedding_dim": 2.5}, "embedding_dim", "want an integer"},
		{"mlp", map[string]any{"dropout": 1}, "dropout", "out of range"},
		{"two_tower", map[string]any{"query_features": []any{"x1"}}, "item_features", "required"},
		{"two_tower", map[string]any{"query_features": []any{"x1", "zz"}, "item_features": []any{"c1"}}, "query_features[1]", `"zz" is not`},
		{"two_tower", map[string]any{"query_features": []any{"x1"}, "item_features": []any{"c1"}, "temperature": 0}, "temperature", "out of range"},
		{"seq_transformer", map[string]any{"sequence": "c1"}, "sequence", "not a multi_hot feature"},
		{"seq_transformer", map[string]any{"sequence": "tags", "embedding_dim": 10, "heads": 3}, "heads", "does not divide"},
		{"cnn", nil, "channels", "needs exactly one image feature"},
	} {
		_, err := Build(tc.arch, tc.params, schema, 1)
		var pe *ParamError
		switch {
		case err == nil:
			t.Errorf("%s %v: no error", tc.arch, tc.params)
		case !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s %v: %v, want it to say %q", tc.arch, tc.params, err, tc.want)
		case tc.param != "" && (!errors.As(err, &pe) || pe.Param != tc.param):
			t.Errorf("%s %v: %v is not a ParamError for %s", tc.arch, tc.params, err, tc.param)
		}
	}
}

func TestBuildRecoversBuilderPanic(t *testing.T) {
	saved := unregisterAll()
	defer func() { builders = saved }()
	Register("bad", func(Config) (Model, error) { panic("bug") })
	if _, err := Build("bad", nil, schema, 1); err == nil || !strings.Contains(err.Error(), "panic: bug") {
		t.Errorf("err = %v", err)
	}
}

func TestBuildIsSeeded(t *testing.T) {
	a, _ := Build("mlp", nil, schema, 5)
	b, _ := Build("mlp", nil, schema, 5)
	c, _ := Build("mlp", nil, schema, 6)
	wa, wb, wc := nn.StateDict(a)["mlp.layers.0.weight"], nn.StateDict(b)["mlp.layers.0.weight"], nn.StateDict(c)["mlp.layers.0.weight"]
	if !slices.Equal(wa.Data(), wb.Data()) || slices.Equal(wa.Data(), wc.Data()) {
		t.Error("weights do not follow the seed")
	}
}

func TestMLPDropout(t *testing.T) {
	plain, err := Build("mlp", nil, schema, 7)
	if err != nil {
		t.Fatal(err)
	}
	drop, err := Build("mlp", map[string]any{"dropout": 0.5}, schema, 7)
	if err != nil {
		t.Fatal(err)
	}
	if err := nn.LoadStateDict(drop, nn.StateDict(plain)); err != nil {
		t.Fatal(err)
	}
	forward := func(m Model) []float32 {
		return slices.Clone(m.Forward(NewInput(nil, batch(), schema)).Data())
	}
	want := forward(plain)
	nn.SetTraining(drop, true)
	if a, b := forward(drop), forward(drop); slices.Equal(a, b) || slices.Equal(a, want) {
		t.Errorf("training outputs %v and %v: dropout masks nothing (no-dropout output %v)", a, b, want)
	}
	nn.SetTraining(drop, false)
	if got := forward(drop); !slices.Equal(got, want) {
		t.Errorf("evaluation output %v, want the network without dropout %v", got, want)
	}
}
