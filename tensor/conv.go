package tensor

import (
	"fmt"

	"github.com/mlenv/mlenv/kernel"
)

// Conv2d and 2-D pooling over NCHW tensors. Convolution lowers each image
// to a column matrix (im2col) and calls the GEMM kernel; its gradient
// recomputes the columns instead of keeping them.

// convGeom holds the sizes of one convolution or pooling.
type convGeom struct {
	n, c, h, w     int // input
	kh, kw         int // window
	stride, pad    int
	ho, wo         int // output
	outC           int // output channels (conv) or c (pooling)
	windowElements int // c*kh*kw for conv
}

func newGeom(op string, x *Tensor, kh, kw, stride, pad int) convGeom {
	if x.Rank() != 4 {
		panic(fmt.Sprintf("tensor: %s: input shape %v is not [N, C, H, W]", op, x.shape))
	}
	if stride < 1 || pad < 0 {
		panic(fmt.Sprintf("tensor: %s: stride %d and padding %d", op, stride, pad))
	}
	g := convGeom{n: x.shape[0], c: x.shape[1], h: x.shape[2], w: x.shape[3], kh: kh, kw: kw, stride: stride, pad: pad}
	g.ho = (g.h+2*pad-kh)/stride + 1
	g.wo = (g.w+2*pad-kw)/stride + 1
	if g.ho < 1 || g.wo < 1 {
		panic(fmt.Sprintf("tensor: %s: window %dx%d does not fit input %v with padding %d", op, kh, kw, x.shape, pad))
	}
	g.outC = g.c
	g.windowElements = g.c * kh * kw
	return g
}

// colRows calls fn for each output row oi of each kernel tap (c, ki, kj)
// of one image: seg is that row's part of the image's columns in the
// column matrix [c*kh*kw, ld] (col starts at the image's first column) and
// img the offset of the image row it reads, or -1 when that row is padding.
func (g *convGeom) colRows(col []float32, ld int, fn func(seg []float32, img, kj int)) {
	hw := g.ho * g.wo
	for c := 0; c < g.c; c++ {
		for ki := 0; ki < g.kh; ki++ {
			for kj := 0; kj < g.kw; kj++ {
				row := col[((c*g.kh+ki)*g.kw+kj)*ld:][:hw]
				for oi := 0; oi < g.ho; oi++ {
					img := -1
					if i := oi*g.stride - g.pad + ki; i >= 0 && i < g.h {
						img = (c*g.h + i) * g.w
					}
					fn(row[oi*g.wo:(oi+1)*g.wo], img, kj)
				}
			}
		}
	}
}

// im2col writes one image's columns of the column matrix (see colRows).
func (g *convGeom) im2col(col []float32, ld int, img []float32) {
	g.colRows(col, ld, func(dst []float32, r, kj int) {
		if r < 0 {
			clear(dst)
			return
		}
		src := img[r:][:g.w]
		if g.stride == 1 {
			// Output columns [lo, hi) read src contiguously; the rest
			// fall in the padding.
			lo := min(max(g.pad-kj, 0), g.wo)
			hi := max(min(g.w+g.pad-kj, g.wo), lo)
			clear(dst[:lo])
			copy(dst[lo:hi], src[lo-g.pad+kj:])
			clear(dst[hi:])
			return
		}
		for oj := range dst {
			if j := oj*g.stride - g.pad + kj; j >= 0 && j < g.w {
				dst[oj] = src[j]
			} else {
				dst[oj] = 0
			}
		}
	})
}

// col2im adds one image's columns of a column matrix back into the image's
// gradient.
func (g *convGeom) col2im(img, col []float32, ld int) {
	g.colRows(col, ld, func(seg []float32, r, kj int) {
		if r < 0 {
			return
		}
		dst := img[r:][:g.w]
		for oj, v := range seg {
			if j := oj*g.stride - g.pad + kj; j >= 0 && j < g.w {
				dst[j] += v
			}
		}
	})
}

// forImages runs fn for every image index in [n0, n1), split across
// goroutines.
func forImages(n0, n1 int, fn func(n int)) {
	parallelChunks(n1-n0, workers(n1-n0), func(_, lo, hi int) {
		for n := n0 + lo; n < n0+hi; n++ {
			fn(n)
		}
	})
}

// colBudget bounds the column matrix of one GEMM (in floats, 32 MiB), so
// that large batches are lowered in groups of images.
const colBudget = 1 << 23

// groups calls fn for consecutive ranges [n0, n1) of images whose column
// matrix fits colBudget (at least one image each).
func (g *convGeom) groups(fn func(n0, n1 int)) {
	size := max(1, colBudget/(g.windowElements*g.ho*g.wo))
	for n0 := 0; n0 < g.n; n0 += size {
		fn(n0, min(n0+size, g.n))
	}
}

// lower writes the column matrix [c*kh*kw, (n1-n0)*ho*wo] of images
// [n0, n1) of xs, so that their convolution is one GEMM.
func (g *convGeom) lower(col, xs []float32, n0, n1 int) {
	hw, chw := g.ho*g.wo, g.c*g.h*g.w
	forImages(n0, n1, func(n int) { g.im2col(col[(n-n0)*hw:], (n1-n0)*hw, xs[n*chw:]) })
}

