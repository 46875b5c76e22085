package kernel

import (
	"sync"
	"sync/atomic"
)

// micro is a register-blocked microkernel together with the cache blocking
// that suits it. The blocked driver (run) packs op(B) into contiguous
// panels so that the microkernel reads it with unit stride whatever
// transB is, and walks C in mr×nr tiles on several goroutines.
type micro struct {
	name   string
	mr, nr int // the C tile one kern call computes: mr rows × nr columns
	kc     int // depth of a block (columns of op(A), rows of op(B))
	mc     int // rows of op(A) multiplied by one block of B in a row; a multiple of mr
	nc     int // columns of op(B) packed at once; a multiple of nr

	// kern computes the mr×nr tile C = beta*C + alpha*A·Bp. Value (i, p)
	// of the tile's rows of op(A) is a[i*rsA+p*csA]; bp holds k groups of
	// nr values (a row of op(B)); c starts at the tile's top-left element
	// with row stride ldc. beta 0 overwrites C.
	kern func(k int, a []float32, rsA, csA int, bp, c []float32, ldc int, alpha, beta float32)

	workspaces sync.Pool // of *workspace
	bBlocks    sync.Pool // of *[]float32, packed blocks of op(B)
}

// workspace is one worker's packing memory.
type workspace struct {
	a    []float32 // packed rows of op(A) that do not fill a tile
	tile []float32 // mr×nr scratch tile for C's ragged edges
}

// minWorkPerThread is the number of multiply-adds below which another
// goroutine costs more than it saves.
const minWorkPerThread = 1 << 17

// itemsPerThread is how many pieces of C each worker gets on average, so
// that a worker slowed by other load on the machine hands work to the
// others.
const itemsPerThread = 4

func (mk *micro) impl() impl { return impl{name: mk.name, run: mk.run} }

// run computes g on up to threads goroutines. A single row or column of C
// goes to gemv. Otherwise, for each kc×nc block of op(B), the workers pack
// the block together and then take pieces of C from a shared counter,
// running the microkernel over each tile of a piece. The microkernel reads
// op(A) in place, whatever transA is; only rows that do not fill a tile
// are packed (with zeros after them), so that it never reads past A.
func (mk *micro) run(g *gemmCall, threads int) {
	if g.m == 1 || g.n == 1 {
		gemv(g)
		return
	}
	work := float64(g.m) * float64(g.n) * float64(g.k) // may overflow int
	t := max(1, min(threads, int(min(work/minWorkPerThread, 1<<20))))
	kb0, nb0 := min(g.k, mk.kc), min(g.n, mk.nc)
	bp := mk.bBlock(roundUp(nb0, mk.nr) * kb0)
	if t == 1 {
		// No goroutines: no closures, slices or deferred calls, which
		// matter for the many tiny products of batched matmuls.
		ws := mk.workspace(mk.mr * kb0)
		mk.blocks(g, func(jc, nb, pc, kb int, beta float32) {
			mk.packB(g, *bp, pc, kb, jc, 0, nb)
			mk.piece(g, ws, *bp, 0, g.m, jc, nb, pc, kb, beta)
		})
		mk.workspaces.Put(ws)
		mk.bBlocks.Put(bp)
		return
	}
	defer mk.bBlocks.Put(bp)
	ws := make([]*workspace, t)
	for w := range ws {
		ws[w] = mk.workspace(mk.mr * kb0)
	}
	defer func() {
		for _, w := range ws {
			mk.workspaces.Put(w)
		}
	}()
	mk.blocks(g, func(jc, nb, pc, kb int, beta float32) {
		mk.parallelBlock(g, *bp, ws, jc, nb, pc, kb, beta)
	})
}

// blocks calls fn for each kb×nb block of op(B) at (pc, jc), in the
// order run multiplies them, with the beta that applies to C: g.beta for
// the first depth block, 1 after it.
func (mk *micro) blocks(g *gemmCall, fn func(jc, nb, pc, kb int, beta float32)) {
	for jc := 0; jc < g.n; jc += mk.nc {
		nb := min(mk.nc, g.n-jc)
		for pc := 0; pc < g.k; pc += mk.kc {
			beta := g.beta
			if pc > 0 {
				beta = 1 // earlier depth blocks already applied beta
			}
			fn(jc, nb, pc, min(mk.kc, g.k-pc), beta)
		}
	}
}

