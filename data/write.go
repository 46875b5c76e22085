package data

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// column describes a column that a tableWriter writes.
type column struct {
	name    string
	kind    Kind // Num, Str or List
	integer bool // a Num column stored as int64 in Parquet
}

// tableWriter writes rows of fields, one per column, to a Parquet or CSV
// file. CSV stores a List joined with "|" and a Null as an empty field.
type tableWriter interface {
	write(fields []Field) error
	Close() error
}

// createTable creates path, in Parquet or CSV by its extension.
func createTable(path string, cols []column) (tableWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".parquet":
		return newParquetTable(f, cols), nil
	case ".csv":
		w := &csvTable{f: f, buf: bufio.NewWriterSize(f, 1<<16)}
		w.w = csv.NewWriter(w.buf)
		header := make([]string, len(cols))
		for i, c := range cols {
			header[i] = c.name
		}
		return w, w.w.Write(header)
	}
	f.Close()
	os.Remove(path)
	return nil, fmt.Errorf("data: %s: cannot tell the format from the extension (want .parquet or .csv)", path)
}

type csvTable struct {
	f   *os.File
	buf *bufio.Writer
	w   *csv.Writer
	row []string
}

func (t *csvTable) write(fields []Field) error {
	t.row = t.row[:0]
	for _, f := range fields {
		switch f.Kind {
		case Null:
			t.row = append(t.row, "")
		case List:
			t.row = append(t.row, strings.Join(f.List, "|"))
		default:
			t.row = append(t.row, f.text())
		}
	}
	return t.w.Write(t.row)
}

// Close flushes the rows and closes the file.
func (t *csvTable) Close() error {
	t.w.Flush()
	err := t.w.Error()
	if err == nil {
		err = t.buf.Flush()
	}
	if cerr := t.f.Close(); err == nil {
		err = cerr
	}
	return err
}

type parquetTable struct {
	f     *os.File
	w     *parquet.Writer
	cols  []column
	leaf  []int         // per column: its leaf column index in the schema
	order []int         // column indexes sorted by leaf index
	rows  []parquet.Row // buffered until flush
}

// newParquetTable writes a flat schema in the order of cols: numbers as
// required DOUBLE or INT64, strings as required STRING, lists as repeated
// STRING, all Snappy compressed. (parquet.Group would sort the columns by
// name; a struct type keeps their order.)
func newParquetTable(f *os.File, cols []column) *parquetTable {
	fields := make([]reflect.StructField, len(cols))
	for i, c := range cols {
		var typ reflect.Type
		switch {
		case c.kind == Str:
			typ = reflect.TypeFor[string]()
		case c.kind == List:
			typ = reflect.TypeFor[[]string]()
		case c.integer:
			typ = reflect.TypeFor[int64]()
		default:
			typ = reflect.TypeFor[float64]()
		}
		fields[i] = reflect.StructField{Name: "F" + strconv.Itoa(i), Type: typ,
			Tag: reflect.StructTag(`parquet:"` + c.name + `,snappy"`)}
	}
	schema := parquet.SchemaOf(reflect.New(reflect.StructOf(fields)).Elem().Interface())
	t := &parquetTable{f: f, cols: cols, w: parquet.NewWriter(f, schema, parquet.MaxRowsPerRowGroup(1<<16))}
	byLeaf := make([]int, len(cols))
	for i, c := range cols {
		leaf, _ := schema.Lookup(c.name)
		t.leaf = append(t.leaf, leaf.ColumnIndex)
		byLeaf[leaf.ColumnIndex] = i
	}
	t.order = byLeaf
	return t
}

func (t *parquetTable) write(fields []Field) error {
	row := make(parquet.Row, 0, len(fields))
	for _, i := range t.order {
		f, c, leaf := fields[i], t.cols[i], t.leaf[i]
		switch {
		case c.kind == List && len(f.List) == 0:
			row = append(row, parquet.Value{}.Level(0, 0, leaf))
		case c.kind == List:
			for j, s := range f.List {
				row = append(row, parquet.ByteArrayValue([]byte(s)).Level(min(j, 1), 1, leaf))
			}
		case c.kind == Str:
			row = append(row, parquet.ByteArrayValue([]byte(f.Str)).Level(0, 0, leaf))
		case c.integer:
			row = append(row, parquet.Int64Value(int64(f.Num)).Level(0, 0, leaf))
		default:
			row = append(row, parquet.DoubleValue(f.Num).Level(0, 0, leaf))
		}
	}
	t.rows = append(t.rows, row)
	if len(t.rows) == 1024 {
		return t.flush()
	}
	return nil
}

func (t *parquetTable) flush() error {
	_, err := t.w.WriteRows(t.rows)
	t.rows = t.rows[:0]
	if err != nil {
		return fmt.Errorf("data: %s: %w", t.f.Name(), err)
	}
	return nil
}

// Close writes the buffered rows and the footer and closes the file.
func (t *parquetTable) Close() error {
	err := t.flush()
	if err == nil {
		err = t.w.Close()
	}
	if cerr := t.f.Close(); err == nil {
		err = cerr
	}
	return err
}
