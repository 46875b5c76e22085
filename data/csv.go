package data

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// readCSV streams one CSV file (RFC 4180 quoting; gzip allowed). Every
// value is a Str field, or Null when empty; encoders parse numbers, so that
// a bad number is reported with its row and column.
func readCSV(file string, src Source, columns []string, yield func(*Record, error) bool) (bool, error) {
	r, c, header, err := openCSV(file, src)
	if err != nil {
		return false, err
	}
	defer c.Close()
	idx, err := columnIndex(file, header, columns)
	if err != nil {
		return false, err
	}
	rec := &Record{File: file, Fields: make([]Field, len(columns))}
	for {
		row, err := r.Read()
		if err == io.EOF {
			return true, nil
		}
		rec.Row++
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return false, fmt.Errorf("data: %s: %w", file, err)
			}
			rec.Line = int64(pe.StartLine)
			if !yield(nil, rec.rowError("", pe.Err)) {
				return false, nil
			}
			continue
		}
		line, _ := r.FieldPos(0)
		rec.Line = int64(line)
		for i, j := range idx {
			f := &rec.Fields[i]
			if row[j] == "" {
				*f = Field{}
			} else {
				*f = Field{Kind: Str, Str: row[j]}
			}
		}
		if !yield(rec, nil) {
			return false, nil
		}
	}
}

// openCSV opens file and returns a reader positioned at the first data
// row, the file to close, and the column names: src.Columns, or else the
// header line.
func openCSV(file string, src Source) (*csv.Reader, io.Closer, []string, error) {
	rc, err := openFile(file)
	if err != nil {
		return nil, nil, nil, err
	}
	r := csv.NewReader(rc)
	r.ReuseRecord = true
	if src.Delimiter != "" {
		r.Comma, _ = utf8.DecodeRuneInString(src.Delimiter)
	}
	header := src.Columns
	if len(header) == 0 {
		h, err := r.Read()
		if err != nil {
			rc.Close()
			return nil, nil, nil, fmt.Errorf("data: %s: reading the header: %w", file, err)
		}
		header = append([]string(nil), h...)
	}
	r.FieldsPerRecord = len(header)
	return r, rc, header, nil
}
