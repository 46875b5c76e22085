package nn_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/mlenv/mlenv/nn"
	"github.com/mlenv/mlenv/optim"
	"github.com/mlenv/mlenv/tensor"
)

// Net is a user-defined model: an ordinary struct of layers.
type Net struct {
	Body *nn.MLP
	Drop *nn.Dropout
	Head *nn.Linear
}

func NewNet(rng *rand.Rand, in, classes int) *Net {
	return &Net{
		Body: nn.NewMLP(rng, nn.ReLU, in, 32, 32),
		Drop: nn.NewDropout(rng, 0.1),
		Head: nn.NewLinear(rng, 32, classes, true),
	}
}

func (n *Net) Parameters() []nn.NamedParam {
	return append(nn.Prefix("body", n.Body), nn.Prefix("head", n.Head)...)
}

func (n *Net) SetTraining(on bool) { n.Drop.SetTraining(on) }

func (n *Net) Forward(x *tensor.Tensor) *tensor.Tensor {
	return n.Head.Forward(n.Drop.Forward(tensor.ReLU(n.Body.Forward(x))))
}

// Example trains a small classifier whose label is the index of the
// largest of the first three features, then evaluates it without a graph.
func Example() {
	const in, classes, batch = 8, 3, 64
	rng := rand.New(rand.NewPCG(1, 2))
	net := NewNet(rng, in, classes)
	opt := optim.NewAdamW(nn.Tensors(net), optim.AdamConfig{LR: 1e-2, WeightDecay: 0.01})
	sched := optim.Warmup{Steps: 20, Then: optim.Cosine{Base: 1e-2, Min: 1e-3, Steps: 400}}
	makeBatch := func() ([]float32, []int) {
		xs := tensor.Normal(rng, 0, 1, batch, in).Data()
		labels := tensor.Argmax(tensor.Slice(tensor.FromSlice(xs, batch, in), 1, 0, classes), 1)
		return xs, labels
	}
	ar := tensor.NewArena()
	for step := range 400 {
		xs, labels := makeBatch()
		ar.Reset()
		opt.SetLR(sched.LR(step))
		opt.ZeroGrad()
		nn.CrossEntropy(net.Forward(ar.FromSlice(xs, batch, in)), labels, 0.05).Backward()
		optim.ClipGradNorm(nn.Tensors(net), 5)
		opt.Step()
	}

	nn.SetTraining(net, false)
	inf := tensor.NewArena()
	inf.SetGrad(false)
	xs, labels := makeBatch()
	pred := tensor.Argmax(net.Forward(inf.FromSlice(xs, batch, in)), 1)
	correct := 0
	for i := range pred {
		if pred[i] == labels[i] {
			correct++
		}
	}
	fmt.Println("accuracy above 0.8:", float64(correct)/batch > 0.8)
	// Output: accuracy above 0.8: true
}
