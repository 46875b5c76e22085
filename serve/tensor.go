package serve

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
)

// Datatype is a tensor element type, named as in the Open Inference
// Protocol's datatype table ("FP32", "INT64", ...).
type Datatype string

// The datatypes serve supports, with the Go slice type that holds their
// elements in Tensor.Data. FP16 and BF16 are not supported.
const (
	Bool   Datatype = "BOOL"   // []bool
	Uint8  Datatype = "UINT8"  // []uint8
	Uint16 Datatype = "UINT16" // []uint16
	Uint32 Datatype = "UINT32" // []uint32
	Uint64 Datatype = "UINT64" // []uint64
	Int8   Datatype = "INT8"   // []int8
	Int16  Datatype = "INT16"  // []int16
	Int32  Datatype = "INT32"  // []int32
	Int64  Datatype = "INT64"  // []int64
	FP32   Datatype = "FP32"   // []float32
	FP64   Datatype = "FP64"   // []float64
	Bytes  Datatype = "BYTES"  // [][]byte, one byte string per element
)

// sliceTypes maps each supported datatype to the type of Tensor.Data.
var sliceTypes = map[Datatype]reflect.Type{
	Bool:   reflect.TypeFor[[]bool](),
	Uint8:  reflect.TypeFor[[]uint8](),
	Uint16: reflect.TypeFor[[]uint16](),
	Uint32: reflect.TypeFor[[]uint32](),
	Uint64: reflect.TypeFor[[]uint64](),
	Int8:   reflect.TypeFor[[]int8](),
	Int16:  reflect.TypeFor[[]int16](),
	Int32:  reflect.TypeFor[[]int32](),
	Int64:  reflect.TypeFor[[]int64](),
	FP32:   reflect.TypeFor[[]float32](),
	FP64:   reflect.TypeFor[[]float64](),
	Bytes:  reflect.TypeFor[[][]byte](),
}

// Valid reports whether serve supports the datatype.
func (d Datatype) Valid() bool {
	switch d { // a switch, not a sliceTypes look-up: requests check it per input
	case Bool, Uint8, Uint16, Uint32, Uint64, Int8, Int16, Int32, Int64, FP32, FP64, Bytes:
		return true
	}
	return false
}

// ParseDatatype returns the datatype named s, or an error naming s when serve
// does not support it.
func ParseDatatype(s string) (Datatype, error) {
	d := Datatype(s)
	if !d.Valid() {
		return "", fmt.Errorf("unsupported datatype %q", s)
	}
	return d, nil
}

// Tensor is a named dense tensor in row-major order. Data holds the elements
// as the Go slice listed for Datatype (for example []float32 for FP32) and
// has exactly NumElements(Shape) elements. A Tensor does not own Data
// exclusively: the server may pass slices of a request's buffers to a model,
// so models must not retain or modify their inputs after Infer returns.
type Tensor struct {
	Name     string
	Datatype Datatype
	Shape    []int64
	Data     any
}

// Len returns the number of elements in t.Data, or -1 when Data is not a
// slice.
func (t Tensor) Len() int {
	if n, _, ok := sliceLen(t.Data); ok {
		return n
	}
	v := reflect.ValueOf(t.Data)
	if v.Kind() != reflect.Slice {
		return -1
	}
	return v.Len()
}

// sliceLen returns len(data) and the datatype whose Go slice type data has,
// without reflection (requests carry dozens of small tensors); ok is false
// when data is not the slice of a supported datatype.
func sliceLen(data any) (n int, d Datatype, ok bool) {
	switch s := data.(type) {
	case []bool:
		return len(s), Bool, true
	case []uint8:
		return len(s), Uint8, true
	case []uint16:
		return len(s), Uint16, true
	case []uint32:
		return len(s), Uint32, true
	case []uint64:
		return len(s), Uint64, true
	case []int8:
		return len(s), Int8, true
	case []int16:
		return len(s), Int16, true
	case []int32:
		return len(s), Int32, true
	case []int64:
		return len(s), Int64, true
	case []float32:
		return len(s), FP32, true
	case []float64:
		return len(s), FP64, true
	case [][]byte:
		return len(s), Bytes, true
	}
	return -1, "", false
}

