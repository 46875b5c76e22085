package serve

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"
)

// jsonScanner reads JSON from buf without reflection, so that the infer
// request's tensor data goes straight from bytes into typed slices. It is
// strict JSON: the grammar of RFC 8259, no NaN or Inf literals.
type jsonScanner struct {
	buf []byte
	pos int
}

// maxJSONDepth bounds the nesting of skipped values, as encoding/json does.
const maxJSONDepth = 10000

func (s *jsonScanner) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: "+format, append([]any{s.pos}, args...)...)
}

// peek skips white space and returns the next byte, 0 at the end.
func (s *jsonScanner) peek() byte {
	for s.pos < len(s.buf) {
		switch c := s.buf[s.pos]; c {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return c
		}
	}
	return 0
}

// describe names the next token for an error message.
func (s *jsonScanner) describe() string {
	if s.peek() == 0 {
		return "unexpected EOF"
	}
	return fmt.Sprintf("%q", s.buf[s.pos])
}

// expect consumes the byte c after white space.
func (s *jsonScanner) expect(c byte) error {
	if s.peek() != c {
		return s.errorf("expected %q, found %s", c, s.describe())
	}
	s.pos++
	return nil
}

// end reports an error unless only white space is left.
func (s *jsonScanner) end() error {
	if s.peek() != 0 {
		return s.errorf("trailing data %s after the value", s.describe())
	}
	return nil
}

// null consumes a null literal if one is next.
func (s *jsonScanner) null() bool {
	if s.peek() == 'n' && s.literal("null") {
		return true
	}
	return false
}

// literal consumes word if buf continues with it.
func (s *jsonScanner) literal(word string) bool {
	if len(s.buf)-s.pos < len(word) || string(s.buf[s.pos:s.pos+len(word)]) != word {
		return false
	}
	s.pos += len(word)
	return true
}

// stringSpan consumes a string and returns its bytes between the quotes,
// still escaped, and whether it needs unescaping (escapes, or bytes that
// are not valid UTF-8).
func (s *jsonScanner) stringSpan() ([]byte, bool, error) {
	if s.peek() != '"' {
		return nil, false, s.errorf("%s is not a string", s.describe())
	}
	start := s.pos + 1
	plain := true
	for i := start; i < len(s.buf); i++ {
		switch c := s.buf[i]; {
		case c == '"':
			s.pos = i + 1
			return s.buf[start:i], !plain, nil
		case c == '\\':
			plain = false
			i++
		case c < 0x20:
			s.pos = i
			return nil, false, s.errorf("control character %q in a string", c)
		case c >= utf8.RuneSelf:
			plain = false
		}
	}
	s.pos = len(s.buf)
	return nil, false, s.errorf("unexpected EOF in a string")
}

// bytes consumes a string and returns its unescaped bytes, a new slice.
func (s *jsonScanner) bytes() ([]byte, error) {
	span, err := s.unescaped()
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(span))
	copy(out, span)
	return out, nil
}

// string consumes a string and returns it unescaped.
func (s *jsonScanner) string() (string, error) {
	span, err := s.unescaped()
	return string(span), err
}

// unescaped consumes a string and returns its unescaped bytes, which may
// alias buf.
func (s *jsonScanner) unescaped() ([]byte, error) {
	start := s.pos
	span, escaped, err := s.stringSpan()
	if err != nil {
		return nil, err
	}
	if !escaped || utf8.Valid(span) && !containsByte(span, '\\') {
		return span, nil
	}
	// Escapes are rare in tensor names and data: encoding/json decodes
	// them, replacing invalid UTF-8 as it always does.
	var str string
	if err := json.Unmarshal(s.buf[start:s.pos], &str); err != nil {
		s.pos = start
		return nil, s.errorf("string: %w", err)
	}
	return []byte(str), nil
}

// datatypes lists the supported datatypes, for datatype's look-up.
var datatypes = slices.Collect(maps.Keys(sliceTypes))

// datatype consumes a string, returning the Datatype constant it names
// without allocating, or the string itself when it names none.
func (s *jsonScanner) datatype() (string, error) {
	span, err := s.unescaped()
	if err != nil {
		return "", err
	}
	for _, d := range datatypes {
		if string(span) == string(d) {
			return string(d), nil
		}
	}
	return string(span), nil
}

func containsByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}

