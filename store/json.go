package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Float is a float64 whose JSON form follows protobuf's JSON mapping, which
// MLflow clients use: NaN and infinities travel as the strings "NaN",
// "Infinity" and "-Infinity", and a number may also arrive as a string.
type Float float64

// MarshalJSON writes f as a JSON number, or as a string for NaN and ±Inf.
func (f Float) MarshalJSON() ([]byte, error) {
	return f.AppendJSON(nil), nil
}

// AppendJSON appends the JSON form of f to dst.
func (f Float) AppendJSON(dst []byte) []byte {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return append(dst, `"NaN"`...)
	case math.IsInf(v, 1):
		return append(dst, `"Infinity"`...)
	case math.IsInf(v, -1):
		return append(dst, `"-Infinity"`...)
	}
	return strconv.AppendFloat(dst, v, 'g', -1, 64)
}

// UnmarshalJSON reads a JSON number or a string holding a number, "NaN",
// "Infinity" or "-Infinity".
func (f *Float) UnmarshalJSON(b []byte) error {
	s, err := unquote(b)
	if err != nil {
		return err
	}
	*f, err = parseFloat(s)
	return err
}

// parseFloat parses the text of a Float.
func parseFloat(s string) (Float, error) {
	switch s {
	case "NaN":
		return Float(math.NaN()), nil
	case "Infinity", "inf", "Inf":
		return Float(math.Inf(1)), nil
	case "-Infinity", "-inf", "-Inf":
		return Float(math.Inf(-1)), nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid number %q", s)
	}
	return Float(v), nil
}

// unquote returns the text of a JSON number, or the contents of a JSON
// string.
func unquote(b []byte) (string, error) {
	s := string(b)
	if len(s) >= 2 && s[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return "", err
		}
	}
	return s, nil
}

// Int is an int64 whose JSON form is a number, and which also accepts a
// string holding a number, as protobuf's JSON mapping writes 64-bit
// integers.
type Int int64

// UnmarshalJSON reads a JSON number or a string holding an integer.
func (n *Int) UnmarshalJSON(b []byte) error {
	s, err := unquote(b)
	if err != nil || s == "null" {
		return err
	}
	v, err := parseInt(s)
	*n = Int(v)
	return err
}

// parseInt parses the text of an Int; an integral float such as 1e3 is
// accepted too.
func parseInt(s string) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err == nil {
		return v, nil
	}
	f, ferr := strconv.ParseFloat(s, 64)
	if ferr != nil || f != math.Trunc(f) {
		return 0, fmt.Errorf("invalid integer %q", s)
	}
	return int64(f), nil
}

// UnmarshalJSON reads a metric whose timestamp and step may be numbers or
// strings holding numbers. Unknown fields are ignored. Metrics arrive by
// the thousand in log-batch requests, so flat objects without escapes are
// parsed directly; anything else goes through encoding/json.
func (m *Metric) UnmarshalJSON(b []byte) error {
	if fast, ok := parseFlatMetric(b); ok {
		*m = fast
		return nil
	}
	var w struct {
		Key           string `json:"key"`
		Value         Float  `json:"value"`
		Timestamp     Int    `json:"timestamp"`
		Step          Int    `json:"step"`
		ModelID       string `json:"model_id"`
		DatasetName   string `json:"dataset_name"`
		DatasetDigest string `json:"dataset_digest"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*m = Metric{Key: w.Key, Value: w.Value, Timestamp: int64(w.Timestamp), Step: int64(w.Step),
		ModelID: w.ModelID, DatasetName: w.DatasetName, DatasetDigest: w.DatasetDigest}
	return nil
}

// parseFlatMetric parses a metric object whose values are all strings
// without escapes, numbers, booleans or null. encoding/json has checked
// that b is valid JSON before calling UnmarshalJSON. ok is false for
// anything else, which the caller then decodes the slow way.
func parseFlatMetric(b []byte) (m Metric, ok bool) {
	if bytes.IndexByte(b, '\\') >= 0 {
		return m, false
	}
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return m, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return m, true
	}
	for i < len(b) {
		if b[i] != '"' {
			return m, false
		}
		end := bytes.IndexByte(b[i+1:], '"')
		name := string(b[i+1 : i+1+end])
		i = skipSpace(b, i+2+end)
		if i >= len(b) || b[i] != ':' {
			return m, false
		}
		i = skipSpace(b, i+1)
		if i >= len(b) || b[i] == '{' || b[i] == '[' {
			return m, false
		}
		var tok string
		quoted := b[i] == '"'
		if quoted {
			end := bytes.IndexByte(b[i+1:], '"')
			tok, i = string(b[i+1:i+1+end]), i+2+end
		} else {
			j := i
			for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
				j++
			}
			tok, i = string(b[i:j]), j
		}
		var err error
		switch name {
		case "key", "model_id", "dataset_name", "dataset_digest":
			if quoted {
				*metricText(&m, name) = tok
			} else if tok != "null" {
				return m, false
			}
		case "value":
			m.Value, err = parseFloat(tok)
		case "timestamp":
			m.Timestamp, err = parseInt(tok)
		case "step":
			m.Step, err = parseInt(tok)
		}
		if err != nil {
			return m, false
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return m, false
		}
		if b[i] == '}' {
			return m, true
		}
		if b[i] != ',' {
			return m, false
		}
		i = skipSpace(b, i+1)
	}
	return m, false
}

// metricText returns the string field of m that the JSON name names.
func metricText(m *Metric, name string) *string {
	switch name {
	case "model_id":
		return &m.ModelID
	case "dataset_name":
		return &m.DatasetName
	case "dataset_digest":
		return &m.DatasetDigest
	}
	return &m.Key
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
