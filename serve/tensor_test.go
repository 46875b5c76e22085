package serve

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

// samples holds a three-element tensor of every supported datatype.
var samples = map[Datatype]any{
	Bool:   []bool{true, false, true},
	Uint8:  []uint8{0, 7, 255},
	Uint16: []uint16{0, 7, math.MaxUint16},
	Uint32: []uint32{0, 7, math.MaxUint32},
	Uint64: []uint64{0, 7, math.MaxUint64},
	Int8:   []int8{math.MinInt8, -1, math.MaxInt8},
	Int16:  []int16{math.MinInt16, -1, math.MaxInt16},
	Int32:  []int32{math.MinInt32, -1, math.MaxInt32},
	Int64:  []int64{math.MinInt64, -1, math.MaxInt64},
	FP32:   []float32{-1.5, 0, 3.25e10},
	FP64:   []float64{-1.5, 0, 3.25e100},
	Bytes:  [][]byte{[]byte("a"), {}, []byte("héllo")},
}

func TestSamplesCoverEveryDatatype(t *testing.T) {
	for d := range sliceTypes {
		if _, ok := samples[d]; !ok {
			t.Errorf("no sample for %s", d)
		}
	}
}

func TestRawRoundTrip(t *testing.T) {
	for d, data := range samples {
		tensor := Tensor{Name: "t", Datatype: d, Shape: []int64{3}, Data: data}
		if err := tensor.Validate(); err != nil {
			t.Fatal(err)
		}
		raw := tensor.AppendRaw(nil)
		if size := elementSize(d); size > 0 && len(raw) != 3*size {
			t.Errorf("%s: %d raw bytes, want %d", d, len(raw), 3*size)
		}
		got, err := decodeRaw(raw, d, 3)
		if err != nil || !reflect.DeepEqual(got, data) {
			t.Errorf("%s: decoded %v (%v), want %v", d, got, err, data)
		}
		if _, err := decodeRaw(raw[:len(raw)-1], d, 3); !errors.Is(err, errRawSize) {
			t.Errorf("%s: truncated raw data: %v, want errRawSize", d, err)
		}
		if _, err := decodeRaw(raw, d, 4); !errors.Is(err, errRawSize) {
			t.Errorf("%s: raw data short of the shape: %v, want errRawSize", d, err)
		}
	}
}

func TestJSONDataRoundTrip(t *testing.T) {
	for d, data := range samples {
		enc, err := jsonData(Tensor{Name: "t", Datatype: d, Shape: []int64{3}, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		js, err := json.Marshal(enc)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeJSONData(js, d, 3)
		if err != nil || !reflect.DeepEqual(got, data) {
			t.Errorf("%s: %s decoded to %v (%v), want %v", d, js, got, err, data)
		}
	}
}

func TestJSONDataErrors(t *testing.T) {
	for _, tc := range []struct {
		d    Datatype
		data string
		want string
	}{
		{Int8, `[1, 300]`, "element 1"},
		{Uint16, `[-1]`, "element 0"},
		{Int32, `[1.5]`, "element 0"},
		{FP32, `[1e39]`, "element 0"},
		{FP32, `[true]`, "not a number"},
		{Bool, `[1]`, "not a boolean"},
		{Bytes, `[1]`, "not a string"},
		{Bytes, `["a", null]`, "not a string"},
		{FP32, `[1, null]`, "not a number"},
		{FP32, `[{"a": 1}]`, "objects"},
		{FP32, `3`, "not an array"},
		{FP32, `[1] [2]`, "trailing"},
		{FP32, `[[1, 2]`, "EOF"},
	} {
		if _, err := decodeJSONData([]byte(tc.data), tc.d, 1); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: error %v, want one mentioning %q", tc.d, tc.data, err, tc.want)
		}
	}
	if got, err := decodeJSONData([]byte(`[[[1], [2]], [[3], [4]]]`), Int64, 4); err != nil || !reflect.DeepEqual(got, []int64{1, 2, 3, 4}) {
		t.Errorf("nested data decoded to %v (%v)", got, err)
	}
}

func TestNumElements(t *testing.T) {
	for _, tc := range []struct {
		shape []int64
		n     int
		ok    bool
	}{
		{nil, 1, true},
		{[]int64{2, 3}, 6, true},
		{[]int64{0, 1 << 62}, 0, true},
		{[]int64{1 << 21, 1 << 21}, 0, false},
		{[]int64{math.MaxInt64, math.MaxInt64}, 0, false},
		{[]int64{2, -1}, 0, false},
	} {
		n, err := NumElements(tc.shape)
		if (err == nil) != tc.ok || (tc.ok && n != tc.n) {
			t.Errorf("NumElements(%v) = %d, %v", tc.shape, n, err)
		}
	}
}

func TestTensorValidate(t *testing.T) {
	for _, tc := range []struct {
		t    Tensor
		want string
	}{
		{Tensor{Name: "a", Datatype: FP32, Shape: []int64{2}, Data: []float64{1, 2}}, "needs data of type []float32"},
		{Tensor{Name: "a", Datatype: FP32, Shape: []int64{3}, Data: []float32{1, 2}}, "needs 3 elements"},
		{Tensor{Name: "a", Datatype: "FP16", Shape: []int64{1}, Data: []float32{1}}, "unsupported"},
	} {
		if err := tc.t.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.t, err, tc.want)
		}
	}
}

func TestNaNOutputNeedsBinary(t *testing.T) {
	out := Tensor{Name: "y", Datatype: FP32, Shape: []int64{1}, Data: []float32{float32(math.NaN())}}
	res := Result{Model: "m", Version: "1", Outputs: []Tensor{out}}
	if _, _, err := encodeInferResponse(res, "", []selectedOutput{{Tensor: out}}); !errors.Is(err, ErrModelFailed) {
		t.Errorf("NaN output as JSON: %v, want ErrModelFailed", err)
	}
	body, n, err := encodeInferResponse(res, "", []selectedOutput{{Tensor: out, binary: true}})
	if err != nil || n < 0 || len(body)-n != 4 {
		t.Errorf("NaN output as binary: %d-byte body, header %d, %v", len(body), n, err)
	}
}