// parallelBlock is one step of run on len(ws) workers: it packs the kb×nb
// block of op(B) at (pc, jc) into bp and multiplies all rows of op(A) by
// it.
func (mk *micro) parallelBlock(g *gemmCall, bp []float32, ws []*workspace, jc, nb, pc, kb int, beta float32) {
	t := len(ws)
	panels := (nb + mk.nr - 1) / mk.nr
	parallelDo(min(t, panels), func(w, workers int) {
		lo, hi := panels*w/workers*mk.nr, min(panels*(w+1)/workers*mk.nr, nb)
		mk.packB(g, bp, pc, kb, jc, lo, hi)
	})
	gr := mk.grid(g.m, nb, t)
	var next atomic.Int64
	parallelDo(min(t, gr.items()), func(w, _ int) {
		for item := int(next.Add(1) - 1); item < gr.items(); item = int(next.Add(1) - 1) {
			i0, i1, j0, j1 := gr.bounds(item)
			mk.piece(g, ws[w], bp[j0*kb:], i0, i1, jc+j0, j1-j0, pc, kb, beta)
		}
	})
}

// parallelDo runs fn(w, workers) for w in [0, workers), w 0 on the calling
// goroutine, and returns when all have returned.
func parallelDo(workers int, fn func(w, workers int)) {
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		wg.Go(func() { fn(w, workers) })
	}
	fn(0, workers)
	wg.Wait()
}

// grid cuts an m×n block of C into pieces of whole tiles: rows×cols
// each, the last row and column of pieces possibly smaller.
type grid struct {
	m, n, rows, cols int
	rowPieces        int
	colPieces        int
}

// grid returns the pieces for t workers: one piece for one worker, about
// itemsPerThread*t otherwise, cut along the rows first (every piece reads
// its rows of op(A) once, so pieces side by side read the same rows
// twice).
func (mk *micro) grid(m, n, t int) grid {
	gr := grid{m: m, n: n, rows: m, cols: n, rowPieces: 1, colPieces: 1}
	if t == 1 {
		return gr
	}
	rowTiles, colTiles := (m+mk.mr-1)/mk.mr, (n+mk.nr-1)/mk.nr
	want := itemsPerThread * t
	r := min(rowTiles, want)
	c := min(colTiles, (want+r-1)/r)
	gr.rows = (rowTiles + r - 1) / r * mk.mr
	gr.cols = (colTiles + c - 1) / c * mk.nr
	gr.rowPieces = (m + gr.rows - 1) / gr.rows
	gr.colPieces = (n + gr.cols - 1) / gr.cols
	return gr
}

func (gr grid) items() int { return gr.rowPieces * gr.colPieces }

// bounds returns rows [i0, i1) and columns [j0, j1) of piece item.
func (gr grid) bounds(item int) (i0, i1, j0, j1 int) {
	i0 = item / gr.colPieces * gr.rows
	j0 = item % gr.colPieces * gr.cols
	return i0, min(i0+gr.rows, gr.m), j0, min(j0+gr.cols, gr.n)
}

// piece computes rows [i0, i1) and the nb columns from jc of C for depth
// block [pc, pc+kb), whose op(B) is packed in bp.
func (mk *micro) piece(g *gemmCall, ws *workspace, bp []float32, i0, i1, jc, nb, pc, kb int, beta float32) {
	for ic := i0; ic < i1; ic += mk.mc {
		mb := min(mk.mc, i1-ic)
		if rest := mb % mk.mr; rest != 0 {
			packPanel(ws.a, mk.mr, rest, kb, g.a, g.lda, ic+mb-rest, pc, g.transA)
		}
		mk.macro(g, ws, bp, ic, mb, jc, nb, pc, kb, beta)
	}
}

// workspace returns a worker's memory with room for n packed values of A.
func (mk *micro) workspace(n int) *workspace {
	ws, _ := mk.workspaces.Get().(*workspace)
	if ws == nil {
		ws = &workspace{tile: make([]float32, mk.mr*mk.nr)}
	}
	ws.a = grow(ws.a, n)
	return ws
}

