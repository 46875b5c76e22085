package data

import (
	"compress/gzip"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

var tableCols = []column{
	{name: "x", kind: Num},
	{name: "n", kind: Num, integer: true},
	{name: "c", kind: Str},
	{name: "tags", kind: List},
}

var tableRows = [][]Field{
	{num(1.5), num(3), str("a"), list("p", "q")},
	{num(-2), num(0), str("b, \"quoted\""), list()},
	{num(0.25), num(-7), str("a"), list("r")},
}

func TestParquetRoundTrip(t *testing.T) {
	dir := t.TempDir()
	writeTable(t, dir, "part-1.parquet", tableCols, tableRows[:2])
	writeTable(t, dir, "part-2.parquet", tableCols, tableRows[2:])
	src := Source{Path: filepath.Join(dir, "part-*.parquet"), Format: FormatParquet}
	got := readAll(t, src, []string{"tags", "c", "x", "n"})
	if len(got) != 3 {
		t.Fatalf("read %d rows, want 3", len(got))
	}
	for i, rec := range got {
		want := []Field{tableRows[i][3], tableRows[i][2], tableRows[i][0], tableRows[i][1]}
		if len(want[0].List) == 0 {
			want[0].List = nil
		}
		for j := range want {
			g := rec.Fields[j]
			if len(g.List) == 0 {
				g.List = nil
			}
			if !reflect.DeepEqual(g, want[j]) {
				t.Errorf("row %d field %d: got %+v, want %+v", i, j, g, want[j])
			}
		}
	}
	if got[2].File != filepath.Join(dir, "part-2.parquet") || got[2].Row != 1 {
		t.Errorf("third row is %s row %d, want part-2 row 1", got[2].File, got[2].Row)
	}
}

func TestCSVRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := writeTable(t, dir, "t.csv", tableCols, tableRows)
	got := readAll(t, Source{Path: path, Format: FormatCSV}, []string{"c", "x", "tags"})
	want := [][]Field{
		{str("a"), str("1.5"), str("p|q")},
		{str("b, \"quoted\""), str("-2"), {}},
		{str("a"), str("0.25"), str("r")},
	}
	for i, rec := range got {
		if !reflect.DeepEqual(rec.Fields, want[i]) {
			t.Errorf("row %d: got %+v, want %+v", i, rec.Fields, want[i])
		}
		if rec.Line != int64(i+2) {
			t.Errorf("row %d: line %d, want %d", i, rec.Line, i+2)
		}
	}
}

func TestCSVWithoutHeaderAndGzip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.csv.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	zw.Write([]byte("1;x\n2;\"y;z\"\n"))
	zw.Close()
	f.Close()
	src := Source{Path: path, Format: FormatCSV, Delimiter: ";", Columns: []string{"a", "b"}}
	got := readAll(t, src, []string{"b", "a"})
	want := [][]Field{{str("x"), str("1")}, {str("y;z"), str("2")}}
	if len(got) != 2 || !reflect.DeepEqual(got[0].Fields, want[0]) || !reflect.DeepEqual(got[1].Fields, want[1]) {
		t.Errorf("got %+v", got)
	}
}

func TestMissingColumn(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"t.csv", "t.parquet"} {
		path := writeTable(t, dir, name, tableCols, tableRows)
		src := Source{Path: path, Format: strings.TrimPrefix(filepath.Ext(name), ".")}
		for _, err := range src.Records([]string{"x", "nope"}) {
			want := `data: ` + path + `: no column "nope" (columns: x, n, c, tags)`
			if err == nil || err.Error() != want {
				t.Errorf("got %v, want %s", err, want)
			}
		}
	}
}

func TestGlobMatchesNothing(t *testing.T) {
	for _, err := range (Source{Path: "/nonexistent/*.csv", Format: FormatCSV}).Records([]string{"a"}) {
		if err == nil || err.Error() != `data: "/nonexistent/*.csv" matches no file` {
			t.Errorf("got %v", err)
		}
	}
}

// writeIDX writes an unsigned-byte IDX file with the given dimensions.
func writeIDX(t *testing.T, path string, gz bool, dims []uint32, values []byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var w interface {
		Write([]byte) (int, error)
	} = f
	if gz {
		zw := gzip.NewWriter(f)
		defer zw.Close()
		w = zw
	}
	w.Write([]byte{0, 0, idxUbyte, byte(len(dims))})
	binary.Write(w, binary.BigEndian, dims)
	w.Write(values)
}

