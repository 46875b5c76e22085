package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
)

// The JSON messages of the protocol's HTTP binding.
type (
	jsonInferRequest struct {
		ID         string            `json:"id"`
		Parameters map[string]any    `json:"parameters"`
		Inputs     []jsonInput       `json:"inputs"`
		Outputs    []jsonOutputQuery `json:"outputs"`
	}
	jsonInput struct {
		Name       string          `json:"name"`
		Shape      []int64         `json:"shape"`
		Datatype   string          `json:"datatype"`
		Parameters map[string]any  `json:"parameters"`
		Data       json.RawMessage `json:"data"`
	}
	jsonOutputQuery struct {
		Name       string         `json:"name"`
		Parameters map[string]any `json:"parameters"`
	}
	jsonInferResponse struct {
		ModelName    string       `json:"model_name"`
		ModelVersion string       `json:"model_version"`
		ID           string       `json:"id,omitempty"`
		Outputs      []jsonOutput `json:"outputs"`
	}
	jsonOutput struct {
		Name       string         `json:"name"`
		Datatype   Datatype       `json:"datatype"`
		Shape      []int64        `json:"shape"`
		Parameters map[string]any `json:"parameters,omitempty"`
		Data       any            `json:"data,omitempty"`
	}
)

// decodeInferRequest decodes an HTTP inference request body: a JSON header,
// followed, with the binary tensor data extension, by the binary data of
// the inputs that carry a binary_data_size parameter, in input order.
// headerLen is the Inference-Header-Content-Length value, or -1 when the
// whole body is JSON. Errors wrap ErrBadRequest and name the field.
func decodeInferRequest(body []byte, headerLen int64) (*inferRequest, error) {
	header, binary := body, []byte(nil)
	if headerLen >= 0 {
		if headerLen > int64(len(body)) {
			return nil, fmt.Errorf("%w: Inference-Header-Content-Length %d exceeds the body's %d bytes", ErrBadRequest, headerLen, len(body))
		}
		header, binary = body[:headerLen], body[headerLen:]
	}
	var jr jsonInferRequest
	if err := json.Unmarshal(header, &jr); err != nil {
		return nil, fmt.Errorf("%w: request JSON: %w", ErrBadRequest, err)
	}
	req := &inferRequest{id: jr.ID, params: jr.Parameters}
	if len(jr.Inputs) == 0 {
		return nil, fmt.Errorf("%w: inputs: none given", ErrBadRequest)
	}
	for i, in := range jr.Inputs {
		t, rest, err := in.tensor(binary)
		if err != nil {
			return nil, fmt.Errorf("%w: inputs[%d] (%q): %w", ErrBadRequest, i, in.Name, err)
		}
		binary = rest
		req.inputs = append(req.inputs, t)
	}
	if len(binary) > 0 {
		return nil, fmt.Errorf("%w: binary data: %d bytes after the last input are not claimed by any binary_data_size", ErrBadRequest, len(binary))
	}
	for i, o := range jr.Outputs {
		b, err := boolParam(o.Parameters, paramBinaryData)
		if err != nil {
			return nil, fmt.Errorf("%w: outputs[%d].parameters: %w", ErrBadRequest, i, err)
		}
		req.outputs = append(req.outputs, outputRequest{name: o.Name, binary: b})
	}
	return req, nil
}

