package modelfile

import (
	"fmt"

	"github.com/mlenv/mlenv/data"
	"github.com/mlenv/mlenv/models"
	"github.com/mlenv/mlenv/nn"
	"github.com/mlenv/mlenv/tensor"
)

// Predict encodes raw input rows with the fitted transforms (see
// data.Transforms.Apply for the accepted value types) and returns one
// prediction per row, Meta.Signature.Output.Width values each. A bad row
// is an error naming its index and column; a panic in the network is
// returned as an error.
func (m *Model) Predict(rows []map[string]any) ([][]float32, error) {
	b, err := Encode(m.Meta.Transforms, rows)
	if err != nil {
		return nil, err
	}
	return m.PredictBatch(b)
}

// Encode applies t to raw rows and lays the examples out as one batch (it
// is t.ApplyBatch, with errors naming this package).
func Encode(t *data.Transforms, rows []map[string]any) (*data.Batch, error) {
	b, err := t.ApplyBatch(rows)
	if err != nil {
		return nil, fmt.Errorf("modelfile: %w", err)
	}
	return b, nil
}

// PredictBatch returns the predictions for an encoded batch (as a data
// Loader yields them), one slice per example.
func (m *Model) PredictBatch(b *data.Batch) (out [][]float32, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	defer m.arena.Reset()
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("modelfile: model %q: panic in forward pass: %v", m.Meta.Name, r)
		}
	}()
	nn.SetTraining(m.Net, false)
	y := Activate(m.Meta.Transforms.Label, m.Net.Forward(models.NewInput(m.arena, b, m.Meta.Transforms.Schema())))
	w := y.Dim(1)
	flat := tensor.Contiguous(y).Data()
	out = make([][]float32, b.Size)
	for i := range out {
		out[i] = append([]float32(nil), flat[i*w:(i+1)*w]...)
	}
	return out, nil
}

// Activate turns network outputs [n, k] into predictions for label l:
// sigmoid probabilities for binary labels, softmax over classes for
// multiclass ones, the outputs unchanged for regression.
func Activate(l data.Label, y *tensor.Tensor) *tensor.Tensor {
	switch l.Type {
	case data.Binary:
		return tensor.Sigmoid(y)
	case data.Multiclass:
		return tensor.Softmax(y, 1)
	}
	return y
}
