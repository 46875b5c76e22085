package tensor

// Binary elementwise ops with NumPy broadcasting: Add, Sub, Mul, Div.

// Add returns a + b, broadcasting.
func Add(a, b *Tensor) *Tensor { return binaryOp(opAdd, "Add", a, b) }

// Sub returns a - b, broadcasting.
func Sub(a, b *Tensor) *Tensor { return binaryOp(opSub, "Sub", a, b) }

// Mul returns a * b elementwise, broadcasting.
func Mul(a, b *Tensor) *Tensor { return binaryOp(opMul, "Mul", a, b) }

// Div returns a / b elementwise, broadcasting.
func Div(a, b *Tensor) *Tensor { return binaryOp(opDiv, "Div", a, b) }

func binaryOp(op opKind, name string, a, b *Tensor) *Tensor {
	ar := arenaOf(a, b)
	if sameShape(a.shape, b.shape) && a.IsContiguous() && b.IsContiguous() {
		out := newOut(ar, a.shape)
		n := len(out.data)
		ad, bd := a.data[a.offset:a.offset+n], b.data[b.offset:b.offset+n]
		ParallelFor(n, Grain, func(lo, hi int) {
			binRow(op, out.data[lo:hi], 1, ad[lo:hi], 1, bd[lo:hi], 1, hi-lo)
		})
		record(out, op, a, b)
		return out
	}
	shape := broadcastShape(name, a.shape, b.shape)
	out := newOut(ar, shape)
	it := multiIter{off: [4]int{0, a.offset, b.offset}}
	it.st[0] = out.strides
	it.st[1] = broadcastStrides(a.shape, a.strides, shape)
	it.st[2] = broadcastStrides(b.shape, b.strides, shape)
	it.rows(shape, func(off, st [4]int, n int) {
		binRow(op, out.data[off[0]:], 1, a.data[off[1]:], st[1], b.data[off[2]:], st[2], n)
	})
	record(out, op, a, b)
	return out
}

// binRow computes n elements of dst = a op b with the given strides.
func binRow(op opKind, dst []float32, ds int, a []float32, as int, b []float32, bs int, n int) {
	if ds == 1 && as == 1 && bs == 1 {
		dst, a, b = dst[:n], a[:n], b[:n]
		switch op {
		case opAdd:
			for i := range dst {
				dst[i] = a[i] + b[i]
			}
		case opSub:
			for i := range dst {
				dst[i] = a[i] - b[i]
			}
		case opMul:
			for i := range dst {
				dst[i] = a[i] * b[i]
			}
		case opDiv:
			for i := range dst {
				dst[i] = a[i] / b[i]
			}
		}
		return
	}
	for i := 0; i < n; i++ {
		x, y := a[i*as], b[i*bs]
		var v float32
		switch op {
		case opAdd:
			v = x + y
		case opSub:
			v = x - y
		case opMul:
			v = x * y
		case opDiv:
			v = x / y
		}
		dst[i*ds] = v
	}
}

func backAdd(t *Tensor) {
	for _, x := range t.in {
		if wantsGrad(x) {
			accumulateInto(x, t.grad.data, t.shape)
		}
	}
}

func backSub(t *Tensor) {
	a, b := t.in[0], t.in[1]
	if wantsGrad(a) {
		accumulateInto(a, t.grad.data, t.shape)
	}
	if wantsGrad(b) {
		binaryGrad(b, t, nil, -1)
	}
}

func backMul(t *Tensor) {
	a, b := t.in[0], t.in[1]
	if wantsGrad(a) {
		binaryGrad(a, t, b, 1)
	}
	if wantsGrad(b) {
		binaryGrad(b, t, a, 1)
	}
}

func backDiv(t *Tensor) {
	a, b := t.in[0], t.in[1]
	if wantsGrad(a) {
		binaryGradDiv(a, t, b, false)
	}
	if wantsGrad(b) {
		binaryGradDiv(b, t, b, true)
	}
}

// binaryGrad adds sign * t.grad * other (other nil means 1) into x's
// gradient, reducing over broadcast dimensions of x.
func binaryGrad(x, t, other *Tensor, sign float32) {
	dst := gradData(x)
	g := t.grad.data
	it := multiIter{}
	it.st[0] = t.strides
	it.st[1] = broadcastStrides(x.shape, x.grad.strides, t.shape)
	var od []float32
	if other != nil {
		od = other.data
		it.off[2] = other.offset
		it.st[2] = broadcastStrides(other.shape, other.strides, t.shape)
	}
	it.rows(t.shape, func(off, st [4]int, n int) {
		gs, ds, os := off[0], off[1], off[2]
		for j := 0; j < n; j++ {
			v := sign * g[gs+j]
			if od != nil {
				v *= od[os+j*st[2]]
			}
			dst[ds+j*st[1]] += v
		}
	})
}

// binaryGradDiv adds the gradient of t = a / b into x's gradient:
// g / b for the numerator, -g * t / b for the denominator.
func binaryGradDiv(x, t, b *Tensor, denominator bool) {
	dst := gradData(x)
	g := t.grad.data
	it := multiIter{off: [4]int{0, 0, b.offset}}
	it.st[0] = t.strides
	it.st[1] = broadcastStrides(x.shape, x.grad.strides, t.shape)
	it.st[2] = broadcastStrides(b.shape, b.strides, t.shape)
	it.rows(t.shape, func(off, st [4]int, n int) {
		gs, ds, bs := off[0], off[1], off[2]
		for j := 0; j < n; j++ {
			v := g[gs+j] / b.data[bs+j*st[2]]
			if denominator {
				v = -v * t.data[gs+j]
			}
			dst[ds+j*st[1]] += v
		}
	})
}
