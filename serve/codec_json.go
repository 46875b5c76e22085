package serve

import (
	"encoding/json"
	"errors"
	"fmt"
)

// The JSON messages of the protocol's HTTP binding that serve encodes; the
// request is decoded by hand (jsonscan.go).
type (
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

// jsonInput is one input of a JSON infer request, its data still JSON text.
type jsonInput struct {
	name     string
	shape    []int64 // nil when absent
	datatype string
	params   map[string]any
	data     []byte // nil when absent or already decoded
	decoded  any    // the data, when the datatype came before it
}

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
	req, inputs, err := parseInferHeader(header)
	if err != nil {
		return nil, fmt.Errorf("%w: request JSON: %w", ErrBadRequest, err)
	}
	if len(inputs) == 0 {
		return nil, fmt.Errorf("%w: inputs: none given", ErrBadRequest)
	}
	req.inputs = make([]Tensor, len(inputs))
	for i, in := range inputs {
		t, rest, err := in.tensor(binary)
		if err != nil {
			return nil, fmt.Errorf("%w: inputs[%d] (%q): %w", ErrBadRequest, i, in.name, err)
		}
		binary = rest
		req.inputs[i] = t
	}
	if len(binary) > 0 {
		return nil, fmt.Errorf("%w: binary data: %d bytes after the last input are not claimed by any binary_data_size", ErrBadRequest, len(binary))
	}
	return req, nil
}

// parseInferHeader parses the JSON header of an infer request. Unknown
// keys are checked for syntax and ignored; null stands for an absent value.
func parseInferHeader(header []byte) (*inferRequest, []jsonInput, error) {
	s := &jsonScanner{buf: header}
	req := &inferRequest{}
	var inputs []jsonInput
	err := s.object(func(key []byte) error {
		if s.null() {
			return nil
		}
		switch string(key) {
		case "id":
			id, err := s.string()
			req.id = id
			return wrapField("id", err)
		case "parameters":
			params, err := s.params()
			req.params = params
			return wrapField("parameters", err)
		case "inputs":
			inputs = inputs[:0]
			return s.array(func() error {
				in, err := s.input()
				if err != nil {
					return fmt.Errorf("inputs[%d]: %w", len(inputs), err)
				}
				inputs = append(inputs, in)
				return nil
			})
		case "outputs":
			req.outputs = req.outputs[:0]
			return s.array(func() error {
				out, err := s.output()
				if err != nil {
					return fmt.Errorf("outputs[%d]: %w", len(req.outputs), err)
				}
				req.outputs = append(req.outputs, out)
				return nil
			})
		}
		_, err := s.skip()
		return wrapField(key, err)
	})
	if err == nil {
		err = s.end()
	}
	return req, inputs, err
}

// wrapField prefixes a non-nil err with the field it is about.
func wrapField[F string | []byte](field F, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", field, err)
}

// fields consumes an object: read is called with each key whose value is
// not null and reports whether it consumed the value; the values of other
// keys are checked and skipped. Errors name the key.
func (s *jsonScanner) fields(read func(key []byte) (bool, error)) error {
	return s.object(func(key []byte) error {
		if s.null() {
			return nil
		}
		ok, err := read(key)
		if err == nil && !ok {
			_, err = s.skip()
		}
		return wrapField(key, err)
	})
}

// input parses one element of the request's inputs.
func (s *jsonScanner) input() (jsonInput, error) {
	var in jsonInput
	err := s.fields(func(key []byte) (bool, error) {
		var err error
		switch string(key) {
		case "name":
			in.name, err = s.string()
		case "datatype":
			in.datatype, err = s.datatype()
		case "shape":
			in.shape = make([]int64, 0, 2)
			err = s.array(func() error {
				d, err := s.int(64)
				in.shape = append(in.shape, d)
				return err
			})
		case "parameters":
			in.params, err = s.params()
		case "data":
			if d := Datatype(in.datatype); d.Valid() {
				n, _ := NumElements(in.shape)
				in.decoded, err = decodeData(s, d, n)
			} else {
				in.data, err = s.skip()
			}
		default:
			return false, nil
		}
		return true, err
	})
	return in, err
}

// output parses one element of the request's outputs.
func (s *jsonScanner) output() (outputRequest, error) {
	var out outputRequest
	var params map[string]any
	err := s.fields(func(key []byte) (bool, error) {
		var err error
		switch string(key) {
		case "name":
			out.name, err = s.string()
		case "parameters":
			params, err = s.params()
		default:
			return false, nil
		}
		return true, err
	})
	if err != nil {
		return out, err
	}
	out.binary, err = boolParam(params, paramBinaryData)
	return out, wrapField("parameters", err)
}

