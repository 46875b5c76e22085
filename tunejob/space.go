// Package tunejob tunes a job spec: it turns the spec's search section
// into a tune.Space, applies each trial's parameters to a copy of the spec,
// trains it with train.Run, reports the validation metric to the study's
// pruner after every evaluation and keeps the study in a directory (its
// trials in tune's JSON-lines FileStorage, its description in study.json)
// so that an interrupted study resumes where it stopped.
package tunejob

import (
	"fmt"
	"math"
	"strconv"

	"github.com/mlenv/mlenv/job"
	"github.com/mlenv/mlenv/tune"
)

// Space returns the tune space of a search section, which job validation
// has checked.
func Space(sr *job.Search) (*tune.Space, error) {
	params := make([]tune.Param, 0, len(sr.Params))
	for _, sp := range sr.Params {
		var p tune.Param
		switch sp.Type {
		case "float":
			p = tune.Uniform(sp.Name, sp.Low, sp.High)
			if sp.Log {
				p = tune.LogUniform(sp.Name, sp.Low, sp.High)
			}
		case "int":
			p = tune.IntRange(sp.Name, int(sp.Low), int(sp.High), int(sp.Step))
			if sp.Log {
				p = tune.LogInt(sp.Name, int(sp.Low), int(sp.High))
			}
		case "categorical":
			p = tune.Choice(sp.Name, sp.Choices...)
		default:
			return nil, fmt.Errorf("search parameter %q: unknown type %q", sp.Name, sp.Type)
		}
		if sp.When.Param != "" {
			p = p.If(sp.When.Param, sp.When.In...)
		}
		params = append(params, p)
	}
	s, err := tune.NewSpace(params...)
	if err != nil {
		return nil, fmt.Errorf("search space: %w", err)
	}
	return s, nil
}

// Apply returns a copy of spec with the values of point set on the fields
// its search section names; inactive parameters leave their fields as the
// spec has them. The copy is validated again, so a value the trainer would
// reject fails here with the field's position.
func Apply(spec *job.Spec, point tune.Params) (*job.Spec, error) {
	out := *spec
	for _, sp := range spec.Search.Params {
		x, ok := point[sp.Name]
		if !ok {
			continue
		}
		v, err := fieldValue(sp, x)
		if err != nil {
			return nil, err
		}
		if err := out.SetField(sp.Field, v); err != nil {
			return nil, fmt.Errorf("search parameter %q: %w", sp.Name, err)
		}
	}
	if err := out.Validate(); err != nil {
		return nil, fmt.Errorf("spec with trial parameters: %w", err)
	}
	return &out, nil
}

// fieldValue converts a parameter's value in the space (a real, an
// integer, a choice index) to the value its spec field gets.
func fieldValue(sp job.SearchParam, x float64) (any, error) {
	switch sp.Type {
	case "int":
		return int(math.Round(x)), nil
	case "categorical":
		i := int(x)
		if i < 0 || i >= len(sp.Choices) {
			return nil, fmt.Errorf("search parameter %q: choice %d out of range", sp.Name, i)
		}
		return job.ChoiceValue(sp.Choices[i])
	}
	return x, nil
}

// Labels returns point's values as text keyed by parameter name, the form
// in which trials log them as tracking params: choices as written in the
// spec, integers without decimals, reals with every digit (so that a
// logged value reproduces the trial).
func Labels(space *tune.Space, point tune.Params) map[string]string {
	out := make(map[string]string, len(point))
	for _, p := range space.Params() {
		x, ok := point[p.Name]
		switch {
		case !ok:
		case p.Kind == tune.Float:
			out[p.Name] = strconv.FormatFloat(x, 'g', -1, 64)
		default:
			out[p.Name] = p.Format(x)
		}
	}
	return out
}
