package kernel

import "sync"

// micro is a register-blocked microkernel together with the cache blocking
// that suits it. The blocked driver (run) packs A and B into contiguous
// panels so that the microkernel reads both with unit stride, walks C in
// mr×nr tiles and splits C across goroutines.
type micro struct {
	name   string
	mr, nr int // the C tile one kern call computes: mr rows × nr columns
	kc     int // depth of a packed block (columns of op(A), rows of op(B))
	mc     int // rows of op(A) packed at once; a multiple of mr
	nc     int // columns of op(B) packed at once; a multiple of nr

	// kern computes the mr×nr tile C = beta*C + Ap·Bp. ap holds k groups
	// of mr values (a column of the tile's rows of alpha*op(A)), bp holds
	// k groups of nr values (a row of op(B)), and c starts at the tile's
	// top-left element with row stride ldc. beta 0 overwrites C.
	kern func(k int, ap, bp, c []float32, ldc int, beta float32)

	pool sync.Pool // of *workspace
}

// workspace is one goroutine's packing memory.
type workspace struct {
	a, b []float32 // packed block of alpha*op(A) and of op(B)
	tile []float32 // mr×nr scratch tile for C's ragged edges
}

// minWorkPerThread is the number of multiply-adds below which another
// goroutine costs more than it saves.
const minWorkPerThread = 1 << 17

func (mk *micro) impl() impl { return impl{name: mk.name, run: mk.run} }

// run computes g on up to threads goroutines. A single row or column of
// C goes to gemv. Otherwise C is cut into disjoint
// bands of whole tiles, along the rows when there are enough of them and
// along the columns otherwise; each band is an independent blocked GEMM.
func (mk *micro) run(g *gemmCall, threads int) {
	if g.m == 1 || g.n == 1 {
		gemv(g)
		return
	}
	t := min(threads, g.m*g.n*g.k/minWorkPerThread)
	mTiles := (g.m + mk.mr - 1) / mk.mr
	nTiles := (g.n + mk.nr - 1) / mk.nr
	byRows := mTiles >= t || mTiles >= nTiles
	if byRows {
		t = min(t, mTiles)
	} else {
		t = min(t, nTiles)
	}
	if t <= 1 {
		mk.band(g, 0, g.m, 0, g.n)
		return
	}
	var wg sync.WaitGroup
	for part := range t {
		i0, i1, j0, j1 := 0, g.m, 0, g.n
		if byRows {
			i0, i1 = splitTiles(g.m, mk.mr, mTiles, t, part)
		} else {
			j0, j1 = splitTiles(g.n, mk.nr, nTiles, t, part)
		}
		if part == t-1 {
			mk.band(g, i0, i1, j0, j1)
			break
		}
		wg.Go(func() { mk.band(g, i0, i1, j0, j1) })
	}
	wg.Wait()
}

// splitTiles returns the bounds of part (of parts) of a dimension of
// length size cut into tiles of the given size, spreading tiles evenly.
func splitTiles(size, tile, tiles, parts, part int) (lo, hi int) {
	lo = tiles * part / parts * tile
	hi = min(tiles*(part+1)/parts*tile, size)
	return lo, hi
}

// band computes rows [i0, i1) and columns [j0, j1) of C.
func (mk *micro) band(g *gemmCall, i0, i1, j0, j1 int) {
	ws := mk.workspace(min(mk.mc, i1-i0), min(g.k, mk.kc), min(mk.nc, j1-j0))
	defer mk.pool.Put(ws)
	for jc := j0; jc < j1; jc += mk.nc {
		nb := min(mk.nc, j1-jc)
		for pc := 0; pc < g.k; pc += mk.kc {
			kb := min(mk.kc, g.k-pc)
			beta := g.beta
			if pc > 0 {
				beta = 1 // earlier depth blocks already applied beta
			}
			mk.packB(g, ws.b, pc, kb, jc, nb)
			for ic := i0; ic < i1; ic += mk.mc {
				mb := min(mk.mc, i1-ic)
				mk.packA(g, ws.a, ic, mb, pc, kb)
				mk.macro(g, ws, ic, mb, jc, nb, kb, beta)
			}
		}
	}
}