// number consumes a number and returns its text, checked against the JSON
// grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *jsonScanner) number() ([]byte, error) {
	c := s.peek()
	start := s.pos
	if c == '-' {
		s.pos++
	}
	digits := func() int {
		n := 0
		for s.pos < len(s.buf) && s.buf[s.pos] >= '0' && s.buf[s.pos] <= '9' {
			s.pos++
			n++
		}
		return n
	}
	first := s.pos
	if n := digits(); n == 0 || n > 1 && s.buf[first] == '0' {
		s.pos = start
		return nil, s.errorf("%s is not a number", s.describe())
	}
	if s.pos < len(s.buf) && s.buf[s.pos] == '.' {
		s.pos++
		if digits() == 0 {
			return nil, s.errorf("digit expected after the decimal point")
		}
	}
	if s.pos < len(s.buf) && (s.buf[s.pos] == 'e' || s.buf[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.buf) && (s.buf[s.pos] == '+' || s.buf[s.pos] == '-') {
			s.pos++
		}
		if digits() == 0 {
			return nil, s.errorf("digit expected in the exponent")
		}
	}
	return s.buf[start:s.pos], nil
}

// int consumes an integer that fits in bits.
func (s *jsonScanner) int(bits int) (int64, error) {
	num, err := s.number()
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(string(num), 10, bits)
	if err != nil {
		return 0, fmt.Errorf("%s is not a %d-bit integer", num, bits)
	}
	return v, nil
}

// uint consumes a non-negative integer that fits in bits.
func (s *jsonScanner) uint(bits int) (uint64, error) {
	num, err := s.number()
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(string(num), 10, bits)
	if err != nil {
		return 0, fmt.Errorf("%s is not a %d-bit unsigned integer", num, bits)
	}
	return v, nil
}

// float consumes a number and rounds it to bits (32 or 64).
func (s *jsonScanner) float(bits int) (float64, error) {
	num, err := s.number()
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseFloat(string(num), bits)
	if err != nil {
		return 0, fmt.Errorf("%s is out of the %d-bit float range", num, bits)
	}
	return v, nil
}

// bool consumes true or false.
func (s *jsonScanner) bool() (bool, error) {
	switch {
	case s.peek() == 't' && s.literal("true"):
		return true, nil
	case s.peek() == 'f' && s.literal("false"):
		return false, nil
	}
	return false, s.errorf("%s is not a boolean", s.describe())
}

// skip consumes one value of any kind, checking its syntax, and returns
// its text.
func (s *jsonScanner) skip() ([]byte, error) {
	s.peek()
	start := s.pos
	if err := s.skipValue(0); err != nil {
		return nil, err
	}
	return s.buf[start:s.pos], nil
}

func (s *jsonScanner) skipValue(depth int) error {
	if depth > maxJSONDepth {
		return s.errorf("nested more than %d deep", maxJSONDepth)
	}
	switch c := s.peek(); c {
	case '"':
		_, _, err := s.stringSpan()
		return err
	case '{':
		return s.object(func([]byte) error { return s.skipValue(depth + 1) })
	case '[':
		return s.array(func() error { return s.skipValue(depth + 1) })
	case 't', 'f':
		_, err := s.bool()
		return err
	case 'n':
		if s.null() {
			return nil
		}
	}
	_, err := s.number()
	return err
}

// object consumes an object, calling field with each unescaped key (valid
// during the call only) after its colon; field must consume the value.
func (s *jsonScanner) object(field func(key []byte) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	if s.peek() == '}' {
		s.pos++
		return nil
	}
	for {
		key, err := s.unescaped()
		if err != nil {
			return err
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := field(key); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return nil
		default:
			return s.errorf("expected ',' or '}', found %s", s.describe())
		}
	}
}

// array consumes an array, calling elem for each element; elem must
// consume it.
func (s *jsonScanner) array(elem func() error) error {
	if err := s.expect('['); err != nil {
		return err
	}
	if s.peek() == ']' {
		s.pos++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		default:
			return s.errorf("expected ',' or ']', found %s", s.describe())
		}
	}
}

// leaves consumes an array of arbitrarily nested arrays (a row-major
// tensor, flat or nested) and appends its leaves, each read by leaf, to out.
func leaves[T any](s *jsonScanner, out []T, leaf func(*jsonScanner) (T, error)) ([]T, error) {
	if s.peek() != '[' {
		return nil, s.errorf("%s is not an array", s.describe())
	}
	depth := 0
	open := false // just after '[', where ']' may come without a value
	for {
		c := s.peek()
		if depth > 0 && (open || c == ']') {
			if c == ']' {
				s.pos++
				open = false
				if depth--; depth == 0 {
					return out, nil
				}
				continue
			}
		} else if depth > 0 {
			if c != ',' {
				return nil, s.errorf("expected ',' or ']', found %s", s.describe())
			}
			s.pos++
			c = s.peek()
		}
		// A value: a nested array or a leaf.
		switch c {
		case '[':
			if depth++; depth > maxJSONDepth {
				return nil, s.errorf("nested more than %d deep", maxJSONDepth)
			}
			s.pos++
			open = true
			continue
		case '{':
			return nil, errors.New("objects are not tensor data")
		}
		v, err := leaf(s)
		if err != nil {
			return nil, fmt.Errorf("element %d: %w", len(out), err)
		}
		out = append(out, v)
		open = false
	}
}
