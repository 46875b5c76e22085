package tune

import (
	"strings"
	"testing"
)

func TestNewSpaceErrorsNameTheParameter(t *testing.T) {
	cases := []struct {
		params []Param
		want   string
	}{
		{[]Param{Uniform("lr", 1, 0)}, `"lr": low 1 is above high 0`},
		{[]Param{LogUniform("lr", 0, 1)}, `"lr": log scale needs low > 0`},
		{[]Param{LogInt("units", 0, 8)}, `"units": log scale needs low >= 1`},
		{[]Param{Choice("act")}, `"act": categorical parameter needs at least one choice`},
		{[]Param{Choice("act", "relu", "relu")}, `"act": choice "relu" appears twice`},
		{[]Param{Uniform("a", 0, 1), Uniform("a", 0, 1)}, `"a": declared twice`},
		{[]Param{Uniform("x", 0, 1).If("kind", "a")}, `"x": parent "kind" is not declared before it`},
		{[]Param{Uniform("k", 0, 1), Uniform("x", 0, 1).If("k", "a")}, `"x": parent "k" must be categorical`},
		{[]Param{Choice("k", "a"), Uniform("x", 0, 1).If("k", "b")}, `"x": when value "b" is not a choice of "k"`},
		{[]Param{{Name: "n", Kind: Int, Low: 0, High: 4, Step: 1.5}}, `"n": step must be a positive integer`},
		{[]Param{{Name: "n", Kind: Int, Low: 1, High: 8, Step: 2, Log: true}}, `"n": log scale and step cannot be combined`},
		{[]Param{{Name: "z", Kind: 9}}, `"z": unknown kind 9`},
	}
	for _, c := range cases {
		_, err := NewSpace(c.params...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewSpace(%v) error = %v, want it to contain %q", c.params, err, c.want)
		}
	}
}

func TestUnitMappingRoundTrips(t *testing.T) {
	params := []Param{
		IntRange("n", 2, 12, 2), LogInt("units", 1, 1024), Choice("act", "relu", "tanh", "gelu"),
		LogUniform("lr", 1e-5, 1), Uniform("p", -1, 1),
	}
	for _, p := range params {
		for i := range 101 {
			v := p.FromUnit(float64(i) / 100)
			if err := p.checkValue(v); err != nil {
				t.Fatalf("%s: FromUnit(%g) = %g: %v", p.Name, float64(i)/100, v, err)
			}
			if back := p.FromUnit(p.ToUnit(v)); p.Kind != Float && back != v {
				t.Errorf("%s: FromUnit(ToUnit(%g)) = %g", p.Name, v, back)
			}
		}
	}
	n := IntRange("n", 2, 12, 2)
	if got := []float64{n.FromUnit(0), n.FromUnit(0.5), n.FromUnit(1)}; got[0] != 2 || got[1] != 8 || got[2] != 12 {
		t.Errorf("int 2..12 step 2 at 0, 0.5, 1 = %v, want [2 8 12]", got)
	}
}

func TestCheckRejectsInactiveAndMissing(t *testing.T) {
	s, err := NewSpace(Choice("kind", "a", "b"), Uniform("x", 0, 1).If("kind", "a"), IntRange("n", 1, 3, 1))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		x    Params
		want string
	}{
		{Params{"kind": 0, "x": 0.5, "n": 2}, ""},
		{Params{"kind": 1, "n": 2}, ""},
		{Params{"kind": 1, "x": 0.5, "n": 2}, `"x": set but inactive`},
		{Params{"kind": 0, "n": 2}, `"x": missing`},
		{Params{"kind": 1, "n": 2.5}, `"n": value 2.5 is not one of`},
		{Params{"kind": 2, "n": 1}, `"kind": choice index 2 out of range`},
		{Params{"kind": 1, "n": 1, "zz": 3}, `"zz": not in the space`},
	} {
		err := s.Check(c.x)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("Check(%v) = %v, want %q", c.x, err, c.want)
		}
	}
}