// params parses a parameters object into the values encoding/json would
// give: bool, string or float64. A null value leaves its key out, as null
// does elsewhere in the request; an object or array value is kept as its
// JSON text, which no parameter that serve reads accepts. Inputs with
// binary data carry one object each, so it is scanned, not unmarshalled.
func (s *jsonScanner) params() (map[string]any, error) {
	if s.peek() != '{' {
		return nil, s.errorf("%s is not an object", s.describe())
	}
	params := map[string]any{}
	err := s.fields(func(key []byte) (bool, error) {
		var v any
		var err error
		switch s.peek() {
		case '"':
			v, err = s.string()
		case 't', 'f':
			v, err = s.bool()
		case '{', '[':
			var raw []byte
			raw, err = s.skip()
			v = json.RawMessage(raw)
		default:
			v, err = s.float(64)
		}
		params[string(key)] = v
		return true, err
	})
	if err != nil {
		return nil, err
	}
	return params, nil
}

// tensor converts one JSON input, taking its binary data from the front of
// binary when it has a binary_data_size parameter; it returns the rest.
func (in jsonInput) tensor(binary []byte) (Tensor, []byte, error) {
	if in.name == "" {
		return Tensor{}, nil, errors.New("name: empty")
	}
	d, err := ParseDatatype(in.datatype)
	if err != nil {
		return Tensor{}, nil, fmt.Errorf("datatype: %w", err)
	}
	if in.shape == nil {
		return Tensor{}, nil, errors.New("shape: missing")
	}
	n, err := NumElements(in.shape)
	if err != nil {
		return Tensor{}, nil, err
	}
	size, isBinary, err := intParam(in.params, paramBinaryDataSize)
	if err != nil {
		return Tensor{}, nil, err
	}
	t := Tensor{Name: in.name, Datatype: d, Shape: in.shape}
	if isBinary {
		if in.data != nil || in.decoded != nil {
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
	switch {
	case in.decoded != nil:
		t.Data = in.decoded
	case in.data != nil:
		if t.Data, err = decodeJSONData(in.data, d, n); err != nil {
			return Tensor{}, nil, fmt.Errorf("data: %w", err)
		}
	default:
		return Tensor{}, nil, errors.New("data: missing")
	}
	if got := t.Len(); got != n {
		return Tensor{}, nil, fmt.Errorf("data: %d elements, shape %v needs %d", got, in.shape, n)
	}
	return t, binary, nil
}

// decodeJSONData decodes a JSON data array, flat or nested (row-major), into
// the Go slice of datatype d; n is the number of elements expected, a
// capacity hint only.
func decodeJSONData(raw []byte, d Datatype, n int) (any, error) {
	s := &jsonScanner{buf: raw}
	data, err := decodeData(s, d, n)
	if err == nil {
		err = s.end()
	}
	if err != nil {
		return nil, err
	}
	return data, nil
}

// decodeData consumes a data array of datatype d with about n elements.
func decodeData(s *jsonScanner, d Datatype, n int) (any, error) {
	n = min(n, (len(s.buf)-s.pos)/2+1) // a leaf and its comma take two bytes at least
	switch d {
	case Bool:
		return leaves(s, make([]bool, 0, n), (*jsonScanner).bool)
	case Bytes:
		return leaves(s, make([][]byte, 0, n), (*jsonScanner).bytes)
	case Uint8:
		return leaves(s, make([]uint8, 0, n), uint8Leaf)
	case Uint16:
		return leaves(s, make([]uint16, 0, n), uint16Leaf)
	case Uint32:
		return leaves(s, make([]uint32, 0, n), uint32Leaf)
	case Uint64:
		return leaves(s, make([]uint64, 0, n), uint64Leaf)
	case Int8:
		return leaves(s, make([]int8, 0, n), int8Leaf)
	case Int16:
		return leaves(s, make([]int16, 0, n), int16Leaf)
	case Int32:
		return leaves(s, make([]int32, 0, n), int32Leaf)
	case Int64:
		return leaves(s, make([]int64, 0, n), int64Leaf)
	case FP32:
		return leaves(s, make([]float32, 0, n), fp32Leaf)
	case FP64:
		return leaves(s, make([]float64, 0, n), fp64Leaf)
	}
	return nil, fmt.Errorf("unsupported datatype %q", d)
}

// The element readers of the numeric datatypes.
var (
	uint8Leaf  = uintLeaf[uint8](8)
	uint16Leaf = uintLeaf[uint16](16)
	uint32Leaf = uintLeaf[uint32](32)
	uint64Leaf = uintLeaf[uint64](64)
	int8Leaf   = intLeaf[int8](8)
	int16Leaf  = intLeaf[int16](16)
	int32Leaf  = intLeaf[int32](32)
	int64Leaf  = intLeaf[int64](64)
	fp32Leaf   = floatLeaf[float32](32)
	fp64Leaf   = floatLeaf[float64](64)
)

func intLeaf[T int8 | int16 | int32 | int64](bits int) func(*jsonScanner) (T, error) {
	return func(s *jsonScanner) (T, error) {
		v, err := s.int(bits)
		return T(v), err
	}
}

func uintLeaf[T uint8 | uint16 | uint32 | uint64](bits int) func(*jsonScanner) (T, error) {
	return func(s *jsonScanner) (T, error) {
		v, err := s.uint(bits)
		return T(v), err
	}
}

func floatLeaf[T float32 | float64](bits int) func(*jsonScanner) (T, error) {
	return func(s *jsonScanner) (T, error) {
		v, err := s.float(bits)
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
			binary = o.Tensor.AppendRaw(binary)
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
