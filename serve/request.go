package serve

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"
)

// inferRequest is a decoded inference request, independent of the protocol
// binding (HTTP/JSON or gRPC) it arrived on.
type inferRequest struct {
	id      string
	params  map[string]any // values are bool, string, float64, int64 or uint64
	inputs  []Tensor
	outputs []outputRequest // empty means all outputs
}

// outputRequest names one output the caller wants and how.
type outputRequest struct {
	name   string
	binary bool // return the data in binary (raw) form
}

// Request and output parameters that serve interprets; others are ignored.
const (
	paramBinaryDataSize   = "binary_data_size"   // input/output: bytes of binary data
	paramBinaryData       = "binary_data"        // requested output: return in binary
	paramBinaryDataOutput = "binary_data_output" // request: all outputs in binary
	paramTimeout          = "timeout"            // request: deadline in microseconds, as in Triton
)

// intParam returns the non-negative integer parameter key, if present.
func intParam(params map[string]any, key string) (int64, bool, error) {
	v, ok := params[key]
	if !ok {
		return 0, false, nil
	}
	var n int64
	switch x := v.(type) {
	case float64: // from JSON
		if x != math.Trunc(x) || x < 0 {
			return 0, true, fmt.Errorf("parameter %q: %v is not a non-negative integer", key, v)
		}
		n = math.MaxInt64
		if x < math.MaxInt64 {
			n = int64(x)
		}
	case int64:
		n = x
	case uint64:
		if x > math.MaxInt64 {
			return 0, true, fmt.Errorf("parameter %q: %v is too large", key, x)
		}
		n = int64(x)
	default:
		return 0, true, fmt.Errorf("parameter %q: %v (%T) is not an integer", key, v, v)
	}
	if n < 0 {
		return 0, true, fmt.Errorf("parameter %q: %d is negative", key, n)
	}
	return n, true, nil
}

// boolParam returns the boolean parameter key, false when absent.
func boolParam(params map[string]any, key string) (bool, error) {
	v, ok := params[key]
	if !ok {
		return false, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("parameter %q: %v (%T) is not a boolean", key, v, v)
	}
	return b, nil
}

// options applies the request parameters that serve interprets: the
// timeout (to ctx) and binary_data_output, which it returns. Errors wrap
// ErrBadRequest; cancel must be called even then.
func (r *inferRequest) options(ctx context.Context) (_ context.Context, cancel context.CancelFunc, allBinary bool, err error) {
	cancel = func() {}
	if allBinary, err = boolParam(r.params, paramBinaryDataOutput); err != nil {
		return ctx, cancel, false, fmt.Errorf("%w: parameters: %w", ErrBadRequest, err)
	}
	us, ok, err := intParam(r.params, paramTimeout)
	if err != nil {
		return ctx, cancel, false, fmt.Errorf("%w: parameters: %w", ErrBadRequest, err)
	}
	if ok {
		us = min(us, math.MaxInt64/int64(time.Microsecond)) // no overflow into a negative duration
		ctx, cancel = context.WithTimeout(ctx, time.Duration(us)*time.Microsecond)
	}
	return ctx, cancel, allBinary, nil
}

// selectedOutput is one output tensor to put in a response.
type selectedOutput struct {
	Tensor
	binary bool
}

// selectOutputs picks the requested outputs from a result, all of them (in
// signature order) when none were named. allBinary marks every output as
// binary.
func (r *inferRequest) selectOutputs(outputs []Tensor, allBinary bool) ([]selectedOutput, error) {
	if len(r.outputs) == 0 {
		sel := make([]selectedOutput, len(outputs))
		for i, t := range outputs {
			sel[i] = selectedOutput{Tensor: t, binary: allBinary}
		}
		return sel, nil
	}
	sel := make([]selectedOutput, len(r.outputs))
	for i, o := range r.outputs {
		j := slices.IndexFunc(outputs, func(t Tensor) bool { return t.Name == o.name })
		if j < 0 {
			return nil, fmt.Errorf("%w: outputs[%d].name: model has no output %q", ErrBadRequest, i, o.name)
		}
		sel[i] = selectedOutput{Tensor: outputs[j], binary: allBinary || o.binary}
	}
	return sel, nil
}
