package data

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/parquet-go/parquet-go"
)

// parquetColumns locates the wanted top-level columns of a Parquet
// schema: the leaf column each is stored in, and whether it is repeated (a
// bare repeated leaf, or the three-level LIST layout), which makes it a
// List field.
type parquetColumns struct {
	leaf     []int // per wanted field: its leaf column index
	repeated []bool
}

func newParquetColumns(file string, schema *parquet.Schema, columns []string) (parquetColumns, error) {
	leaves := schema.Columns()
	top := make([]string, len(leaves))
	for i, path := range leaves {
		top[i] = path[0]
	}
	idx, err := columnIndex(file, top, columns)
	if err != nil {
		return parquetColumns{}, err
	}
	pc := parquetColumns{leaf: idx, repeated: make([]bool, len(columns))}
	for f, i := range idx {
		if i+1 < len(top) && top[i+1] == top[i] {
			return pc, fmt.Errorf("data: %s: column %q is a group of several columns; only flat and list columns are read", file, columns[f])
		}
		leaf, _ := schema.Lookup(leaves[i]...)
		pc.repeated[f] = leaf.MaxRepetitionLevel > 0
	}
	return pc, nil
}

// readParquet streams one Parquet file row group by row group, decoding
// only the wanted columns.
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
	for _, rg := range pf.RowGroups() {
		more, err := pc.readRowGroup(rg, rec, yield)
		if err != nil {
			return false, fmt.Errorf("data: %s: row %d: %w", file, rec.Row+1, err)
		}
		if !more {
			return false, nil
		}
	}
	return true, nil
}

// readRowGroup assembles the rows of one row group from a cursor per
// wanted column.
func (pc parquetColumns) readRowGroup(rg parquet.RowGroup, rec *Record, yield func(*Record, error) bool) (bool, error) {
	chunks := rg.ColumnChunks()
	cursors := make([]columnCursor, len(pc.leaf))
	for i, leaf := range pc.leaf {
		cursors[i] = columnCursor{pages: chunks[leaf].Pages(), buf: make([]parquet.Value, 256)}
	}
	defer func() {
		for i := range cursors {
			cursors[i].close()
		}
	}()
	for range rg.NumRows() {
		rec.Row++
		for i := range cursors {
			if err := cursors[i].next(&rec.Fields[i], pc.repeated[i]); err != nil {
				return false, err
			}
		}
		if !yield(rec, nil) {
			return false, nil
		}
	}
	return true, nil
}

// columnCursor streams the values of one column chunk, page by page.
type columnCursor struct {
	pages  parquet.Pages
	page   parquet.Page
	values parquet.ValueReader
	buf    []parquet.Value
	i, n   int
}

// fill makes buf[i] the next value; it returns io.EOF after the last.
func (c *columnCursor) fill() error {
	for c.i >= c.n {
		if c.values != nil {
			n, err := c.values.ReadValues(c.buf)
			c.i, c.n = 0, n
			if n > 0 {
				return nil
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			// The page is used up, and no value of it is held any more.
			parquet.Release(c.page)
			c.page, c.values = nil, nil
		}
		page, err := c.pages.ReadPage()
		if err != nil {
			return err
		}
		c.page, c.values = page, page.Values()
	}
	return nil
}

// next sets f to the next row's value: all of its values for a repeated
// column, whose row ends where a value with repetition level 0 begins the
// next one. Byte arrays are copied.
func (c *columnCursor) next(f *Field, repeated bool) error {
	if repeated {
		*f = Field{Kind: List, List: f.List[:0]}
	} else {
		*f = Field{}
	}
	for first := true; ; first = false {
		err := c.fill()
		if errors.Is(err, io.EOF) && !first {
			return nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		v := c.buf[c.i]
		if !first && v.RepetitionLevel() == 0 {
			return nil
		}
		c.i++
		switch {
		case v.IsNull():
		case v.Kind() == parquet.ByteArray || v.Kind() == parquet.FixedLenByteArray:
			if repeated {
				f.List = append(f.List, string(v.ByteArray()))
			} else {
				f.Kind, f.Str = Str, string(v.ByteArray())
			}
		case repeated:
			f.List = append(f.List, parquetString(v))
		default:
			f.Kind, f.Num = Num, parquetNumber(v)
		}
		if !repeated {
			return nil
		}
	}
}

func (c *columnCursor) close() {
	if c.page != nil {
		parquet.Release(c.page)
	}
	c.pages.Close()
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