// Conv2d returns the 2-D cross-correlation of x [N, C, H, W] with weight
// [O, C, KH, KW] plus bias [O] (or nil), with the given stride and zero
// padding on every side: [N, O, Ho, Wo], as torch.nn.functional.conv2d.
// Groups of images are lowered to one column matrix, whose columns for
// each image are multiplied by the weights straight into the output.
func Conv2d(x, weight, bias *Tensor, stride, pad int) *Tensor {
	if weight.Rank() != 4 || x.Rank() != 4 || weight.shape[1] != x.shape[1] ||
		(bias != nil && (bias.Rank() != 1 || bias.shape[0] != weight.shape[0])) {
		panic(fmt.Sprintf("tensor: Conv2d: input %v and weight %v (bias %v) are not compatible", x.shape, weight.shape, shapeOf(bias)))
	}
	g := newGeom("Conv2d", x, weight.shape[2], weight.shape[3], stride, pad)
	g.outC = weight.shape[0]
	ar := arenaOf(x, weight, bias)
	xs, ws := x.contiguous(ar), weight.contiguous(ar)
	out := newOut(ar, []int{g.n, g.outC, g.ho, g.wo})
	var bd []float32
	if bias != nil {
		bd = bias.contiguous(ar)
	}
	hw := g.ho * g.wo
	g.groups(func(n0, n1 int) {
		ghw := (n1 - n0) * hw
		col := ar.floats(g.windowElements * ghw)
		g.lower(col, xs, n0, n1)
		forImages(n0, n1, func(n int) {
			// Image n's columns of col times the weights is its [O, HW]
			// output, written in place (ldb skips the other images).
			dst := out.data[n*g.outC*hw:][:g.outC*hw]
			kernel.Sgemm(false, false, g.outC, hw, g.windowElements, 1, ws, g.windowElements, col[(n-n0)*hw:], ghw, 0, dst, hw)
			if bd != nil {
				for o, b := range bd {
					row := dst[o*hw : (o+1)*hw]
					for i := range row {
						row[i] += b
					}
				}
			}
		})
	})
	if record(out, opConv2d, x, weight, bias) {
		out.idx = ar.ints(2)
		out.idx[0], out.idx[1] = stride, pad
	}
	return out
}

func shapeOf(t *Tensor) []int {
	if t == nil {
		return nil
	}
	return t.shape
}

func backConv2d(t *Tensor) {
	x, weight, bias := t.in[0], t.in[1], t.in[2]
	g := newGeom("Conv2d", x, weight.shape[2], weight.shape[3], t.idx[0], t.idx[1])
	g.outC = weight.shape[0]
	ar := t.arena
	hw, chw := g.ho*g.wo, g.c*g.h*g.w
	dx, dw, db := gradIfWanted(x), gradIfWanted(weight), gradIfWanted(bias)
	xs, ws := x.contiguous(ar), weight.contiguous(ar)
	g.groups(func(n0, n1 int) {
		ghw := (n1 - n0) * hw
		// The output gradient as [O, images*HW], the forward GEMM's layout.
		gt := ar.floats(g.outC * ghw)
		forImages(n0, n1, func(n int) {
			for o := 0; o < g.outC; o++ {
				copy(gt[o*ghw+(n-n0)*hw:][:hw], t.grad.data[(n*g.outC+o)*hw:])
			}
		})
		for o := 0; o < len(db); o++ {
			var s float32
			for _, v := range gt[o*ghw : (o+1)*ghw] {
				s += v
			}
			db[o] += s
		}
		col := ar.floats(g.windowElements * ghw)
		if dw != nil {
			g.lower(col, xs, n0, n1)
			kernel.Sgemm(false, true, g.outC, g.windowElements, ghw, 1, gt, ghw, col, ghw, 1, dw, g.windowElements)
		}
		if dx != nil {
			kernel.Sgemm(true, false, g.windowElements, ghw, g.outC, 1, ws, g.windowElements, gt, ghw, 0, col, ghw)
			forImages(n0, n1, func(n int) { g.col2im(dx[n*chw:], col[(n-n0)*hw:], ghw) })
		}
	})
}

// MaxPool2d returns the maximum over k×k windows of x [N, C, H, W] moved by
// stride (no padding). The gradient goes to the first maximum of each window.
func MaxPool2d(x *Tensor, k, stride int) *Tensor {
	g := newGeom("MaxPool2d", x, k, k, stride, 0)
	ar := arenaOf(x)
	xs := x.contiguous(ar)
	out := newOut(ar, []int{g.n, g.c, g.ho, g.wo})
	var arg []int // argmax offsets, needed only for the gradient
	if x.requiresGrad && (ar == nil || !ar.noGrad) {
		arg = ar.ints(len(out.data))
	}
	planes := g.n * g.c
	parallelChunks(planes, workers(planes), func(_, lo, hi int) { g.maxPool(out.data, arg, xs, lo, hi) })
	if record(out, opMaxPool2d, x) {
		out.idx = arg
	}
	return out
}

