package models

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/mlenv/mlenv/nn"
)

// ParamError reports a bad architecture parameter. Param is its path under
// the spec's model.params ("hidden[1]"), so that the CLI can point at it in
// the spec file.
type ParamError struct {
	Param string
	Msg   string
}

// Error formats e as "model.params.PARAM: message".
func (e *ParamError) Error() string { return "model.params." + e.Param + ": " + e.Msg }

// Params reads an architecture's parameters from the spec's model.params
// map, with defaults. Each getter returns a *ParamError for a value of the
// wrong type or out of range; Build rejects keys that no getter read.
// Numbers may come as any Go integer or float type (YAML gives int, JSON
// gives float64).
type Params struct {
	values map[string]any
	used   map[string]bool
}

// Int returns the integer parameter name, def if absent. It must be at
// least min.
func (p *Params) Int(name string, def, min int) (int, error) {
	v, ok := p.get(name)
	if !ok {
		return def, nil
	}
	n, err := toInt(name, v)
	if err == nil && n < min {
		err = &ParamError{name, fmt.Sprintf("%d is too small (minimum %d)", n, min)}
	}
	return n, err
}

// Float returns the number parameter name, def if absent. It must lie in
// [min, max].
func (p *Params) Float(name string, def, min, max float64) (float64, error) {
	v, ok := p.get(name)
	if !ok {
		return def, nil
	}
	f, ok := toFloat(v)
	if !ok {
		return 0, &ParamError{name, fmt.Sprintf("want a number, got %T", v)}
	}
	if f < min || f > max {
		return 0, &ParamError{name, fmt.Sprintf("%g is out of range [%g, %g]", f, min, max)}
	}
	return f, nil
}

// Ints returns the list of integers name, def if absent. Every element must
// be at least min; the list must not be empty.
func (p *Params) Ints(name string, def []int, min int) ([]int, error) {
	v, ok := p.get(name)
	if !ok {
		return slices.Clone(def), nil
	}
	list, ok := v.([]any)
	if !ok {
		if ints, isInts := v.([]int); isInts {
			list = make([]any, len(ints))
			for i, n := range ints {
				list[i] = n
			}
		} else {
			return nil, &ParamError{name, fmt.Sprintf("want a list of integers, got %T", v)}
		}
	}
	if len(list) == 0 {
		return nil, &ParamError{name, "must not be empty"}
	}
	out := make([]int, len(list))
	for i, e := range list {
		path := fmt.Sprintf("%s[%d]", name, i)
		n, err := toInt(path, e)
		if err != nil {
			return nil, err
		}
		if n < min {
			return nil, &ParamError{path, fmt.Sprintf("%d is too small (minimum %d)", n, min)}
		}
		out[i] = n
	}
	return out, nil
}

// Strings returns the list of strings name, def if absent.
func (p *Params) Strings(name string, def []string) ([]string, error) {
	v, ok := p.get(name)
	if !ok {
		return slices.Clone(def), nil
	}
	list, ok := v.([]any)
	if !ok {
		if strs, isStrs := v.([]string); isStrs {
			return slices.Clone(strs), nil
		}
		return nil, &ParamError{name, fmt.Sprintf("want a list of names, got %T", v)}
	}
	out := make([]string, len(list))
	for i, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, &ParamError{fmt.Sprintf("%s[%d]", name, i), fmt.Sprintf("want a name, got %T", e)}
		}
		out[i] = s
	}
	return out, nil
}

// Activation returns the activation parameter name, def if absent.
func (p *Params) Activation(name string, def nn.Activation) (nn.Activation, error) {
	v, ok := p.get(name)
	if !ok {
		return def, nil
	}
	s, _ := v.(string)
	a, err := nn.ParseActivation(s)
	if err != nil || s == "" {
		return "", &ParamError{name, fmt.Sprintf("%v is not an activation (allowed: gelu, relu, sigmoid, silu, tanh)", v)}
	}
	return a, nil
}

func (p *Params) get(name string) (any, bool) {
	if p == nil {
		return nil, false
	}
	if p.used == nil {
		p.used = map[string]bool{}
	}
	p.used[name] = true
	v, ok := p.values[name]
	return v, ok
}

// unknown returns a *ParamError for the first (sorted) key no getter read.
func (p *Params) unknown() error {
	if p == nil {
		return nil
	}
	for _, k := range slices.Sorted(maps.Keys(p.values)) {
		if !p.used[k] {
			known := slices.Sorted(maps.Keys(p.used))
			return &ParamError{k, fmt.Sprintf("unknown parameter (allowed: %s)", strings.Join(known, ", "))}
		}
	}
	return nil
}

func toInt(name string, v any) (int, error) {
	f, ok := toFloat(v)
	if !ok || f != math.Trunc(f) {
		return 0, &ParamError{name, fmt.Sprintf("want an integer, got %v", v)}
	}
	return int(f), nil
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint64:
		return float64(n), true
	case float32:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

// String returns the string parameter name, def if absent.
func (p *Params) String(name, def string) (string, error) {
	v, ok := p.get(name)
	if !ok {
		return def, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", &ParamError{name, fmt.Sprintf("want a name, got %T", v)}
	}
	return s, nil
}
