package tensor

import (
	"math"

	"github.com/mlenv/mlenv/kernel"
)

// unaryKind selects the function of an opUnary node; it is kept in the
// node's axis field.
type unaryKind int

const (
	uNeg unaryKind = iota
	uExp
	uLog
	uSqrt
	uReLU
	uGELU
	uSiLU
	uSigmoid
	uTanh
	uAddScalar
	uMulScalar
)

// Neg returns -x.
func Neg(x *Tensor) *Tensor { return unary(uNeg, x, 0) }

// Exp returns e^x elementwise.
func Exp(x *Tensor) *Tensor { return unary(uExp, x, 0) }

// Log returns the natural logarithm elementwise.
func Log(x *Tensor) *Tensor { return unary(uLog, x, 0) }

// Sqrt returns the square root elementwise.
func Sqrt(x *Tensor) *Tensor { return unary(uSqrt, x, 0) }

// ReLU returns max(x, 0) (NaN stays NaN); its gradient at 0 is taken as
// 0.
func ReLU(x *Tensor) *Tensor { return unary(uReLU, x, 0) }

// GELU returns x * Φ(x) with the exact normal CDF (PyTorch's default).
func GELU(x *Tensor) *Tensor { return unary(uGELU, x, 0) }

// SiLU returns x * sigmoid(x).
func SiLU(x *Tensor) *Tensor { return unary(uSiLU, x, 0) }

// Sigmoid returns 1 / (1 + e^-x).
func Sigmoid(x *Tensor) *Tensor { return unary(uSigmoid, x, 0) }

// Tanh returns the hyperbolic tangent.
func Tanh(x *Tensor) *Tensor { return unary(uTanh, x, 0) }

// AddScalar returns x + c.
func AddScalar(x *Tensor, c float32) *Tensor { return unary(uAddScalar, x, c) }

// MulScalar returns x * c.
func MulScalar(x *Tensor, c float32) *Tensor { return unary(uMulScalar, x, c) }

func unary(k unaryKind, x *Tensor, c float32) *Tensor {
	ar := arenaOf(x)
	src := x.contiguous(ar)
	out := newOut(ar, x.shape)
	ParallelFor(len(src), Grain, func(lo, hi int) {
		unaryRow(k, c, out.data[lo:hi], src[lo:hi])
	})
	if record(out, opUnary, x, nil) {
		out.axis = int(k)
		out.param = c
	}
	return out
}

func unaryRow(k unaryKind, c float32, dst, src []float32) {
	src = src[:len(dst)]
	switch k {
	case uNeg:
		for i, v := range src {
			dst[i] = -v
		}
	case uExp:
		for i, v := range src {
			dst[i] = float32(math.Exp(float64(v)))
		}
	case uLog:
		for i, v := range src {
			dst[i] = float32(math.Log(float64(v)))
		}
	case uSqrt:
		for i, v := range src {
			dst[i] = float32(math.Sqrt(float64(v)))
		}
	case uReLU:
		kernel.ReLU(dst, src)
	case uGELU:
		for i, v := range src {
			dst[i] = float32(0.5 * float64(v) * (1 + math.Erf(float64(v)/math.Sqrt2)))
		}
	case uSiLU:
		for i, v := range src {
			dst[i] = v * sigmoid(v)
		}
	case uSigmoid:
		for i, v := range src {
			dst[i] = sigmoid(v)
		}
	case uTanh:
		for i, v := range src {
			dst[i] = float32(math.Tanh(float64(v)))
		}
	case uAddScalar:
		for i, v := range src {
			dst[i] = v + c
		}
	case uMulScalar:
		for i, v := range src {
			dst[i] = v * c
		}
	}
}

// sigmoid is the logistic function, stable for large |v|.
func sigmoid(v float32) float32 {
	if v >= 0 {
		return 1 / (1 + float32(math.Exp(-float64(v))))
	}
	e := float32(math.Exp(float64(v)))
	return e / (1 + e)
}

func backUnary(t *Tensor) {
	x := t.in[0]
	if !wantsGrad(x) {
		return
	}
	k, c := unaryKind(t.axis), t.param
	if k == uReLU {
		// A gradient that covers every element of a fresh intermediate
		// is written, not added: y > 0 exactly where x > 0.
		if dst, fresh := gradDest(x); fresh {
			ParallelFor(len(dst), Grain, func(lo, hi int) {
				kernel.ReLUGrad(dst[lo:hi], t.grad.data[lo:hi], t.data[lo:hi])
			})
			return
		}
	}
	xs := x.contiguous(t.arena)
	dst := gradData(x)
	ParallelFor(len(xs), Grain, func(lo, hi int) {
		unaryGradRow(k, c, dst[lo:hi], t.grad.data[lo:hi], xs[lo:hi], t.data[lo:hi])
	})
}

// unaryGradRow adds g * f'(x) into dst, given x and y = f(x).
func unaryGradRow(k unaryKind, c float32, dst, g, x, y []float32) {
	g, x, y = g[:len(dst)], x[:len(dst)], y[:len(dst)]
	switch k {
	case uNeg:
		for i := range dst {
			dst[i] -= g[i]
		}
	case uExp:
		for i := range dst {
			dst[i] += g[i] * y[i]
		}
	case uLog:
		for i := range dst {
			dst[i] += g[i] / x[i]
		}
	case uSqrt:
		for i := range dst {
			dst[i] += g[i] * 0.5 / y[i]
		}
	case uReLU:
		for i := range dst {
			// Branch-free (branches on the signs of activations
			// mispredict half the time): the mask is all ones where x > 0.
			mask := uint32(-int32(math.Float32bits(x[i])) >> 31)
			dst[i] += math.Float32frombits(math.Float32bits(g[i]) & mask)
		}
	case uGELU:
		for i := range dst {
			v := float64(x[i])
			cdf := 0.5 * (1 + math.Erf(v/math.Sqrt2))
			pdf := math.Exp(-0.5*v*v) / math.Sqrt(2*math.Pi)
			dst[i] += g[i] * float32(cdf+v*pdf)
		}
	case uSiLU:
		for i := range dst {
			s := sigmoid(x[i])
			dst[i] += g[i] * s * (1 + x[i]*(1-s))
		}
	case uSigmoid:
		for i := range dst {
			dst[i] += g[i] * y[i] * (1 - y[i])
		}
	case uTanh:
		for i := range dst {
			dst[i] += g[i] * (1 - y[i]*y[i])
		}
	case uAddScalar:
		for i := range dst {
			dst[i] += g[i]
		}
	case uMulScalar:
		for i := range dst {
			dst[i] += g[i] * c
		}
	}
}

// Pow returns x^p elementwise for a constant exponent p.
func Pow(x *Tensor, p float32) *Tensor {
	ar := arenaOf(x)
	src := x.contiguous(ar)
	out := newOut(ar, x.shape)
	for i, v := range src {
		out.data[i] = float32(math.Pow(float64(v), float64(p)))
	}
	if record(out, opPow, x, nil) {
		out.param = p
	}
	return out
}

func backPow(t *Tensor) {
	x := t.in[0]
	if !wantsGrad(x) {
		return
	}
	xs := x.contiguous(t.arena)
	dst := gradData(x)
	p := float64(t.param)
	for i, v := range xs {
		dst[i] += t.grad.data[i] * float32(p*math.Pow(float64(v), p-1))
	}
}