// tensor converts one JSON input, taking its binary data from the front of
// binary when it has a binary_data_size parameter; it returns the rest.
func (in jsonInput) tensor(binary []byte) (Tensor, []byte, error) {
	if in.Name == "" {
		return Tensor{}, nil, errors.New("name: empty")
	}
	d, err := ParseDatatype(in.Datatype)
	if err != nil {
		return Tensor{}, nil, fmt.Errorf("datatype: %w", err)
	}
	if in.Shape == nil {
		return Tensor{}, nil, errors.New("shape: missing")
	}
	n, err := NumElements(in.Shape)
	if err != nil {
		return Tensor{}, nil, err
	}
	size, isBinary, err := intParam(in.Parameters, paramBinaryDataSize)
	if err != nil {
		return Tensor{}, nil, err
	}
	t := Tensor{Name: in.Name, Datatype: d, Shape: in.Shape}
	if isBinary {
		if in.Data != nil {
			return Tensor{}, nil, errors.New("data: not allowed with binary_data_size")
		}
		if size > int64(len(binary)) {
			return Tensor{}, nil, fmt.Errorf("parameters.binary_data_size: %d bytes, only %d left in the body", size, len(binary))
		}
		if t.Data, err = decodeRaw(binary[:size], d, n); err != nil {
			return Tensor{}, nil, fmt.Errorf("binary data: %w", err)
		}
		return t, binary[size:], nil
	}
	if in.Data == nil {
		return Tensor{}, nil, errors.New("data: missing")
	}
	if t.Data, err = decodeJSONData(in.Data, d); err != nil {
		return Tensor{}, nil, fmt.Errorf("data: %w", err)
	}
	if got := t.Len(); got != n {
		return Tensor{}, nil, fmt.Errorf("data: %d elements, shape %v needs %d", got, in.Shape, n)
	}
	return t, binary, nil
}

// decodeJSONData decodes a JSON data array, flat or nested (row-major), into
// the Go slice of datatype d.
func decodeJSONData(raw json.RawMessage, d Datatype) (any, error) {
	if data, ok := decodeFlat(raw, d); ok {
		return data, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	switch d {
	case Bool:
		return walkJSON(dec, func(tok json.Token) (bool, error) {
			b, ok := tok.(bool)
			if !ok {
				return false, fmt.Errorf("%v is not a boolean", tok)
			}
			return b, nil
		})
	case Bytes:
		return walkJSON(dec, func(tok json.Token) ([]byte, error) {
			s, ok := tok.(string)
			if !ok {
				return nil, fmt.Errorf("%v is not a string", tok)
			}
			return []byte(s), nil
		})
	case Uint8:
		return walkJSON(dec, parseUint[uint8](8))
	case Uint16:
		return walkJSON(dec, parseUint[uint16](16))
	case Uint32:
		return walkJSON(dec, parseUint[uint32](32))
	case Uint64:
		return walkJSON(dec, parseUint[uint64](64))
	case Int8:
		return walkJSON(dec, parseInt[int8](8))
	case Int16:
		return walkJSON(dec, parseInt[int16](16))
	case Int32:
		return walkJSON(dec, parseInt[int32](32))
	case Int64:
		return walkJSON(dec, parseInt[int64](64))
	case FP32:
		return walkJSON(dec, parseFloat[float32](32))
	case FP64:
		return walkJSON(dec, parseFloat[float64](64))
	}
	return nil, fmt.Errorf("unsupported datatype %q", d)
}

// decodeFlat is the fast path of decodeJSONData: a flat array decoded by
// encoding/json straight into the datatype's slice. It reports false for
// anything else (nested arrays, bad or null elements), which the token walker then
// decodes or explains. UINT8 is left to the walker, since encoding/json
// reads []byte as base64; BYTES is decoded as strings.
func decodeFlat(raw json.RawMessage, d Datatype) (any, bool) {
	raw = bytes.TrimSpace(raw)
	// encoding/json turns a null element into a zero value; the walker
	// rejects it.
	if d == Uint8 || len(raw) == 0 || raw[0] != '[' || bytes.Contains(raw, []byte("null")) {
		return nil, false
	}
	if d == Bytes {
		var strs []string
		if err := json.Unmarshal(raw, &strs); err != nil || strs == nil {
			return nil, false
		}
		out := make([][]byte, len(strs))
		for i, s := range strs {
			out[i] = []byte(s)
		}
		return out, true
	}
	ptr := reflect.New(sliceTypes[d])
	if err := json.Unmarshal(raw, ptr.Interface()); err != nil {
		return nil, false
	}
	return ptr.Elem().Interface(), true
}

// walkJSON reads one JSON array of arbitrarily nested arrays and returns
// its leaves in order, each converted by leaf.
func walkJSON[T any](dec *json.Decoder, leaf func(json.Token) (T, error)) ([]T, error) {
	var out []T
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		switch tok {
		case json.Delim('['):
			depth++
		case json.Delim(']'):
			depth--
		case json.Delim('{'), json.Delim('}'):
			return nil, errors.New("objects are not tensor data")
		default:
			if depth == 0 {
				return nil, fmt.Errorf("%v is not an array", tok)
			}
			v, err := leaf(tok)
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", len(out), err)
			}
			out = append(out, v)
		}
		if depth == 0 {
			break
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the array")
	}
	if out == nil {
		out = []T{}
	}
	return out, nil
}