// Validate checks that t has a supported datatype, that Data has the Go type
// of that datatype and that the element count matches the shape.
func (t Tensor) Validate() error {
	if !t.Datatype.Valid() {
		return fmt.Errorf("tensor %q: unsupported datatype %q", t.Name, t.Datatype)
	}
	if _, d, ok := sliceLen(t.Data); !ok || d != t.Datatype {
		return fmt.Errorf("tensor %q: datatype %s needs data of type %v, got %T", t.Name, t.Datatype, sliceTypes[t.Datatype], t.Data)
	}
	n, err := NumElements(t.Shape)
	if err != nil {
		return fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	if got := t.Len(); got != n {
		return fmt.Errorf("tensor %q: shape %v needs %d elements, data has %d", t.Name, t.Shape, n, got)
	}
	return nil
}

// maxElements bounds the element count of one tensor so that products of
// request-supplied dimensions cannot overflow.
const maxElements = 1 << 40

// NumElements returns the product of shape's dimensions (1 for a scalar).
// It fails on a negative dimension or a product above 2^40.
func NumElements(shape []int64) (int, error) {
	n := int64(1)
	for i, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %v: dimension %d is negative", shape, i)
		}
		if d != 0 && n > maxElements/d {
			return 0, fmt.Errorf("shape %v: more than %d elements", shape, int64(maxElements))
		}
		n *= d
	}
	return int(n), nil
}

// checkFinite returns an error naming the first NaN or infinite element of a
// floating-point tensor; other datatypes always pass.
func checkFinite(t Tensor) error {
	switch data := t.Data.(type) {
	case []float32:
		for i, v := range data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("input %q: element %d is %v, which the model does not allow", t.Name, i, v)
			}
		}
	case []float64:
		for i, v := range data {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("input %q: element %d is %v, which the model does not allow", t.Name, i, v)
			}
		}
	}
	return nil
}

// elementSize returns the byte size of one element of a fixed-size datatype,
// or 0 for BYTES.
func elementSize(d Datatype) int {
	if d == Bytes {
		return 0
	}
	return int(sliceTypes[d].Elem().Size())
}

// AppendRaw appends t's data to buf in the protocol's raw binary layout, the
// one of the HTTP binary tensor data extension and of gRPC's
// raw_input_contents and raw_output_contents: little-endian row-major
// elements, BOOL as one byte, and each BYTES element as a 4-byte
// little-endian length followed by its bytes. It panics when t.Data is not
// the Go slice of a supported datatype (see Validate).
func (t Tensor) AppendRaw(buf []byte) []byte {
	if strs, ok := t.Data.([][]byte); ok {
		for _, s := range strs {
			buf = binary.LittleEndian.AppendUint32(buf, uint32(len(s)))
			buf = append(buf, s...)
		}
		return buf
	}
	buf, err := binary.Append(buf, binary.LittleEndian, t.Data)
	if err != nil {
		panic(fmt.Sprintf("serve: encoding tensor %q: %v", t.Name, err))
	}
	return buf
}

// errRawSize reports raw tensor data whose size does not fit its shape.
var errRawSize = errors.New("raw data size does not match shape and datatype")

// decodeRaw decodes raw binary data (the layout of AppendRaw) into the Go
// slice of datatype d. It checks that raw holds exactly n elements.
func decodeRaw(raw []byte, d Datatype, n int) (any, error) {
	if d == Bytes {
		strs := make([][]byte, 0, min(n, len(raw)/4))
		for len(raw) > 0 {
			if len(raw) < 4 {
				return nil, fmt.Errorf("%w: truncated BYTES length prefix", errRawSize)
			}
			l := binary.LittleEndian.Uint32(raw)
			raw = raw[4:]
			if uint64(l) > uint64(len(raw)) {
				return nil, fmt.Errorf("%w: BYTES element %d claims %d bytes, %d left", errRawSize, len(strs), l, len(raw))
			}
			strs = append(strs, raw[:l:l])
			raw = raw[l:]
		}
		if len(strs) != n {
			return nil, fmt.Errorf("%w: %d BYTES elements, shape needs %d", errRawSize, len(strs), n)
		}
		return strs, nil
	}
	size := elementSize(d)
	if len(raw) != n*size {
		return nil, fmt.Errorf("%w: %d bytes, shape needs %d elements of %d bytes", errRawSize, len(raw), n, size)
	}
	data := reflect.MakeSlice(sliceTypes[d], n, n).Interface()
	if _, err := binary.Decode(raw, binary.LittleEndian, data); err != nil {
		return nil, fmt.Errorf("decoding %s data: %w", d, err)
	}
	return data, nil
}
