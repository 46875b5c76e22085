package nn

import (
	"fmt"

	"github.com/mlenv/mlenv/tensor"
)

// LayerNorm normalises the last dimension of its input to zero mean and
// unit variance, then scales by Weight and shifts by Bias (both [dim]), as
// torch.nn.LayerNorm(dim).
type LayerNorm struct {
	Weight, Bias *tensor.Tensor
	Eps          float32
}

// NewLayerNorm returns a LayerNorm over dim features with weight 1, bias 0
// and eps 1e-5.
func NewLayerNorm(dim int) *LayerNorm {
	return &LayerNorm{Weight: tensor.Full(1, dim).RequiresGrad(), Bias: tensor.New(dim).RequiresGrad(), Eps: 1e-5}
}

// Parameters returns "weight" and "bias".
func (l *LayerNorm) Parameters() []NamedParam {
	return []NamedParam{{"weight", l.Weight}, {"bias", l.Bias}}
}

// Forward normalises x [..., dim].
func (l *LayerNorm) Forward(x *tensor.Tensor) *tensor.Tensor {
	if x.Dim(-1) != l.Weight.Len() {
		panic(fmt.Sprintf("nn: LayerNorm over %d features given shape %v", l.Weight.Len(), x.Shape()))
	}
	return tensor.LayerNorm(x, l.Weight, l.Bias, l.Eps)
}

// BatchNorm normalises each channel (dimension 1) over the batch and any
// spatial dimensions, as torch.nn.BatchNorm1d for [N, C] and BatchNorm2d
// for [N, C, H, W]. In training mode it uses the batch statistics and
// updates the running ones (momentum 0.1, unbiased variance); in
// evaluation mode it uses the running statistics. It starts in training
// mode.
type BatchNorm struct {
	Weight, Bias *tensor.Tensor
	RunningMean  *tensor.Tensor
	RunningVar   *tensor.Tensor
	Batches      *tensor.Tensor // num_batches_tracked, a scalar count
	Eps          float32
	Momentum     float32
	eval         bool
}

// NewBatchNorm returns a BatchNorm over channels features.
func NewBatchNorm(channels int) *BatchNorm {
	return &BatchNorm{
		Weight:      tensor.Full(1, channels).RequiresGrad(),
		Bias:        tensor.New(channels).RequiresGrad(),
		RunningMean: tensor.New(channels),
		RunningVar:  tensor.Full(1, channels),
		Batches:     tensor.New(),
		Eps:         1e-5,
		Momentum:    0.1,
	}
}

// Parameters returns "weight" and "bias".
func (b *BatchNorm) Parameters() []NamedParam {
	return []NamedParam{{"weight", b.Weight}, {"bias", b.Bias}}
}

// Buffers returns the running statistics under PyTorch's names.
func (b *BatchNorm) Buffers() []NamedParam {
	return []NamedParam{{"running_mean", b.RunningMean}, {"running_var", b.RunningVar}, {"num_batches_tracked", b.Batches}}
}

// SetTraining switches between batch and running statistics.
func (b *BatchNorm) SetTraining(training bool) { b.eval = !training }

// Forward normalises x [N, C, ...].
func (b *BatchNorm) Forward(x *tensor.Tensor) *tensor.Tensor {
	c := b.Weight.Len()
	if x.Rank() < 2 || x.Dim(1) != c {
		panic(fmt.Sprintf("nn: BatchNorm over %d channels given shape %v", c, x.Shape()))
	}
	// Statistics and affine parameters broadcast as [1, C, 1, ...].
	bshape := make([]int, x.Rank())
	for i := range bshape {
		bshape[i] = 1
	}
	bshape[1] = c
	if b.eval {
		mean := tensor.Reshape(b.RunningMean, bshape...)
		inv := tensor.Pow(tensor.AddScalar(tensor.Reshape(b.RunningVar, bshape...), b.Eps), -0.5)
		return b.affine(tensor.Mul(tensor.Sub(x, mean), inv), bshape)
	}
	mean := channelMean(x)
	xc := tensor.Sub(x, mean)
	variance := channelMean(tensor.Mul(xc, xc))
	b.track(mean.Data(), variance.Data(), x.Len()/c)
	return b.affine(tensor.Mul(xc, tensor.Pow(tensor.AddScalar(variance, b.Eps), -0.5)), bshape)
}

// channelMean averages x over every dimension but 1, keeping them as 1.
func channelMean(x *tensor.Tensor) *tensor.Tensor {
	for axis := x.Rank() - 1; axis >= 0; axis-- {
		if axis != 1 {
			x = tensor.Mean(x, axis, true)
		}
	}
	return x
}

func (b *BatchNorm) affine(y *tensor.Tensor, bshape []int) *tensor.Tensor {
	return tensor.Add(tensor.Mul(y, tensor.Reshape(b.Weight, bshape...)), tensor.Reshape(b.Bias, bshape...))
}

// track folds batch statistics over n values per channel into the running
// ones.
func (b *BatchNorm) track(mean, variance []float32, n int) {
	m := b.Momentum
	rm, rv := b.RunningMean.Data(), b.RunningVar.Data()
	unbias := float32(n) / float32(max(n-1, 1))
	for i := range rm {
		rm[i] = (1-m)*rm[i] + m*mean[i]
		rv[i] = (1-m)*rv[i] + m*variance[i]*unbias
	}
	b.Batches.Data()[0]++
}