// maxPool pools image planes [lo, hi) of xs into out, recording the
// storage offset of each maximum in arg unless arg is nil.
func (g *convGeom) maxPool(out []float32, arg []int, xs []float32, lo, hi int) {
	k, stride := g.kh, g.stride
	for p := lo; p < hi; p++ {
		img := xs[p*g.h*g.w:]
		plane := out[p*g.ho*g.wo:][:g.ho*g.wo]
		switch {
		case k == 2 && stride == 2 && arg == nil:
			g.maxPool2x2Values(plane, img)
			continue
		case k == 2 && stride == 2:
			g.maxPool2x2(plane, arg[p*g.ho*g.wo:][:g.ho*g.wo], img, p*g.h*g.w)
			continue
		}
		for oi := 0; oi < g.ho; oi++ {
			for oj := 0; oj < g.wo; oj++ {
				best := (oi*stride)*g.w + oj*stride
				bv := img[best]
				for ki := 0; ki < k; ki++ {
					row := img[(oi*stride+ki)*g.w+oj*stride:][:k]
					for kj, v := range row {
						// Written for conditional moves: the comparisons
						// are data-dependent and mispredict as branches.
						q := (oi*stride+ki)*g.w + oj*stride + kj
						if v > bv {
							best = q
						}
						bv = max(bv, v)
					}
				}
				o := (p*g.ho+oi)*g.wo + oj
				out[o] = bv
				if arg != nil {
					arg[o] = p*g.h*g.w + best
				}
			}
		}
	}
}

// maxPool2x2 is MaxPool2d's loop for 2x2 windows with stride 2 over one
// image plane starting at storage offset base.
func (g *convGeom) maxPool2x2(out []float32, arg []int, img []float32, base int) {
	for oi := 0; oi < g.ho; oi++ {
		r0 := img[2*oi*g.w:][:2*g.wo]
		r1 := img[(2*oi+1)*g.w:][:2*g.wo]
		o, a := out[oi*g.wo:][:g.wo], arg[oi*g.wo:][:g.wo]
		for oj := range o {
			j := 2 * oj
			bv, bi := r0[j], j
			if v := r0[j+1]; v > bv {
				bi = j + 1
			}
			bv = max(bv, r0[j+1])
			if v := r1[j]; v > bv {
				bi = g.w + j
			}
			bv = max(bv, r1[j])
			if v := r1[j+1]; v > bv {
				bi = g.w + j + 1
			}
			o[oj], a[oj] = max(bv, r1[j+1]), base+2*oi*g.w+bi
		}
	}
}

// maxPool2x2Values is maxPool2x2 without the argmax, for inference: the
// same maxima (max is associative, NaN included) in fewer instructions.
func (g *convGeom) maxPool2x2Values(out []float32, img []float32) {
	for oi := 0; oi < g.ho; oi++ {
		r0 := img[2*oi*g.w:][:2*g.wo]
		r1 := img[(2*oi+1)*g.w:][:2*g.wo]
		o := out[oi*g.wo:][:g.wo]
		for oj := range o {
			j := 2 * oj
			o[oj] = max(max(r0[j], r0[j+1]), max(r1[j], r1[j+1]))
		}
	}
}

func backMaxPool2d(t *Tensor) {
	x := t.in[0]
	if !wantsGrad(x) {
		return
	}
	dst := gradData(x)
	for o, q := range t.idx {
		dst[q] += t.grad.data[o]
	}
}

// AvgPool2d returns the mean over k×k windows of x [N, C, H, W] moved by
// stride (no padding).
func AvgPool2d(x *Tensor, k, stride int) *Tensor {
	g := newGeom("AvgPool2d", x, k, k, stride, 0)
	ar := arenaOf(x)
	xs := x.contiguous(ar)
	out := newOut(ar, []int{g.n, g.c, g.ho, g.wo})
	scale := 1 / float32(k*k)
	clear(out.data)
	g.forWindows(func(o, q int) { out.data[o] += xs[q] * scale })
	if record(out, opAvgPool2d, x) {
		out.idx = ar.ints(2)
		out.idx[0], out.idx[1] = k, stride
	}
	return out
}

// forWindows calls fn for every (output, input) element offset pair of the
// pooling windows.
func (g *convGeom) forWindows(fn func(o, q int)) {
	for p := 0; p < g.n*g.c; p++ {
		for oi := 0; oi < g.ho; oi++ {
			for oj := 0; oj < g.wo; oj++ {
				o := (p*g.ho+oi)*g.wo + oj
				for ki := 0; ki < g.kh; ki++ {
					for kj := 0; kj < g.kw; kj++ {
						fn(o, p*g.h*g.w+(oi*g.stride+ki)*g.w+oj*g.stride+kj)
					}
				}
			}
		}
	}
}

func backAvgPool2d(t *Tensor) {
	x := t.in[0]
	if !wantsGrad(x) {
		return
	}
	k, stride := t.idx[0], t.idx[1]
	g := newGeom("AvgPool2d", x, k, k, stride, 0)
	dst := gradData(x)
	scale := 1 / float32(k*k)
	g.forWindows(func(o, q int) { dst[q] += t.grad.data[o] * scale })
}
