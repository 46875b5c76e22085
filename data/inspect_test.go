package data

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestInspect(t *testing.T) {
	dir := t.TempDir()
	pq := writeTable(t, dir, "t.parquet", tableCols, tableRows)
	info, err := Inspect(pq, 2)
	if err != nil {
		t.Fatal(err)
	}
	wantCols := []ColumnInfo{{"x", "DOUBLE"}, {"n", "INT(64,true)"}, {"c", "string"}, {"tags", "list<STRING>"}}
	if info.Format != FormatParquet || info.Rows != 3 || !reflect.DeepEqual(info.Columns, wantCols) {
		t.Errorf("parquet info %+v", info)
	}
	if want := [][]string{{"1.5", "3", "a", "[p q]"}, {"-2", "0", `b, "quoted"`, "[]"}}; !reflect.DeepEqual(info.Sample, want) {
		t.Errorf("parquet sample %q", info.Sample)
	}

	csvPath := filepath.Join(dir, "bad.csv")
	os.WriteFile(csvPath, []byte("a,b\n1,x\n2\n3,y\n"), 0o644)
	info, err = Inspect(csvPath, 5)
	if err != nil {
		t.Fatal(err)
	}
	if info.Rows != 2 || info.BadRows != 1 || !reflect.DeepEqual(info.Columns, []ColumnInfo{{"a", "number"}, {"b", "string"}}) {
		t.Errorf("csv info %+v", info)
	}

	idx := filepath.Join(dir, "labels-idx1-ubyte")
	writeIDX(t, idx, true, []uint32{4}, []byte{3, 1, 4, 1})
	info, err = Inspect(idx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if info.Rows != 4 || info.Columns[0].Type != "ubyte" || !reflect.DeepEqual(info.Sample, [][]string{{"3"}, {"1"}, {"4"}}) {
		t.Errorf("idx info %+v", info)
	}
}

func TestBadNormalize(t *testing.T) {
	_, err := newTransforms([]Feature{{Name: "c", Type: Categorical, HashBuckets: 4, Normalize: NormScale}}, Label{Name: "y", Type: Binary})
	if err == nil || err.Error() != `data: feature "c": normalize "scale" is not allowed for a categorical feature` {
		t.Errorf("got %v", err)
	}
}
