package tensor

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
)

// The safetensors format (https://github.com/huggingface/safetensors):
// an 8-byte little-endian header length N, N bytes of JSON mapping each
// tensor name to {"dtype", "shape", "data_offsets": [begin, end]} plus an
// optional "__metadata__" object of strings, then the raw little-endian
// data, offsets relative to the end of the header.

// ErrSafetensors is wrapped by every format error of ReadSafetensors.
var ErrSafetensors = errors.New("invalid safetensors data")

// maxHeader bounds the JSON header so a corrupt length cannot exhaust memory.
const maxHeader = 100 << 20

type stEntry struct {
	Dtype   string `json:"dtype"`
	Shape   []int  `json:"shape"`
	Offsets [2]int `json:"data_offsets"`
}

// WriteSafetensors writes tensors (by name, in sorted name order) and
// optional string metadata to w as float32 ("F32") safetensors.
func WriteSafetensors(w io.Writer, tensors map[string]*Tensor, metadata map[string]string) error {
	names := make([]string, 0, len(tensors))
	for name := range tensors {
		if name == "" || name == "__metadata__" {
			return fmt.Errorf("safetensors: invalid tensor name %q", name)
		}
		names = append(names, name)
	}
	slices.Sort(names)
	header := map[string]any{}
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	off := 0
	for _, name := range names {
		t := tensors[name]
		n := t.Len() * 4
		shape := t.shape
		if shape == nil {
			shape = []int{}
		}
		header[name] = stEntry{Dtype: "F32", Shape: shape, Offsets: [2]int{off, off + n}}
		off += n
	}
	js, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("safetensors: encode header: %w", err)
	}
	// Pad with spaces so the data starts 8-byte aligned, as the reference
	// implementation does.
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(js)))
	if _, err := w.Write(lenBuf[:]); err != nil {
		return fmt.Errorf("safetensors: write: %w", err)
	}
	if _, err := w.Write(js); err != nil {
		return fmt.Errorf("safetensors: write: %w", err)
	}
	buf := make([]byte, 0, 1<<16)
	for _, name := range names {
		for _, v := range tensors[name].Data() {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			if len(buf) == cap(buf) {
				if _, err := w.Write(buf); err != nil {
					return fmt.Errorf("safetensors: write %q: %w", name, err)
				}
				buf = buf[:0]
			}
		}
	}
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("safetensors: write: %w", err)
	}
	return nil
}

// dtypeSize gives the element size of the dtypes ReadSafetensors converts
// to float32.
var dtypeSize = map[string]int{"F32": 4, "F64": 8, "F16": 2, "BF16": 2}

// ReadSafetensors reads a whole safetensors stream. Tensors of dtype F32,
// F64, F16 and BF16 are converted to float32 heap tensors; other dtypes and
// malformed headers or offsets are errors wrapping ErrSafetensors that name
// the tensor at fault.
func ReadSafetensors(r io.Reader) (tensors map[string]*Tensor, metadata map[string]string, err error) {
	var lenBuf [8]byte
	if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
		return nil, nil, fmt.Errorf("safetensors: read header length: %w", err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > maxHeader {
		return nil, nil, fmt.Errorf("safetensors: header length %d exceeds %d: %w", n, maxHeader, ErrSafetensors)
	}
	js := make([]byte, n)
	if _, err := io.ReadFull(r, js); err != nil {
		return nil, nil, fmt.Errorf("safetensors: read header: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(js, &raw); err != nil {
		return nil, nil, fmt.Errorf("safetensors: header JSON: %v: %w", err, ErrSafetensors)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, fmt.Errorf("safetensors: read data: %w", err)
	}
	tensors = map[string]*Tensor{}
	var spans [][3]int // begin, end, and index into names, to check coverage
	var names []string
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &metadata); err != nil {
				return nil, nil, fmt.Errorf("safetensors: __metadata__ must map strings to strings: %w", ErrSafetensors)
			}
			continue
		}
		t, span, err := decodeEntry(name, msg, data)
		if err != nil {
			return nil, nil, err
		}
		tensors[name] = t
		spans = append(spans, [3]int{span[0], span[1], len(names)})
		names = append(names, name)
	}
	// The data buffer must be covered exactly: no holes, no overlaps.
	slices.SortFunc(spans, func(a, b [3]int) int { return cmp.Compare(a[0], b[0]) })
	at := 0
	for _, sp := range spans {
		if sp[0] != at {
			return nil, nil, fmt.Errorf("safetensors: tensor %q starts at byte %d, want %d (holes or overlaps in data_offsets): %w", names[sp[2]], sp[0], at, ErrSafetensors)
		}
		at = sp[1]
	}
	if at != len(data) {
		return nil, nil, fmt.Errorf("safetensors: %d data bytes after the last tensor: %w", len(data)-at, ErrSafetensors)
	}
	return tensors, metadata, nil
}

// decodeEntry decodes one header entry and its data, returning the tensor
// and its byte span.
func decodeEntry(name string, msg json.RawMessage, data []byte) (*Tensor, [2]int, error) {
	var e stEntry
	dec := json.NewDecoder(bytes.NewReader(msg))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return nil, [2]int{}, fmt.Errorf("safetensors: tensor %q: %v: %w", name, err, ErrSafetensors)
	}
	size, ok := dtypeSize[e.Dtype]
	if !ok {
		return nil, [2]int{}, fmt.Errorf("safetensors: tensor %q: unsupported dtype %q (want F32, F64, F16 or BF16): %w", name, e.Dtype, ErrSafetensors)
	}
	count := 1
	for _, d := range e.Shape {
		if d < 0 {
			return nil, [2]int{}, fmt.Errorf("safetensors: tensor %q: negative dimension in shape %v: %w", name, e.Shape, ErrSafetensors)
		}
		count *= d
	}
	b, end := e.Offsets[0], e.Offsets[1]
	if b < 0 || end > len(data) || end-b != count*size {
		return nil, [2]int{}, fmt.Errorf("safetensors: tensor %q: data_offsets [%d, %d] do not hold shape %v of %s within %d data bytes: %w",
			name, b, end, e.Shape, e.Dtype, len(data), ErrSafetensors)
	}
	vals := make([]float32, count)
	raw := data[b:end]
	for i := range vals {
		switch e.Dtype {
		case "F32":
			vals[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		case "F64":
			vals[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])))
		case "BF16":
			vals[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*i:])) << 16)
		case "F16":
			vals[i] = halfToFloat(binary.LittleEndian.Uint16(raw[2*i:]))
		}
	}
	return FromSlice(vals, e.Shape...), e.Offsets, nil
}

// halfToFloat converts an IEEE 754 binary16 value to float32.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := int(h>>10) & 0x1f
	frac := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp == 0:
		// zero or subnormal: frac * 2^-24
		v := float32(frac) * float32(math.Ldexp(1, -24))
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | uint32(exp-15+127)<<23 | frac<<13)
}
