package tensor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestSafetensorsRoundTrip(t *testing.T) {
	in := map[string]*Tensor{
		"b.weight": FromSlice([]float32{1, -2.5, 3, 4, 5, 6}, 2, 3),
		"a.bias":   FromSlice([]float32{0.125}, 1),
		"scalar":   Scalar(7),
		"view":     Transpose(FromSlice([]float32{1, 2, 3, 4}, 2, 2), 0, 1),
	}
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, in, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if hl := binary.LittleEndian.Uint64(buf.Bytes()); (8+hl)%8 != 0 {
		t.Errorf("data not 8-byte aligned: header length %d", hl)
	}
	out, meta, err := ReadSafetensors(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if meta["format"] != "pt" {
		t.Errorf("metadata %v", meta)
	}
	for name, want := range in {
		got := out[name]
		if got == nil || !slices.Equal(got.Shape(), want.Shape()) || !slices.Equal(got.Data(), want.Data()) {
			t.Errorf("%s: got %v, want %v", name, got, want)
		}
	}
}

// stFile builds a safetensors stream from a header and data bytes.
func stFile(header string, data []byte) *bytes.Reader {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	b.Write(data)
	return bytes.NewReader(b.Bytes())
}

func TestSafetensorsDtypes(t *testing.T) {
	data := []byte{
		0x00, 0x3c, 0x00, 0xc0, // F16: 1, -2
		0x80, 0x3f, // BF16: 1 (0x3f80)
		0, 0, 0, 0, 0, 0, 0xf8, 0x3f, // F64: 1.5
	}
	h := `{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[],"data_offsets":[4,6]},"d":{"dtype":"F64","shape":[1],"data_offsets":[6,14]}}`
	out, _, err := ReadSafetensors(stFile(h, data))
	if err != nil {
		t.Fatal(err)
	}
	if got := out["h"].Data(); !slices.Equal(got, []float32{1, -2}) {
		t.Errorf("F16 %v", got)
	}
	if got := out["b"].Item(); got != 1 {
		t.Errorf("BF16 %v", got)
	}
	if got := out["d"].Item(); got != 1.5 {
		t.Errorf("F64 %v", got)
	}
}

func TestSafetensorsErrors(t *testing.T) {
	tests := []struct {
		name, header string
		data         []byte
		want         string
	}{
		{"dtype", `{"x":{"dtype":"I8","shape":[1],"data_offsets":[0,1]}}`, []byte{1}, `"x": unsupported dtype "I8"`},
		{"offsets", `{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, make([]byte, 8), `"x": data_offsets [0, 4]`},
		{"past-end", `{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 4), `"x": data_offsets [0, 8]`},
		{"json", `{"x":`, nil, "header JSON"},
		{"field", `{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1}}`, make([]byte, 4), `"x"`},
		{"overlap", `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8), `"b" starts at byte 4, want 8`},
		{"hole", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8), `"a" starts at byte 4, want 0`},
		{"trailing", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 8), "4 data bytes after"},
	}
	for _, tt := range tests {
		_, _, err := ReadSafetensors(stFile(tt.header, tt.data))
		if err == nil || !errors.Is(err, ErrSafetensors) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want ErrSafetensors mentioning %q", tt.name, err, tt.want)
		}
	}
	if _, _, err := ReadSafetensors(bytes.NewReader([]byte{1, 2})); err == nil {
		t.Error("truncated length accepted")
	}
}
