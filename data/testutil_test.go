package data

import (
	"path/filepath"
	"testing"
)

// writeTable writes rows to dir/name (Parquet or CSV by extension).
func writeTable(t *testing.T, dir, name string, cols []column, rows [][]Field) string {
	t.Helper()
	path := filepath.Join(dir, name)
	w, err := createTable(path, cols)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := w.write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// readAll collects copies of the records of src, failing on any error.
func readAll(t *testing.T, src Source, columns []string) []Record {
	t.Helper()
	var out []Record
	for rec, err := range src.Records(columns) {
		if err != nil {
			t.Fatal(err)
		}
		c := *rec
		c.Fields = make([]Field, len(rec.Fields))
		for i, f := range rec.Fields {
			f.List = append([]string(nil), f.List...)
			f.Vec = append([]float32(nil), f.Vec...)
			c.Fields[i] = f
		}
		out = append(out, c)
	}
	return out
}

func num(x float64) Field    { return Field{Kind: Num, Num: x} }
func str(s string) Field     { return Field{Kind: Str, Str: s} }
func list(s ...string) Field { return Field{Kind: List, List: s} }