func number(tok json.Token) (string, error) {
	n, ok := tok.(json.Number)
	if !ok {
		return "", fmt.Errorf("%v is not a number", tok)
	}
	return string(n), nil
}

func parseInt[T int8 | int16 | int32 | int64](bits int) func(json.Token) (T, error) {
	return func(tok json.Token) (T, error) {
		s, err := number(tok)
		if err != nil {
			return 0, err
		}
		v, err := strconv.ParseInt(s, 10, bits)
		return T(v), err
	}
}

func parseUint[T uint8 | uint16 | uint32 | uint64](bits int) func(json.Token) (T, error) {
	return func(tok json.Token) (T, error) {
		s, err := number(tok)
		if err != nil {
			return 0, err
		}
		v, err := strconv.ParseUint(s, 10, bits)
		return T(v), err
	}
}

func parseFloat[T float32 | float64](bits int) func(json.Token) (T, error) {
	return func(tok json.Token) (T, error) {
		s, err := number(tok)
		if err != nil {
			return 0, err
		}
		v, err := strconv.ParseFloat(s, bits)
		return T(v), err
	}
}

// encodeInferResponse encodes the response header and, for binary outputs,
// appends their raw data after it. It returns the body and the header's
// length, or -1 when no output is binary.
func encodeInferResponse(res Result, id string, outputs []selectedOutput) ([]byte, int, error) {
	jr := jsonInferResponse{ModelName: res.Model, ModelVersion: res.Version, ID: id}
	var binary []byte
	for _, o := range outputs {
		jo := jsonOutput{Name: o.Name, Datatype: o.Datatype, Shape: o.Shape}
		if o.binary {
			start := len(binary)
			binary = encodeRaw(binary, o.Tensor)
			jo.Parameters = map[string]any{paramBinaryDataSize: len(binary) - start}
		} else {
			data, err := jsonData(o.Tensor)
			if err != nil {
				return nil, 0, err
			}
			jo.Data = data
		}
		jr.Outputs = append(jr.Outputs, jo)
	}
	header, err := json.Marshal(jr)
	if err != nil {
		return nil, 0, fmt.Errorf("encoding response: %w", err)
	}
	if binary == nil {
		return header, -1, nil
	}
	return append(header, binary...), len(header), nil
}

// jsonData returns a tensor's data in the form the JSON encoding needs: BYTES
// as strings, UINT8 as numbers rather than base64. JSON has no NaN or Inf,
// so such values are an error that points to binary output.
func jsonData(t Tensor) (any, error) {
	switch data := t.Data.(type) {
	case []uint8:
		nums := make([]uint16, len(data))
		for i, v := range data {
			nums[i] = uint16(v)
		}
		return nums, nil
	case [][]byte:
		strs := make([]string, len(data))
		for i, v := range data {
			strs[i] = string(v)
		}
		return strs, nil
	case []float32, []float64:
		if err := checkFinite(t); err != nil {
			return nil, fmt.Errorf("%w: output %q holds NaN or Inf, which JSON cannot carry; request it with binary_data", ErrModelFailed, t.Name)
		}
	}
	return t.Data, nil
}