// workspace returns packing memory for blocks of up to mb×kb of A and
// kb×nb of B.
func (mk *micro) workspace(mb, kb, nb int) *workspace {
	ws, _ := mk.pool.Get().(*workspace)
	if ws == nil {
		ws = &workspace{tile: make([]float32, mk.mr*mk.nr)}
	}
	ws.a = grow(ws.a, roundUp(mb, mk.mr)*kb)
	ws.b = grow(ws.b, roundUp(nb, mk.nr)*kb)
	return ws
}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }

// macro multiplies the packed mb×kb block of A by the packed kb×nb block
// of B into C at (ic, jc), one microkernel tile at a time. Tiles that
// stick out of C are computed in scratch memory and merged.
func (mk *micro) macro(g *gemmCall, ws *workspace, ic, mb, jc, nb, kb int, beta float32) {
	mr, nr := mk.mr, mk.nr
	for jr := 0; jr < nb; jr += nr {
		bp := ws.b[jr*kb : (jr+nr)*kb]
		w := min(nr, nb-jr)
		for ir := 0; ir < mb; ir += mr {
			ap := ws.a[ir*kb : (ir+mr)*kb]
			h := min(mr, mb-ir)
			off := (ic+ir)*g.ldc + jc + jr
			if h == mr && w == nr {
				mk.kern(kb, ap, bp, g.c[off:], g.ldc, beta)
				continue
			}
			mk.kern(kb, ap, bp, ws.tile, nr, 0)
			for i := range h {
				row := g.c[off+i*g.ldc : off+i*g.ldc+w]
				src := ws.tile[i*nr : i*nr+w]
				if beta == 0 {
					copy(row, src)
					continue
				}
				for j, v := range src {
					row[j] = beta*row[j] + v
				}
			}
		}
	}
}

// packA stores alpha*op(A)[i0:i0+mb, p0:p0+kb] into dst as panels of mr
// rows; panel r holds, for each p, the mr values of column p. Rows past mb
// are zero.
func (mk *micro) packA(g *gemmCall, dst []float32, i0, mb, p0, kb int) {
	mr := mk.mr
	for ir := 0; ir < mb; ir += mr {
		panel := dst[ir*kb : (ir+mr)*kb]
		h := min(mr, mb-ir)
		if h < mr {
			clear(panel)
		}
		if g.transA { // op(A)[i][p] = a[p*lda+i]: rows of a run along i
			for p := range kb {
				src := g.a[(p0+p)*g.lda+i0+ir:][:h]
				out := panel[p*mr : p*mr+h]
				for i, v := range src {
					out[i] = g.alpha * v
				}
			}
			continue
		}
		for i := range h { // op(A)[i][p] = a[i*lda+p]
			src := g.a[(i0+ir+i)*g.lda+p0:][:kb]
			for p, v := range src {
				panel[p*mr+i] = g.alpha * v
			}
		}
	}
}

// packB stores op(B)[p0:p0+kb, j0:j0+nb] into dst as panels of nr
// columns; panel j holds, for each p, the nr values of row p. Columns past
// nb are zero.
func (mk *micro) packB(g *gemmCall, dst []float32, p0, kb, j0, nb int) {
	nr := mk.nr
	for jr := 0; jr < nb; jr += nr {
		panel := dst[jr*kb : (jr+nr)*kb]
		w := min(nr, nb-jr)
		if w < nr {
			clear(panel)
		}
		if g.transB { // op(B)[p][j] = b[j*ldb+p]: rows of b run along p
			for j := range w {
				src := g.b[(j0+jr+j)*g.ldb+p0:][:kb]
				for p, v := range src {
					panel[p*nr+j] = v
				}
			}
			continue
		}
		for p := range kb { // op(B)[p][j] = b[p*ldb+j]
			copy(panel[p*nr:p*nr+w], g.b[(p0+p)*g.ldb+j0+jr:][:w])
		}
	}
}
