package data

import (
	"errors"
	"fmt"
	"iter"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Kind says which member of a Field holds its value.
type Kind uint8

// Field kinds.
const (
	Null Kind = iota // missing
	Num              // a number: Parquet numeric and boolean columns, IDX labels
	Str              // text: CSV fields, Parquet byte-array columns
	List             // a list of strings: Parquet repeated columns
	Vec              // a dense vector: IDX images, with Shape
)

// Field is one column's raw value in a Record.
type Field struct {
	Kind  Kind
	Num   float64
	Str   string
	List  []string
	Vec   []float32
	Shape []int // dimensions of Vec, such as [1, 28, 28]
}

// Record is one raw row read from a file: the values of the columns asked
// for, in the order asked. Readers reuse a Record between iterations: it is
// valid only until the loop body returns.
type Record struct {
	File   string
	Row    int64 // 1-based data row within File (the header does not count)
	Line   int64 // 1-based line in File for text formats, else 0
	Fields []Field
}

// RowError reports a malformed row. Readers and encoders return it for a
// row that can be skipped; iteration may go on after it.
type RowError struct {
	File   string
	Row    int64
	Line   int64  // 0 when the format has no lines
	Column string // "" when the row as a whole is bad
	Err    error
}

// Error formats e as "file:line: row N: column "c": err", leaving out
// the parts that are unknown (a serving input has no file or row).
func (e *RowError) Error() string {
	var parts []string
	if e.File != "" {
		at := e.File
		if e.Line > 0 {
			at += ":" + strconv.FormatInt(e.Line, 10)
		}
		parts = append(parts, at, "row "+strconv.FormatInt(e.Row, 10))
	}
	if e.Column != "" {
		parts = append(parts, "column "+strconv.Quote(e.Column))
	}
	return strings.Join(append(parts, e.Err.Error()), ": ")
}

// Unwrap returns the underlying error, such as a strconv or csv error.
func (e *RowError) Unwrap() error { return e.Err }

// rowError builds a RowError for r.
func (r *Record) rowError(column string, err error) *RowError {
	return &RowError{File: r.File, Row: r.Row, Line: r.Line, Column: column, Err: err}
}

// IsRowError reports whether err concerns one malformed row only, so that a
// caller may skip the row and go on.
func IsRowError(err error) bool {
	var re *RowError
	return errors.As(err, &re)
}

// Files returns the files a Source names, sorted. A glob that matches
// nothing is an error.
func (s Source) Files() ([]string, error) {
	return glob(s.Path)
}

func glob(pattern string) ([]string, error) {
	files, err := filepath.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("data: bad glob %q: %w", pattern, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("data: %q matches no file", pattern)
	}
	slices.Sort(files)
	return files, nil
}

// RowSource is where a pipeline reads raw rows from. Source (files) is the
// usual one; tests and programs can supply rows from elsewhere.
type RowSource interface {
	// Records streams the rows, reading the named columns. It yields a
	// *RowError for a malformed row and goes on if the loop does; any
	// other error ends the sequence. The *Record is reused: it is valid
	// only until the loop body returns.
	Records(columns []string) iter.Seq2[*Record, error]
}

var _ RowSource = Source{}

// Records streams the rows of every file of s, reading the named columns
// (an IDX source has exactly two: "image" and "label"). A file that lacks
// one of the columns is an error that ends the sequence.
func (s Source) Records(columns []string) iter.Seq2[*Record, error] {
	return func(yield func(*Record, error) bool) {
		var err error
		switch s.Format {
		case FormatCSV:
			err = readFiles(s.Path, func(f string) (bool, error) { return readCSV(f, s, columns, yield) })
		case FormatParquet:
			err = readFiles(s.Path, func(f string) (bool, error) { return readParquet(f, columns, yield) })
		case FormatIDX:
			err = readIDXSource(s, columns, yield)
		default:
			err = fmt.Errorf("data: unknown format %q (allowed: csv, idx, parquet)", s.Format)
		}
		if err != nil {
			yield(nil, err)
		}
	}
}

// readFiles calls read for each file pattern matches; read reports whether
// to go on.
func readFiles(pattern string, read func(file string) (bool, error)) error {
	files, err := glob(pattern)
	if err != nil {
		return err
	}
	for _, f := range files {
		more, err := read(f)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// columnIndex maps wanted column names to their index among have, failing
// on the first missing one.
func columnIndex(file string, have, want []string) ([]int, error) {
	idx := make([]int, len(want))
	for i, w := range want {
		idx[i] = slices.Index(have, w)
		if idx[i] < 0 {
			return nil, fmt.Errorf("data: %s: no column %q (columns: %s)", file, w, strings.Join(have, ", "))
		}
	}
	return idx, nil
}

// FormatOf guesses a file's format from its name: .parquet, .csv (also
// gzipped, .csv.gz) and IDX names such as train-images-idx3-ubyte[.gz].
// It returns "" when it cannot tell.
func FormatOf(path string) string {
	base := strings.ToLower(strings.TrimSuffix(filepath.Base(path), ".gz"))
	switch {
	case strings.HasSuffix(base, ".parquet"):
		return FormatParquet
	case strings.HasSuffix(base, ".csv"):
		return FormatCSV
	case strings.Contains(base, "idx1") || strings.Contains(base, "idx3") || strings.HasSuffix(base, ".idx"):
		return FormatIDX
	}
	return ""
}

// Value returns f as a serving client would send it and as
// Transforms.Apply takes it: nil when missing, float64, string, or a copy
// of the list or vector (readers reuse theirs).
func (f Field) Value() any {
	switch f.Kind {
	case Num:
		return f.Num
	case Str:
		return f.Str
	case List:
		return slices.Clone(f.List)
	case Vec:
		return slices.Clone(f.Vec)
	}
	return nil
}

// Raw returns the record as a raw row by column name, each value as
// Field.Value gives it; columns are the names the record was read with.
// The row stays valid after the reader moves on.
func (r *Record) Raw(columns []string) map[string]any {
	row := make(map[string]any, len(columns))
	for i, f := range r.Fields {
		row[columns[i]] = f.Value()
	}
	return row
}
