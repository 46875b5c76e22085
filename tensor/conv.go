package tensor

import (
	"fmt"
	"math"

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

// span returns, for output row oi of kernel tap (ki, kj), the image row
// it reads (-1 when that row is padding) and the output columns [lo, hi)
// whose image column oj*stride - pad + kj lies inside the image.
func (g *convGeom) span(oi, ki, kj int) (row, lo, hi int) {
	row = oi*g.stride - g.pad + ki
	if row < 0 || row >= g.h {
		return -1, 0, 0
	}
	if d := g.pad - kj; d > 0 {
		lo = min((d+g.stride-1)/g.stride, g.wo)
	}
	if last := g.w - 1 + g.pad - kj; last >= 0 {
		hi = min(last/g.stride+1, g.wo)
	}
	return row, lo, max(hi, lo)
}

// sameSize reports whether the output rows are as wide as the image rows
// at stride 1 ("same" padding, 1x1 kernels): then each kernel tap's
// columns are the image plane shifted by one offset, and im2col and
// col2im move each tap's block with one copy or one Axpy.
func (g *convGeom) sameSize() bool { return g.stride == 1 && g.wo == g.w }

// block returns, for kernel tap (ki, kj) of a sameSize convolution: the
// range [first, last) of a column row from its first to its last element
// that reads inside the image, the shift from a column row offset to the
// image plane offset it reads, and the columns [lo, hi) of each output
// row that read inside the image (the elements of [first, last) outside
// them read padding).
func (g *convGeom) block(ki, kj int) (first, last, shift, lo, hi int) {
	r0 := max(g.pad-ki, 0)        // first output row inside the image
	r1 := min(g.ho, g.h+g.pad-ki) // past the last one
	_, lo, hi = g.span(r0, ki, kj)
	if r0 >= r1 || lo >= hi {
		return 0, 0, 0, lo, hi
	}
	return r0*g.wo + lo, (r1-1)*g.wo + hi, (ki-g.pad)*g.w + kj - g.pad, lo, hi
}

// taps calls fn for each kernel tap (c, ki, kj) of one image with that
// tap's row of the column matrix col [c*kh*kw, ld] (hw values) and the
// image plane of channel c.
func (g *convGeom) taps(col []float32, ld int, img []float32, fn func(row, plane []float32, ki, kj int)) {
	hw := g.ho * g.wo
	for c := range g.c {
		plane := img[c*g.h*g.w:][:g.h*g.w]
		for t := range g.kh * g.kw {
			fn(col[(c*g.kh*g.kw+t)*ld:][:hw], plane, t/g.kw, t%g.kw)
		}
	}
}

// im2col writes one image's columns into the column matrix col [c*kh*kw,
// ld]: row (c, ki, kj) holds, for each output position, the image value
// under that kernel tap, 0 in the padding.
func (g *convGeom) im2col(col []float32, ld int, img []float32) {
	g.taps(col, ld, img, func(dst, plane []float32, ki, kj int) {
		if g.sameSize() {
			first, last, shift, lo, hi := g.block(ki, kj)
			clear(dst[:first])
			copy(dst[first:last], plane[first+shift:])
			clear(dst[last:])
			g.clearEdges(dst[first:last], first, lo, hi)
			return
		}
		for oi := range g.ho {
			out := dst[oi*g.wo:][:g.wo]
			r, lo, hi := g.span(oi, ki, kj)
			if r < 0 {
				clear(out)
				continue
			}
			clear(out[:lo])
			clear(out[hi:])
			src := plane[r*g.w:][:g.w]
			for oj := lo; oj < hi; oj++ {
				out[oj] = src[oj*g.stride-g.pad+kj]
			}
		}
	})
}

// clearEdges zeroes the columns outside [lo, hi) of the output rows that
// seg, a column row's range starting at offset first, covers. The edges
// are a few columns wide (at most the padding), so it zeroes them one by
// one rather than calling clear for each.
func (g *convGeom) clearEdges(seg []float32, first, lo, hi int) {
	if lo == 0 && hi == g.wo {
		return
	}
	for r := first / g.wo * g.wo; r < first+len(seg); r += g.wo {
		for j := max(r-first, 0); j < r+lo-first; j++ {
			seg[j] = 0
		}
		for j := max(r+hi-first, 0); j < min(r+g.wo-first, len(seg)); j++ {
			seg[j] = 0
		}
	}
}

// col2im adds one image's columns of a column matrix (the layout of
// im2col) into the image's gradient img. It zeroes the entries of col
// that fall in the padding.
func (g *convGeom) col2im(img, col []float32, ld int) {
	g.taps(col, ld, img, func(seg, plane []float32, ki, kj int) {
		if g.sameSize() {
			first, last, shift, lo, hi := g.block(ki, kj)
			g.clearEdges(seg[first:last], first, lo, hi)
			kernel.Axpy(1, seg[first:last], plane[first+shift:last+shift])
			return
		}
		for oi := range g.ho {
			r, lo, hi := g.span(oi, ki, kj)
			if r < 0 {
				continue
			}
			dst := plane[r*g.w:][:g.w]
			for oj, v := range seg[oi*g.wo+lo : oi*g.wo+hi] {
				dst[(oj+lo)*g.stride-g.pad+kj] += v
			}
		}
	})
}

// Conv2d returns the 2-D cross-correlation of x [N, C, H, W] with weight
// [O, C, KH, KW] plus bias [O] (or nil), with the given stride and zero
// padding on every side: [N, O, Ho, Wo], as torch.nn.functional.conv2d.
// Each image is lowered to a column matrix [C*KH*KW, Ho*Wo] (small enough
// to stay in cache) and multiplied by the weights straight into the
// output; goroutines take contiguous ranges of images.
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
	hw, chw, k := g.ho*g.wo, g.c*g.h*g.w, g.windowElements
	parts := workers(g.n)
	cols := ar.floats(parts * k * hw)
	parallelChunks(g.n, parts, func(p, lo, hi int) {
		col := cols[p*k*hw:][:k*hw]
		for n := lo; n < hi; n++ {
			g.im2col(col, hw, xs[n*chw:])
			dst := out.data[n*g.outC*hw:][:g.outC*hw]
			kernel.Sgemm(false, false, g.outC, hw, k, 1, ws, k, col, hw, 0, dst, hw)
			for o, b := range bd {
				row := dst[o*hw : (o+1)*hw]
				for i := range row {
					row[i] += b
				}
			}
		}
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

// backConv2d works image by image, as Conv2d does: with the image's
// columns col [K, HW] (K = C*KH*KW) and output gradient Gₙ [O, HW], the
// weight gradient collects col·Gₙᵀ as its transpose [K, O] (so that the
// GEMM packs the narrow Gₙ, not the columns) and the input gradient is
// col2im(Wᵀ·Gₙ). A row of ones below the columns makes the same GEMM sum
// the bias gradient (row K of the product). Each range of images sums
// its gradients apart; they are added up in range order at the end, so
// the result depends on the number of goroutines only through rounding.
func backConv2d(t *Tensor) {
	x, weight, bias := t.in[0], t.in[1], t.in[2]
	g := newGeom("Conv2d", x, weight.shape[2], weight.shape[3], t.idx[0], t.idx[1])
	g.outC = weight.shape[0]
	ar := t.arena
	hw, chw, k, oc := g.ho*g.wo, g.c*g.h*g.w, g.windowElements, g.outC
	var dx []float32
	fresh := false
	if wantsGrad(x) {
		dx, fresh = gradDest(x)
	}
	dw, db := gradIfWanted(weight), gradIfWanted(bias)
	rows := k // of the weight-gradient GEMM: the columns, then the ones
	if db != nil {
		rows++
	}
	xs, ws := x.contiguous(ar), weight.contiguous(ar)
	parts := workers(g.n)
	cols := ar.floats(parts * rows * hw)
	sums := ar.zeros(parts * rows * oc) // per range: [dWᵀ; dbᵀ]
	parallelChunks(g.n, parts, func(p, lo, hi int) {
		col := cols[p*rows*hw:][:rows*hw]
		for i := k * hw; i < len(col); i++ {
			col[i] = 1
		}
		sum := sums[p*rows*oc:][:rows*oc]
		for n := lo; n < hi; n++ {
			gn := t.grad.data[n*oc*hw:][:oc*hw]
			if dw != nil || db != nil {
				g.im2col(col, hw, xs[n*chw:])
				kernel.Sgemm(false, true, rows, oc, hw, 1, col, hw, gn, hw, 1, sum, oc)
			}
			if dx != nil {
				kernel.Sgemm(true, false, k, hw, oc, 1, ws, k, gn, hw, 0, col, hw)
				img := dx[n*chw:][:chw]
				if fresh {
					clear(img)
				}
				g.col2im(img, col, hw)
			}
		}
	})
	for p := range parts {
		sum := sums[p*rows*oc:][:rows*oc]
		for o := range len(dw) / k {
			row := dw[o*k : (o+1)*k]
			for i := range row {
				row[i] += sum[i*oc+o]
			}
		}
		for o := range db {
			db[o] += sum[k*oc+o]
		}
	}
}

// MaxPool2d returns the maximum over k×k windows of x [N, C, H, W] moved by
// stride (no padding). The gradient goes to the first maximum of each
// window in row-major order (to its first element where the maximum is
// NaN). The backward pass finds that element again from x and the
// result, so the forward pass keeps no argmax.
func MaxPool2d(x *Tensor, k, stride int) *Tensor {
	g := newGeom("MaxPool2d", x, k, k, stride, 0)
	ar := arenaOf(x)
	xs := x.contiguous(ar)
	out := newOut(ar, []int{g.n, g.c, g.ho, g.wo})
	planes := g.n * g.c
	parallelChunks(planes, workers(planes), func(_, lo, hi int) { g.maxPool(out.data, xs, lo, hi) })
	if record(out, opMaxPool2d, x) {
		out.idx = ar.ints(2)
		out.idx[0], out.idx[1] = k, stride
	}
	return out
}

// maxPool pools image planes [lo, hi) of xs into out.
func (g *convGeom) maxPool(out, xs []float32, lo, hi int) {
	for p := lo; p < hi; p++ {
		img := xs[p*g.h*g.w:][:g.h*g.w]
		plane := out[p*g.ho*g.wo:][:g.ho*g.wo]
		if g.kh == 2 && g.stride == 2 {
			g.maxPool2x2(plane, img)
			continue
		}
		for o := range plane {
			q := g.window(o)
			bv := img[q]
			for ki := range g.kh {
				for _, v := range img[q+ki*g.w:][:g.kw] {
					bv = max(bv, v)
				}
			}
			plane[o] = bv
		}
	}
}

// window returns the offset, in its image plane, of the top-left element
// of the pooling window of output o of a plane.
func (g *convGeom) window(o int) int {
	return o/g.wo*g.stride*g.w + o%g.wo*g.stride
}

// maxPool2x2 is maxPool for 2x2 windows with stride 2 over one image
// plane, a row of outputs at a time.
func (g *convGeom) maxPool2x2(out, img []float32) {
	for oi := 0; oi < g.ho; oi++ {
		kernel.MaxPool2(out[oi*g.wo:][:g.wo], img[2*oi*g.w:][:2*g.wo], img[(2*oi+1)*g.w:][:2*g.wo])
	}
}

// maxMask is all ones if v is the maximum m of its window, or m is NaN,
// and 0 otherwise; no element of a window exceeds its maximum.
func maxMask(v, m float32) uint32 {
	var mask uint32
	if !(v < m) {
		mask = ^uint32(0)
	}
	return mask
}

func backMaxPool2d(t *Tensor) {
	x := t.in[0]
	if !wantsGrad(x) {
		return
	}
	g := newGeom("MaxPool2d", x, t.idx[0], t.idx[0], t.idx[1], 0)
	xs := x.contiguous(t.arena)
	planes := g.n * g.c
	if g.kh == 2 && g.stride == 2 && g.h == 2*g.ho && g.w == 2*g.wo {
		// The windows tile x, so the gradient covers every element.
		if dst, fresh := gradDest(x); fresh {
			parallelChunks(planes, workers(planes), func(_, lo, hi int) { g.maxPool2x2Grad(dst, t.grad.data, t.data, xs, lo, hi) })
			return
		}
	}
	dst := gradData(x)
	parallelChunks(planes, workers(planes), func(_, lo, hi int) {
		for p := lo; p < hi; p++ {
			img, d := xs[p*g.h*g.w:][:g.h*g.w], dst[p*g.h*g.w:][:g.h*g.w]
			for o := range g.ho * g.wo {
				q, m := g.window(o), t.data[p*g.ho*g.wo+o]
				q += g.firstMax(img[q:], m)
				d[q] += t.grad.data[p*g.ho*g.wo+o]
			}
		}
	})
}

// firstMax returns the offset from win of the first element of a window
// starting at win[0] that maxMask accepts for maximum m.
func (g *convGeom) firstMax(win []float32, m float32) int {
	for ki := range g.kh {
		for kj, v := range win[ki*g.w:][:g.kw] {
			if maxMask(v, m) != 0 {
				return ki*g.w + kj
			}
		}
	}
	panic("tensor: MaxPool2d: maximum not found in its window")
}

// maxPool2x2Grad writes the gradient of image planes [lo, hi) of a 2x2,
// stride-2 pooling whose windows tile the input: each window's output
// gradient at its first maximum, zeros elsewhere, without branches.
func (g *convGeom) maxPool2x2Grad(dst, grad, out, xs []float32, lo, hi int) {
	for p := lo; p < hi; p++ {
		img, d := xs[p*g.h*g.w:][:g.h*g.w], dst[p*g.h*g.w:][:g.h*g.w]
		for oi := range g.ho {
			r0, r1 := img[2*oi*g.w:][:2*g.wo], img[(2*oi+1)*g.w:][:2*g.wo]
			d0, d1 := d[2*oi*g.w:][:2*g.wo], d[(2*oi+1)*g.w:][:2*g.wo]
			at := (p*g.ho + oi) * g.wo
			ms, gs := out[at:][:g.wo], grad[at:][:g.wo]
			for oj, m := range ms {
				j := 2 * oj
				gv := math.Float32bits(gs[oj])
				a := maxMask(r0[j], m)
				b := maxMask(r0[j+1], m) &^ a
				c := maxMask(r1[j], m) &^ (a | b)
				rest := ^(a | b | c)
				d0[j], d0[j+1] = math.Float32frombits(gv&a), math.Float32frombits(gv&b)
				d1[j], d1[j+1] = math.Float32frombits(gv&c), math.Float32frombits(gv&rest)
			}
		}
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
