package tensor

import (
	"math/rand/v2"
	"testing"
)

func BenchmarkMaxPool2d(b *testing.B) {
	x := Normal(rand.New(rand.NewPCG(1, 1)), 0, 1, 64, 32, 28, 28)
	ar := NewArena()
	ar.SetGrad(false)
	for range b.N {
		ar.Reset()
		MaxPool2d(x, 2, 2)
	}
}

func BenchmarkConv2d(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	x := Normal(rng, 0, 1, 64, 32, 14, 14)
	w := Normal(rng, 0, 1, 64, 32, 3, 3)
	ar := NewArena()
	ar.SetGrad(false)
	for range b.N {
		ar.Reset()
		Conv2d(x, w, nil, 1, 1)
	}
}
