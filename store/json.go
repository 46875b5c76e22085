package store

import (
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
	s := string(b)
	if len(s) >= 2 && s[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	switch s {
	case "NaN":
		*f = Float(math.NaN())
		return nil
	case "Infinity", "inf", "Inf":
		*f = Float(math.Inf(1))
		return nil
	case "-Infinity", "-inf", "-Inf":
		*f = Float(math.Inf(-1))
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("invalid number %s", b)
	}
	*f = Float(v)
	return nil
}

// Int is an int64 whose JSON form is a number, and which also accepts a
// string holding a number, as protobuf's JSON mapping writes 64-bit
// integers.
type Int int64

// UnmarshalJSON reads a JSON number or a string holding an integer.
func (n *Int) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(s) >= 2 && s[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	if s == "null" {
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != math.Trunc(f) {
			return fmt.Errorf("invalid integer %s", b)
		}
		v = int64(f)
	}
	*n = Int(v)
	return nil
}

// UnmarshalJSON reads a metric whose timestamp and step may be numbers or
// strings holding numbers.
func (m *Metric) UnmarshalJSON(b []byte) error {
	var w struct {
		Key       string `json:"key"`
		Value     Float  `json:"value"`
		Timestamp Int    `json:"timestamp"`
		Step      Int    `json:"step"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*m = Metric{Key: w.Key, Value: w.Value, Timestamp: int64(w.Timestamp), Step: int64(w.Step)}
	return nil
}