func TestIDX(t *testing.T) {
	dir := t.TempDir()
	// Two files of two 2x3 images each, one gzipped, one raw.
	writeIDX(t, filepath.Join(dir, "a-images-idx3-ubyte.gz"), true, []uint32{2, 2, 3}, []byte{0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255})
	writeIDX(t, filepath.Join(dir, "a-labels-idx1-ubyte.gz"), true, []uint32{2}, []byte{7, 9})
	writeIDX(t, filepath.Join(dir, "b-images-idx3-ubyte"), false, []uint32{2, 2, 3}, make([]byte, 12))
	writeIDX(t, filepath.Join(dir, "b-labels-idx1-ubyte"), false, []uint32{2}, []byte{1, 2})
	src := Source{Path: filepath.Join(dir, "*-images-*"), Labels: filepath.Join(dir, "*-labels-*"), Format: FormatIDX}
	got := readAll(t, src, []string{IDXLabel, IDXImage})
	if len(got) != 4 {
		t.Fatalf("read %d images, want 4", len(got))
	}
	labels := []float64{got[0].Fields[0].Num, got[1].Fields[0].Num, got[2].Fields[0].Num, got[3].Fields[0].Num}
	if !reflect.DeepEqual(labels, []float64{7, 9, 1, 2}) {
		t.Errorf("labels %v", labels)
	}
	im := got[1].Fields[1]
	if !reflect.DeepEqual(im.Vec, []float32{250, 251, 252, 253, 254, 255}) || !reflect.DeepEqual(im.Shape, []int{1, 2, 3}) {
		t.Errorf("second image %v shape %v", im.Vec, im.Shape)
	}
}

func TestIDXErrors(t *testing.T) {
	dir := t.TempDir()
	images := filepath.Join(dir, "i")
	labels := filepath.Join(dir, "l")
	writeIDX(t, images, false, []uint32{3, 2, 2}, make([]byte, 10)) // 2 bytes short
	writeIDX(t, labels, false, []uint32{3}, []byte{0, 1, 2})
	var last error
	n := 0
	for rec, err := range (Source{Path: images, Labels: labels, Format: FormatIDX}).Records([]string{IDXImage}) {
		if rec != nil {
			n++
		}
		last = err
	}
	if n != 2 || last == nil || last.Error() != "data: "+images+": image 3: unexpected EOF" {
		t.Errorf("read %d, error %v", n, last)
	}
	writeIDX(t, labels, false, []uint32{2}, []byte{0, 1})
	for _, err := range (Source{Path: images, Labels: labels, Format: FormatIDX}).Records([]string{IDXImage}) {
		if err == nil || !strings.Contains(err.Error(), "and "+labels+" has [2]: want [N, ...] images and [N] labels") {
			t.Errorf("count mismatch: got %v", err)
		}
	}
	os.WriteFile(labels, []byte("not idx"), 0o644)
	for _, err := range (Source{Path: images, Labels: labels, Format: FormatIDX}).Records([]string{IDXImage}) {
		var re *RowError
		if err == nil || errors.As(err, &re) || !strings.Contains(err.Error(), "not an unsigned-byte IDX file") {
			t.Errorf("bad header: got %v", err)
		}
	}
}

// externalRow is laid out as other writers (pyarrow, Spark) lay out
// tables: optional columns and a three-level LIST column.
type externalRow struct {
	X    *float64 `parquet:"x,optional"`
	C    *string  `parquet:"c,optional"`
	N    int32    `parquet:"n"`
	Tags []string `parquet:"tags,list"`
}

func TestParquetOptionalAndListColumns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ext.parquet")
	x, c := 2.5, "k"
	rows := []externalRow{
		{X: &x, C: &c, N: 7, Tags: []string{"a", "b"}},
		{N: -1},
		{X: &x, Tags: []string{"c"}},
	}
	if err := parquet.WriteFile(path, rows); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, Source{Path: path, Format: FormatParquet}, []string{"tags", "x", "c", "n"})
	want := [][]Field{
		{list("a", "b"), num(2.5), str("k"), num(7)},
		{{Kind: List}, {}, {}, num(-1)},
		{list("c"), num(2.5), {}, num(0)},
	}
	for i := range want {
		g := got[i].Fields
		if len(g[0].List) == 0 {
			g[0].List = nil
		}
		if !reflect.DeepEqual(g, want[i]) {
			t.Errorf("row %d: got %+v, want %+v", i, g, want[i])
		}
	}
}

func TestFormatOf(t *testing.T) {
	for path, want := range map[string]string{
		"a/train-0001.parquet":                  FormatParquet,
		"x.CSV":                                 FormatCSV,
		"x.csv.gz":                              FormatCSV,
		"/usr/share/train-images-idx3-ubyte.gz": FormatIDX,
		"t10k-labels-idx1-ubyte":                FormatIDX,
		"data.idx":                              FormatIDX,
		"data.json":                             "",
		"parquet":                               "",
	} {
		if got := FormatOf(path); got != want {
			t.Errorf("FormatOf(%q) = %q, want %q", path, got, want)
		}
	}
}
