package nn

import (
	"fmt"

	"github.com/mlenv/mlenv/tensor"
)

// BCEWithLogits returns the mean binary cross-entropy of sigmoid(logits)
// against targets of the same shape (see tensor.BCEWithLogits).
func BCEWithLogits(logits, targets *tensor.Tensor) *tensor.Tensor {
	return tensor.BCEWithLogits(logits, targets)
}

// CrossEntropy returns the mean softmax cross-entropy of logits [n, classes]
// against integer labels (len n), with label smoothing eps in [0, 1): the
// target puts 1-eps on the label and eps spread evenly over all classes, as
// torch.nn.CrossEntropyLoss(label_smoothing=eps). It panics on a label out
// of range or a length mismatch.
func CrossEntropy(logits *tensor.Tensor, labels []int, eps float32) *tensor.Tensor {
	if logits.Rank() != 2 || logits.Dim(0) != len(labels) {
		panic(fmt.Sprintf("nn: CrossEntropy: logits shape %v for %d labels", logits.Shape(), len(labels)))
	}
	logp := tensor.LogSoftmax(logits, 1)
	nll := tensor.MeanAll(tensor.Gather(logp, 1, labels))
	if eps == 0 {
		return tensor.Neg(nll)
	}
	smooth := tensor.MeanAll(logp) // mean over samples and classes
	return tensor.Neg(tensor.Add(tensor.MulScalar(nll, 1-eps), tensor.MulScalar(smooth, eps)))
}

// MSE returns the mean squared error between pred and target (broadcasting).
func MSE(pred, target *tensor.Tensor) *tensor.Tensor {
	d := tensor.Sub(pred, target)
	return tensor.MeanAll(tensor.Mul(d, d))
}
