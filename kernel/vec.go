package kernel

import "fmt"

// Dot returns the sum of x[i]*y[i], accumulated in float32 on several
// independent partial sums. It panics if x and y differ in length.
func Dot(x, y []float32) float32 {
	if len(x) != len(y) {
		panic(fmt.Sprintf("kernel: Dot of lengths %d and %d", len(x), len(y)))
	}
	return dot(x, y)
}

// Axpy sets y[i] += alpha*x[i]. It panics if x and y differ in length.
// x and y must not overlap unless they are the same slice.
func Axpy(alpha float32, x, y []float32) {
	if len(x) != len(y) {
		panic(fmt.Sprintf("kernel: Axpy of lengths %d and %d", len(x), len(y)))
	}
	axpy(alpha, x, y)
}

// dotGo is Dot in portable Go, for equal lengths.
func dotGo(x, y []float32) float32 {
	var s0, s1, s2, s3 float32
	y = y[:len(x)]
	i := 0
	for ; i+4 <= len(x); i += 4 {
		xs, ys := x[i:i+4:i+4], y[i:i+4:i+4]
		s0 += xs[0] * ys[0]
		s1 += xs[1] * ys[1]
		s2 += xs[2] * ys[2]
		s3 += xs[3] * ys[3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// axpyGo is Axpy in portable Go, for equal lengths.
func axpyGo(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}

// AddReLU sets x[i] = max(x[i]+bias[i], 0): a linear layer's bias and
// ReLU in one pass over a row of its output. It panics if x and bias
// differ in length. A NaN stays NaN.
func AddReLU(x, bias []float32) {
	if len(x) != len(bias) {
		panic(fmt.Sprintf("kernel: AddReLU of lengths %d and %d", len(x), len(bias)))
	}
	addReLU(x, bias)
}

// ReLU sets dst[i] = max(x[i], 0): an activation in one pass. A NaN
// stays NaN. dst may be x. It panics if the lengths differ.
func ReLU(dst, x []float32) {
	if len(x) != len(dst) {
		panic(fmt.Sprintf("kernel: ReLU of lengths %d and %d", len(dst), len(x)))
	}
	relu(dst, x)
}

// reluGo is ReLU in portable Go, for equal lengths.
func reluGo(dst, x []float32) {
	x = x[:len(dst)]
	for i, v := range x {
		if v < 0 {
			v = 0
		}
		dst[i] = v
	}
}

// MaxPool2 sets out[j] to the largest of r0[2j], r0[2j+1], r1[2j] and
// r1[2j+1]: one output row of a 2×2 max-pooling with stride 2 over input
// rows r0 and r1. A NaN in a window makes its output NaN. It panics if
// r0 or r1 holds fewer than 2*len(out) values.
func MaxPool2(out, r0, r1 []float32) {
	if len(r0) < 2*len(out) || len(r1) < 2*len(out) {
		panic(fmt.Sprintf("kernel: MaxPool2 of lengths %d, %d and %d", len(out), len(r0), len(r1)))
	}
	maxPool2(out, r0, r1)
}

// maxPool2Go is MaxPool2 in portable Go, for long enough rows.
func maxPool2Go(out, r0, r1 []float32) {
	r0, r1 = r0[:2*len(out)], r1[:2*len(out)]
	for j := range out {
		out[j] = max(max(r0[2*j], r0[2*j+1]), max(r1[2*j], r1[2*j+1]))
	}
}

// ReLUGrad sets dst[i] = g[i] where y[i] > 0 and 0 elsewhere: the
// gradient through a ReLU whose output was y. dst may be g. It panics if
// the lengths differ.
func ReLUGrad(dst, g, y []float32) {
	if len(g) != len(dst) || len(y) != len(dst) {
		panic(fmt.Sprintf("kernel: ReLUGrad of lengths %d, %d and %d", len(dst), len(g), len(y)))
	}
	reluGrad(dst, g, y)
}

// addReLUGo is AddReLU in portable Go, for equal lengths.
func addReLUGo(x, bias []float32) {
	bias = bias[:len(x)]
	for i, v := range x {
		v += bias[i]
		if v < 0 {
			v = 0
		}
		x[i] = v
	}
}

// reluGradGo is ReLUGrad in portable Go, for equal lengths.
func reluGradGo(dst, g, y []float32) {
	g, y = g[:len(dst)], y[:len(dst)]
	for i := range dst {
		if y[i] > 0 {
			dst[i] = g[i]
		} else {
			dst[i] = 0
		}
	}
}
