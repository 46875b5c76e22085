package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Seeded initialisers. Each draws from the explicit source rng so that runs
// are reproducible; the result is a heap tensor (not yet requiring grad).

// Normal returns a tensor of the given shape with values from N(mean, std²).
func Normal(rng *rand.Rand, mean, std float32, shape ...int) *Tensor {
	t := New(shape...)
	for i := range t.data {
		t.data[i] = mean + std*float32(rng.NormFloat64())
	}
	return t
}

// Uniform returns a tensor of the given shape with values from U[lo, hi).
func Uniform(rng *rand.Rand, lo, hi float32, shape ...int) *Tensor {
	t := New(shape...)
	for i := range t.data {
		t.data[i] = lo + (hi-lo)*float32(rng.Float64())
	}
	return t
}

// Fans returns the fan-in and fan-out of a weight of the given shape, as
// PyTorch computes them: [out, in, k...] has fan-in in*Πk and fan-out out*Πk.
func Fans(shape []int) (fanIn, fanOut int) {
	if len(shape) < 2 {
		panic(fmt.Sprintf("tensor: Fans: shape %v has rank < 2", shape))
	}
	field := 1
	for _, d := range shape[2:] {
		field *= d
	}
	return shape[1] * field, shape[0] * field
}

// XavierUniform returns a Glorot-uniform weight: U(-a, a) with
// a = gain * sqrt(6 / (fanIn + fanOut)).
func XavierUniform(rng *rand.Rand, gain float32, shape ...int) *Tensor {
	in, out := Fans(shape)
	a := gain * float32(math.Sqrt(6/float64(in+out)))
	return Uniform(rng, -a, a, shape...)
}

// XavierNormal returns a Glorot-normal weight with
// std = gain * sqrt(2 / (fanIn + fanOut)).
func XavierNormal(rng *rand.Rand, gain float32, shape ...int) *Tensor {
	in, out := Fans(shape)
	return Normal(rng, 0, gain*float32(math.Sqrt(2/float64(in+out))), shape...)
}

// KaimingUniform returns a He-uniform weight for layers followed by ReLU:
// U(-b, b) with b = sqrt(6 / fanIn).
func KaimingUniform(rng *rand.Rand, shape ...int) *Tensor {
	in, _ := Fans(shape)
	b := float32(math.Sqrt(6 / float64(in)))
	return Uniform(rng, -b, b, shape...)
}

// KaimingNormal returns a He-normal weight: N(0, 2 / fanIn).
func KaimingNormal(rng *rand.Rand, shape ...int) *Tensor {
	in, _ := Fans(shape)
	return Normal(rng, 0, float32(math.Sqrt(2/float64(in))), shape...)
}