// bBlock returns memory for n packed values of op(B).
func (mk *micro) bBlock(n int) *[]float32 {
	p, _ := mk.bBlocks.Get().(*[]float32)
	if p == nil {
		p = new([]float32)
	}
	*p = grow(*p, n)
	return p
}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }

// macro multiplies rows [ic, ic+mb) of op(A) by the packed kb×nb block
// of op(B) in bp into C at (ic, jc), one microkernel tile at a time. Full
// row tiles read A in place; the last, partial one reads the panel packed
// in ws. Tiles that stick out of C are computed in scratch memory and
// merged.
func (mk *micro) macro(g *gemmCall, ws *workspace, bp []float32, ic, mb, jc, nb, pc, kb int, beta float32) {
	mr, nr := mk.mr, mk.nr
	rsA, csA := g.lda, 1 // op(A)[i][p] = a[i*lda+p]
	if g.transA {
		rsA, csA = 1, g.lda // op(A)[i][p] = a[p*lda+i]
	}
	for jr := 0; jr < nb; jr += nr {
		bpanel := bp[jr*kb : (jr+nr)*kb]
		w := min(nr, nb-jr)
		for ir := 0; ir < mb; ir += mr {
			i := ic + ir
			a, rs, cs := g.a[i*rsA+pc*csA:], rsA, csA
			h := min(mr, mb-ir)
			if h < mr {
				a, rs, cs = ws.a, 1, mr
			}
			off := i*g.ldc + jc + jr
			if h == mr && w == nr {
				mk.kern(kb, a, rs, cs, bpanel, g.c[off:], g.ldc, g.alpha, beta)
				continue
			}
			mk.kern(kb, a, rs, cs, bpanel, ws.tile, nr, g.alpha, 0)
			for r := range h {
				row := g.c[off+r*g.ldc : off+r*g.ldc+w]
				src := ws.tile[r*nr : r*nr+w]
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

// packB stores columns [lo, hi) of op(B)[p0:p0+kb, j0:] into dst, laid
// out as panels of nr columns from column j0 (lo is a multiple of nr);
// panel j holds, for each p, the nr values of row p. Columns past hi in
// the last panel are zero.
func (mk *micro) packB(g *gemmCall, dst []float32, p0, kb, j0, lo, hi int) {
	for jr := lo; jr < hi; jr += mk.nr {
		// Column j of op(B) is row j of op(B)ᵀ, stored crossed unless transB.
		packPanel(dst[jr*kb:(jr+mk.nr)*kb], mk.nr, min(mk.nr, hi-jr), kb, g.b, g.ldb, j0+jr, p0, !g.transB)
	}
}

// packPanel fills panel with kb groups of width values: group p holds
// X[first+i][p0+p] for i < count and zeros after. X[i][p] is x[p*ld+i]
// when crossed (the stored rows of x run along i) and x[i*ld+p] otherwise.
func packPanel(panel []float32, width, count, kb int, x []float32, ld, first, p0 int, crossed bool) {
	panel = panel[:width*kb]
	if count < width {
		clear(panel)
	}
	if crossed {
		for p := range kb {
			copy(panel[p*width:p*width+count], x[(p0+p)*ld+first:][:count])
		}
		return
	}
	i := 0
	for ; transpose8 != nil && i+8 <= count; i += 8 { // 8×8 blocks in registers
		n8 := kb &^ 7
		transpose8(panel[i:], width, x[(first+i)*ld+p0:], ld, n8)
		for p := n8; p < kb; p++ {
			for q := range 8 {
				panel[p*width+i+q] = x[(first+i+q)*ld+p0+p]
			}
		}
	}
	for ; i+4 <= count; i += 4 { // four rows at a time: 16-byte writes
		r0 := x[(first+i)*ld+p0:][:kb]
		r1 := x[(first+i+1)*ld+p0:][:kb]
		r2 := x[(first+i+2)*ld+p0:][:kb]
		r3 := x[(first+i+3)*ld+p0:][:kb]
		for p := range kb {
			out := panel[p*width+i : p*width+i+4 : p*width+i+4]
			out[0], out[1], out[2], out[3] = r0[p], r1[p], r2[p], r3[p]
		}
	}
	for ; i < count; i++ {
		for p, v := range x[(first+i)*ld+p0:][:kb] {
			panel[p*width+i] = v
		}
	}
}
