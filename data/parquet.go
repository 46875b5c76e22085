package data

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/parquet-go/parquet-go"
)

// parquetColumns maps the wanted top-level columns of a Parquet schema to
// their leaf column indexes. A list column (a repeated leaf, alone or in
// the three-level LIST layout) becomes a List field.
type parquetColumns struct {
	field    []int  // leaf column index -> wanted field index, or -1
	repeated []bool // per wanted field: the leaf is repeated
}

func newParquetColumns(file string, schema *parquet.Schema, columns []string) (parquetColumns, error) {
	leaves := schema.Columns()
	pc := parquetColumns{field: make([]int, len(leaves)), repeated: make([]bool, len(columns))}
	var top []string
	for i, path := range leaves {
		pc.field[i] = -1
		top = append(top, path[0])
	}
	idx, err := columnIndex(file, top, columns)
	if err != nil {
		return pc, err
	}
	for f, i := range idx {
		for j := i + 1; j < len(top); j++ {
			if top[j] == top[i] {
				return pc, fmt.Errorf("data: %s: column %q is a group of several columns; only flat and list columns are read", file, columns[f])
			}
		}
		leaf, _ := schema.Lookup(leaves[i]...)
		pc.field[i] = f
		pc.repeated[f] = leaf.MaxRepetitionLevel > 0
	}
	return pc, nil
}

// readParquet streams one Parquet file row group by row group.
func readParquet(file string, columns []string, yield func(*Record, error) bool) (bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return false, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("data: %w", err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return false, fmt.Errorf("data: %s: %w", file, err)
	}
	pc, err := newParquetColumns(file, pf.Schema(), columns)
	if err != nil {
		return false, err
	}
	rec := &Record{File: file, Fields: make([]Field, len(columns))}
	buf := make([]parquet.Row, 128)
	for _, rg := range pf.RowGroups() {
		more, err := readRowGroup(rg, pc, rec, buf, yield)
		if err != nil {
			return false, fmt.Errorf("data: %s: row %d: %w", file, rec.Row+1, err)
		}
		if !more {
			return false, nil
		}
	}
	return true, nil
}

func readRowGroup(rg parquet.RowGroup, pc parquetColumns, rec *Record, buf []parquet.Row, yield func(*Record, error) bool) (bool, error) {
	rows := rg.Rows()
	defer rows.Close()
	for {
		n, err := rows.ReadRows(buf)
		for _, row := range buf[:n] {
			rec.Row++
			pc.fill(rec, row)
			if !yield(rec, nil) {
				return false, nil
			}
		}
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
	}
}

// fill sets rec's fields from one Parquet row, copying byte arrays.
func (pc parquetColumns) fill(rec *Record, row parquet.Row) {
	for i := range rec.Fields {
		f := &rec.Fields[i]
		if pc.repeated[i] {
			*f = Field{Kind: List, List: f.List[:0]}
		} else {
			*f = Field{}
		}
	}
	for _, v := range row {
		i := pc.field[v.Column()]
		if i < 0 || v.IsNull() {
			continue
		}
		f := &rec.Fields[i]
		if f.Kind == List {
			f.List = append(f.List, parquetString(v))
			continue
		}
		switch v.Kind() {
		case parquet.ByteArray, parquet.FixedLenByteArray:
			f.Kind, f.Str = Str, string(v.ByteArray())
		default:
			f.Kind, f.Num = Num, parquetNumber(v)
		}
	}
}

func parquetNumber(v parquet.Value) float64 {
	switch v.Kind() {
	case parquet.Boolean:
		if v.Boolean() {
			return 1
		}
		return 0
	case parquet.Int32:
		return float64(v.Int32())
	case parquet.Int64:
		return float64(v.Int64())
	case parquet.Float:
		return float64(v.Float())
	}
	return v.Double()
}

func parquetString(v parquet.Value) string {
	switch v.Kind() {
	case parquet.ByteArray, parquet.FixedLenByteArray:
		return string(v.ByteArray())
	case parquet.Int32:
		return strconv.FormatInt(int64(v.Int32()), 10)
	case parquet.Int64:
		return strconv.FormatInt(v.Int64(), 10)
	}
	return strconv.FormatFloat(parquetNumber(v), 'g', -1, 64)
}
