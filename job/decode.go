package job

import (
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Error is one problem with a spec, located at the value it concerns.
// Line and Column are 1-based; they are 0 when the position is unknown
// (a spec built in code, or a field absent from the file).
type Error struct {
	File   string
	Line   int
	Column int
	Path   string // the field path, such as "training.batch_size"
	Msg    string
}

// Error formats e as file:line:column: path: msg, leaving out what is unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:%d:", e.Line, e.Column)
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// pos is a position in the spec file.
type pos struct{ line, col int }

// Load reads, decodes, resolves and validates the spec at path. A returned
// error lists every problem found, one *Error per line (see errors.Join).
func Load(path string) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("job: %w", err)
	}
	return Parse(path, b)
}

// Parse is Load for a spec already in memory; file names it in errors.
func Parse(file string, src []byte) (*Spec, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	s := Default()
	s.file = file
	s.pos = map[string]pos{}
	if doc.Kind == 0 {
		return nil, &Error{File: file, Line: 1, Column: 1, Msg: "empty job spec"}
	}
	d := decoder{spec: s}
	d.value(doc.Content[0], nil, reflect.ValueOf(s).Elem(), "")
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	s.resolve()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// decoder walks a YAML node tree into a Go value by reflection, recording
// the position of every field it sets and collecting errors.
type decoder struct {
	spec *Spec
	errs []error
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.spec.file, Line: n.Line, Column: n.Column,
		Path: path, Msg: fmt.Sprintf(format, args...)})
}

// value decodes n into v. A field's position is its value's for a scalar
// and its key's (when it has one) for a mapping or list, whose value starts
// on the next line in block style.
func (d *decoder) value(n, key *yaml.Node, v reflect.Value, path string) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	at := n
	if key != nil && n.Kind != yaml.ScalarNode {
		at = key
	}
	if path != "" {
		d.spec.pos[path] = pos{at.Line, at.Column}
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty value keeps the default
	}
	switch v.Kind() {
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Slice:
		d.sequence(n, v, path)
	case reflect.Map:
		d.mapping(n, v, path)
	default:
		d.scalar(n, v, path)
	}
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping, got %s", describe(n))
		return
	}
	fields := map[string]int{}
	var names []string
	for i := range v.NumField() {
		f := v.Type().Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if f.IsExported() && name != "" {
			fields[name] = i
			names = append(names, name)
		}
	}
	slices.Sort(names)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		p := join(path, key.Value)
		idx, ok := fields[key.Value]
		switch {
		case !ok:
			d.fail(key, p, "unknown field (allowed: %s)", strings.Join(names, ", "))
		case seen[key.Value]:
			d.fail(key, p, "field given twice")
		default:
			seen[key.Value] = true
			d.value(val, key, v.Field(idx), p)
		}
	}
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, "want a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.value(item, nil, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(s)
}

// mapping decodes a free-form map (model.params), recording the positions
// of its keys so that the model zoo can report positioned errors.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping, got %s", describe(n))
		return
	}
	m := map[string]any{}
	if err := n.Decode(&m); err != nil {
		d.fail(n, path, "%v", err)
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		d.positions(n.Content[i+1], n.Content[i], join(path, n.Content[i].Value))
	}
	v.Set(reflect.ValueOf(m))
}

// positions records the positions of n and everything under it, placing
// collections at their key as value does.
func (d *decoder) positions(n, key *yaml.Node, path string) {
	at := n
	if key != nil && n.Kind != yaml.ScalarNode {
		at = key
	}
	d.spec.pos[path] = pos{at.Line, at.Column}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			d.positions(n.Content[i+1], n.Content[i], join(path, n.Content[i].Value))
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			d.positions(item, nil, fmt.Sprintf("%s[%d]", path, i))
		}
	}
}

func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "want %s, got %s", want(v.Kind()), describe(n))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(n.Value)
		return
	case reflect.Bool:
		if n.Tag == "!!bool" {
			b, err := strconv.ParseBool(strings.ToLower(n.Value))
			if err == nil {
				v.SetBool(b)
				return
			}
		}
	case reflect.Int, reflect.Int64:
		if n.Tag == "!!int" {
			var i int64
			if err := n.Decode(&i); err == nil && !v.OverflowInt(i) {
				v.SetInt(i)
				return
			}
		}
	case reflect.Float64:
		if n.Tag == "!!int" || n.Tag == "!!float" {
			var f float64
			if err := n.Decode(&f); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
				v.SetFloat(f)
				return
			}
		}
	default:
		panic(fmt.Sprintf("job: no decoder for %s at %s", v.Type(), path))
	}
	d.fail(n, path, "want %s, got %s", want(v.Kind()), describe(n))
}

// want names what a Go kind accepts, for error messages.
func want(k reflect.Kind) string {
	switch k {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64:
		return "an integer"
	case reflect.Float64:
		return "a finite number"
	case reflect.String:
		return "a string"
	}
	return "a " + k.String()
}

// describe names what a node holds, for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
