// Package tune searches hyperparameter spaces: search spaces with
// conditional parameters, samplers (random, grid, Sobol, TPE, Gaussian
// process), pruners that stop unpromising trials early (ASHA, Hyperband,
// median stopping) and a study engine that runs trials in parallel, records
// them in a Storage and resumes after a kill.
//
// Every sampler works in the unit cube: a numeric parameter is mapped to
// [0, 1] (log parameters through their logarithm, integers to the centres of
// equal cells), a categorical parameter to the index of its choice.
package tune

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Kind is the type of a parameter.
type Kind int

// The kinds of parameter.
const (
	Float       Kind = iota + 1 // a real number in [Low, High]
	Int                         // an integer in [Low, High], spaced by Step
	Categorical                 // one of Choices
)

// String returns the kind's name as written in job specs.
func (k Kind) String() string {
	switch k {
	case Float:
		return "float"
	case Int:
		return "int"
	case Categorical:
		return "categorical"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Param describes one hyperparameter. The zero Step of an Int parameter
// means 1. A parameter with a Parent exists only in trials where the parent,
// a categorical parameter declared earlier, takes one of the values in When.
type Param struct {
	Name    string   `json:"name"`
	Kind    Kind     `json:"kind"`
	Low     float64  `json:"low,omitempty"`
	High    float64  `json:"high,omitempty"`
	Log     bool     `json:"log,omitempty"`
	Step    float64  `json:"step,omitempty"`
	Choices []string `json:"choices,omitempty"`
	Parent  string   `json:"parent,omitempty"`
	When    []string `json:"when,omitempty"`
}

// Uniform returns a float parameter drawn uniformly from [low, high].
func Uniform(name string, low, high float64) Param {
	return Param{Name: name, Kind: Float, Low: low, High: high}
}

// LogUniform returns a float parameter whose logarithm is uniform on
// [log low, log high]; low must be positive.
func LogUniform(name string, low, high float64) Param {
	return Param{Name: name, Kind: Float, Low: low, High: high, Log: true}
}

// IntRange returns an integer parameter taking low, low+step, ..., up to high.
func IntRange(name string, low, high, step int) Param {
	return Param{Name: name, Kind: Int, Low: float64(low), High: float64(high), Step: float64(step)}
}

// LogInt returns an integer parameter in [low, high] whose logarithm is
// uniform; low must be at least 1.
func LogInt(name string, low, high int) Param {
	return Param{Name: name, Kind: Int, Low: float64(low), High: float64(high), Log: true}
}

// Choice returns a categorical parameter.
func Choice(name string, choices ...string) Param {
	return Param{Name: name, Kind: Categorical, Choices: choices}
}

// If returns p made conditional: it exists only when the categorical
// parameter parent takes one of values.
func (p Param) If(parent string, values ...string) Param {
	p.Parent = parent
	p.When = values
	return p
}

// step returns the spacing of an Int parameter.
func (p Param) step() float64 {
	if p.Step == 0 {
		return 1
	}
	return p.Step
}

// cells returns the number of values of a discrete parameter (Int or
// Categorical), or 0 for Float.
func (p Param) cells() int {
	switch p.Kind {
	case Int:
		return int(math.Floor((p.High-p.Low)/p.step()+1e-9)) + 1
	case Categorical:
		return len(p.Choices)
	}
	return 0
}

// logBounds returns the interval, in log space, that a log parameter's unit
// coordinate spans; integers are widened by half a unit on each side so that
// every value gets a cell.
func (p Param) logBounds() (lo, hi float64) {
	if p.Kind == Int {
		return math.Log(p.Low - 0.5), math.Log(p.High + 0.5)
	}
	return math.Log(p.Low), math.Log(p.High)
}

// FromUnit maps u in [0, 1] to a value of p: a real for Float, an integer
// for Int, a choice index for Categorical. Values outside [0, 1] are clamped.
func (p Param) FromUnit(u float64) float64 {
	u = math.Min(math.Max(u, 0), 1)
	switch {
	case p.Kind == Float && p.Log:
		lo, hi := p.logBounds()
		return math.Min(math.Max(math.Exp(lo+u*(hi-lo)), p.Low), p.High)
	case p.Kind == Float:
		return p.Low + u*(p.High-p.Low)
	case p.Kind == Int && p.Log:
		lo, hi := p.logBounds()
		return math.Min(math.Max(math.Round(math.Exp(lo+u*(hi-lo))), p.Low), p.High)
	}
	n := p.cells()
	i := min(int(u*float64(n)), n-1)
	if p.Kind == Int {
		return p.Low + float64(i)*p.step()
	}
	return float64(i)
}

// ToUnit maps a value of p to its unit coordinate; a discrete value maps to
// the centre of its cell, so FromUnit(ToUnit(v)) == v.
func (p Param) ToUnit(v float64) float64 {
	switch {
	case p.Kind == Float && p.High == p.Low:
		return 0.5
	case p.Log:
		lo, hi := p.logBounds()
		return (math.Log(v) - lo) / (hi - lo)
	case p.Kind == Float:
		return (v - p.Low) / (p.High - p.Low)
	case p.Kind == Int:
		return (math.Round((v-p.Low)/p.step()) + 0.5) / float64(p.cells())
	}
	return (v + 0.5) / float64(p.cells())
}

// Format returns v, a value of p, as text: the choice for a categorical
// parameter, an integer without decimals, a real in shortest form.
func (p Param) Format(v float64) string {
	switch p.Kind {
	case Categorical:
		return p.Choices[int(v)]
	case Int:
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.6g", v)
}

// validate checks p on its own; Space.validate checks the links.
func (p Param) validate() error {
	switch p.Kind {
	case Float, Int:
		if math.IsNaN(p.Low) || math.IsNaN(p.High) || math.IsInf(p.Low, 0) || math.IsInf(p.High, 0) {
			return errors.New("low and high must be finite")
		}
		if p.Low > p.High {
			return fmt.Errorf("low %g is above high %g", p.Low, p.High)
		}
		if p.Log && p.Kind == Float && p.Low <= 0 {
			return fmt.Errorf("log scale needs low > 0, got %g", p.Low)
		}
		if p.Log && p.Kind == Int && p.Low < 1 {
			return fmt.Errorf("log scale needs low >= 1, got %g", p.Low)
		}
		if len(p.Choices) > 0 {
			return fmt.Errorf("choices are only for categorical parameters")
		}
	case Categorical:
		if len(p.Choices) == 0 {
			return errors.New("categorical parameter needs at least one choice")
		}
		for i, c := range p.Choices {
			if slices.Index(p.Choices, c) != i {
				return fmt.Errorf("choice %q appears twice", c)
			}
		}
	default:
		return fmt.Errorf("unknown kind %d", int(p.Kind))
	}
	if p.Kind == Int {
		if p.Low != math.Trunc(p.Low) || p.High != math.Trunc(p.High) {
			return fmt.Errorf("int bounds must be integers, got [%g, %g]", p.Low, p.High)
		}
		if p.Step < 0 || p.Step != math.Trunc(p.Step) {
			return fmt.Errorf("step must be a positive integer, got %g", p.Step)
		}
		if p.Log && p.step() != 1 {
			return errors.New("log scale and step cannot be combined")
		}
	} else if p.Step != 0 {
		return errors.New("step is only for int parameters")
	}
	return nil
}

// Space is an ordered, validated set of parameters. A Space is immutable
// and safe for concurrent use.
type Space struct {
	params []Param
	index  map[string]int
}

// NewSpace validates params and returns their space. Parents must come
// before their children. Errors name the offending parameter.
func NewSpace(params ...Param) (*Space, error) {
	s := &Space{params: slices.Clone(params), index: make(map[string]int, len(params))}
	for i, p := range s.params {
		if p.Name == "" {
			return nil, fmt.Errorf("parameter %d: name is empty", i)
		}
		if _, dup := s.index[p.Name]; dup {
			return nil, fmt.Errorf("parameter %q: declared twice", p.Name)
		}
		if err := p.validate(); err != nil {
			return nil, fmt.Errorf("parameter %q: %w", p.Name, err)
		}
		if err := s.validateCondition(p); err != nil {
			return nil, fmt.Errorf("parameter %q: %w", p.Name, err)
		}
		s.index[p.Name] = i
	}
	return s, nil
}

// validateCondition checks that p's parent is an earlier categorical
// parameter and that When names its choices.
func (s *Space) validateCondition(p Param) error {
	if p.Parent == "" {
		if len(p.When) > 0 {
			return errors.New("when is set but parent is empty")
		}
		return nil
	}
	j, ok := s.index[p.Parent]
	if !ok {
		return fmt.Errorf("parent %q is not declared before it", p.Parent)
	}
	parent := s.params[j]
	if parent.Kind != Categorical {
		return fmt.Errorf("parent %q must be categorical, is %s", p.Parent, parent.Kind)
	}
	if len(p.When) == 0 {
		return fmt.Errorf("parent %q is set but when lists no values", p.Parent)
	}
	for _, w := range p.When {
		if !slices.Contains(parent.Choices, w) {
			return fmt.Errorf("when value %q is not a choice of %q", w, p.Parent)
		}
	}
	return nil
}

// Params returns the parameters in declaration order. The caller must not
// modify the result.
func (s *Space) Params() []Param { return s.params }

// Param returns the parameter called name.
func (s *Space) Param(name string) (Param, bool) {
	i, ok := s.index[name]
	if !ok {
		return Param{}, false
	}
	return s.params[i], true
}

// Params is one point of a space: parameter name to value (a real, an
// integer, or the index of a choice). Inactive conditional parameters are
// absent.
type Params map[string]float64

// active reports whether p exists given the values chosen so far.
func (s *Space) active(p Param, chosen Params) bool {
	if p.Parent == "" {
		return true
	}
	v, ok := chosen[p.Parent]
	if !ok {
		return false
	}
	parent := s.params[s.index[p.Parent]]
	return slices.Contains(p.When, parent.Choices[int(v)])
}

// build walks the parameters in order and asks value for each one that is
// active given the earlier values; it is how every sampler produces a
// point that respects the conditions.
func (s *Space) build(value func(p Param) float64) Params {
	out := make(Params, len(s.params))
	for _, p := range s.params {
		if s.active(p, out) {
			out[p.Name] = value(p)
		}
	}
	return out
}

// Check reports whether x is a valid point of s: every active parameter
// present with a legal value and no inactive or unknown ones. The error
// names the parameter.
func (s *Space) Check(x Params) error {
	seen := 0
	for _, p := range s.params {
		v, ok := x[p.Name]
		want := s.active(p, x)
		if ok != want {
			if want {
				return fmt.Errorf("parameter %q: missing", p.Name)
			}
			return fmt.Errorf("parameter %q: set but inactive", p.Name)
		}
		if !ok {
			continue
		}
		seen++
		if err := p.checkValue(v); err != nil {
			return fmt.Errorf("parameter %q: %w", p.Name, err)
		}
	}
	if seen != len(x) {
		for name := range x {
			if _, ok := s.index[name]; !ok {
				return fmt.Errorf("parameter %q: not in the space", name)
			}
		}
	}
	return nil
}

// checkValue reports whether v is a legal value of p.
func (p Param) checkValue(v float64) error {
	switch p.Kind {
	case Float:
		if !(v >= p.Low && v <= p.High) {
			return fmt.Errorf("value %g outside [%g, %g]", v, p.Low, p.High)
		}
	case Int:
		k := (v - p.Low) / p.step()
		if !(v >= p.Low && v <= p.High) || k != math.Trunc(k) {
			return fmt.Errorf("value %g is not one of [%g, %g] step %g", v, p.Low, p.High, p.step())
		}
	case Categorical:
		if v != math.Trunc(v) || v < 0 || int(v) >= len(p.Choices) {
			return fmt.Errorf("choice index %g out of range", v)
		}
	}
	return nil
}
