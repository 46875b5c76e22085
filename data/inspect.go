package data

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// FileInfo describes one data file, for `mlenv data inspect`.
type FileInfo struct {
	Path    string       `json:"path"`
	Format  string       `json:"format"`
	Rows    int64        `json:"rows"`
	Columns []ColumnInfo `json:"columns"`
	// Sample holds the first rows, one string per column.
	Sample [][]string `json:"sample"`
	// BadRows counts the malformed rows met while counting (CSV only).
	BadRows int64 `json:"bad_rows,omitempty"`
}

// ColumnInfo names a column and its type: the Parquet type, "list<T>"
// for a repeated column, "number" or "string" for CSV columns (from the
// sampled values), "ubyte[d1 x d2 ...]" for IDX data.
type ColumnInfo struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Inspect reads the schema, the row count and the first sample rows of a
// Parquet, CSV or IDX file (format from its name). Counting CSV rows reads
// the whole file.
func Inspect(path string, sample int) (*FileInfo, error) {
	info := &FileInfo{Path: path, Format: FormatOf(path)}
	var err error
	switch info.Format {
	case FormatParquet:
		err = info.parquet(sample)
	case FormatCSV:
		err = info.csv(sample)
	case FormatIDX:
		err = info.idx(sample)
	default:
		err = fmt.Errorf("data: %s: cannot tell the format from the name (want .parquet, .csv[.gz] or an IDX name)", path)
	}
	if err != nil {
		return nil, err
	}
	return info, nil
}

func (info *FileInfo) parquet(sample int) error {
	f, err := os.Open(info.Path)
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return fmt.Errorf("data: %s: %w", info.Path, err)
	}
	info.Rows = pf.NumRows()
	var names []string
	for _, path := range pf.Schema().Columns() {
		leaf, _ := pf.Schema().Lookup(path...)
		typ := leaf.Node.Type().String()
		if leaf.MaxRepetitionLevel > 0 {
			typ = "list<" + typ + ">"
		}
		info.Columns = append(info.Columns, ColumnInfo{Name: strings.Join(path, "."), Type: typ})
		names = append(names, path[0])
	}
	return info.sample(Source{Path: info.Path, Format: FormatParquet}, names, sample, false)
}

func (info *FileInfo) csv(sample int) error {
	_, c, header, err := openCSV(info.Path, Source{})
	if err != nil {
		return err
	}
	c.Close()
	for _, h := range header {
		info.Columns = append(info.Columns, ColumnInfo{Name: h, Type: "number"})
	}
	return info.sample(Source{Path: info.Path, Format: FormatCSV}, header, sample, true)
}

// sample reads the rows of src, keeping the first n as text; when count
// is set it counts the rows, and the malformed ones apart. It marks CSV
// columns with a non-numeric sampled value as strings.
func (info *FileInfo) sample(src Source, columns []string, n int, count bool) error {
	var rows int64
	for rec, err := range src.Records(columns) {
		if err != nil && count && IsRowError(err) {
			info.BadRows++
			continue
		}
		if err != nil {
			return err
		}
		rows++
		if len(info.Sample) < n {
			row := make([]string, len(rec.Fields))
			for i, f := range rec.Fields {
				row[i] = f.display()
				if _, ok, err := f.number(); f.Kind == Str && (err != nil || !ok) {
					info.Columns[i].Type = "string"
				}
			}
			info.Sample = append(info.Sample, row)
		}
		if !count && len(info.Sample) >= n {
			break
		}
	}
	if count {
		info.Rows = rows
	}
	return nil
}

// display formats a field for people.
func (f Field) display() string {
	switch f.Kind {
	case Null:
		return ""
	case List:
		return "[" + strings.Join(f.List, " ") + "]"
	case Vec:
		return fmt.Sprintf("<%d values>", len(f.Vec))
	}
	return f.text()
}

func (info *FileInfo) idx(sample int) error {
	f, err := openIDX(info.Path)
	if err != nil {
		return err
	}
	defer f.rc.Close()
	info.Rows = int64(f.dims[0])
	dims := make([]string, len(f.dims)-1)
	for i, d := range f.dims[1:] {
		dims[i] = strconv.Itoa(d)
	}
	typ := "ubyte"
	if len(dims) > 0 {
		typ += "[" + strings.Join(dims, " x ") + "]"
	}
	info.Columns = []ColumnInfo{{Name: "values", Type: typ}}
	if len(f.dims) != 1 {
		return nil // images are not printable as text
	}
	buf := make([]byte, min(int64(sample), info.Rows))
	if _, err := io.ReadFull(f.rc, buf); err != nil {
		return fmt.Errorf("data: %s: %w", info.Path, truncated(err))
	}
	for _, b := range buf {
		info.Sample = append(info.Sample, []string{strconv.Itoa(int(b))})
	}
	return nil
}
