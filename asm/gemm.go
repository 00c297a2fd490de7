package asm

import (
	"fmt"
	"slices"
)

// GemmF32 computes C = op(A)·op(B), or C += op(A)·op(B) when acc is set, in
// float32 (see ref.GemmF32 for the operand layout): op(A) is m×k, op(B) k×n,
// every matrix row-major with its own row stride, and transA / transB read A
// or B transposed, so that the forward product X·Wᵀ and the two backward
// products dY·W and dYᵀ·X of a linear layer need no copies.
//
// It is a blocked GEMM: B is packed into NR-column panels (see PackedB), A
// into MR-row panels, kc = 256 values of k at a time, and an MR×NR
// register-tiled micro-kernel computes each tile of C. The micro-kernel
// belongs to the implementation in use (Impl, SetImpl): AVX-512 12×32 for
// avx512vnni and avx512bw, AVX2 6×16 for avx2, Go 4×16 for the others
// (GemmKernel names it). Sums are taken in blocks of
// kc along k and added into C, so results differ from the reference in
// rounding only, and not at all for integer-valued inputs whose sums stay
// below 2^24.
//
// GemmF32 runs on one goroutine; w holds its packing buffers (nil: allocated
// for this call). To split one product between goroutines, pack B once
// (PackedB.Pack, which can itself be split by columns) and give each
// goroutine its own rows of C with GemmF32Packed.
func GemmF32(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool, w *GemmWork) {
	if m <= 0 || n <= 0 {
		return
	}
	if w == nil {
		w = new(GemmWork)
	}
	w.pb.Reset(k, n)
	w.pb.Pack(transB, b, ldb, 0, n)
	GemmF32Packed(transA, m, a, lda, &w.pb, c, ldc, acc, w)
}

// Blocking: a kc×NR panel of B stays in L1 across the rows of an A block,
// the mc×kc block of A in L2 across all the panels of B.
const (
	gemmKC = 256
	gemmMC = 192
)

// GemmWork holds per-goroutine packing buffers of GemmF32 and
// GemmF32Packed; reuse one per goroutine to avoid allocations. The zero
// value is ready to use.
type GemmWork struct {
	a, tile []float32
	pb      PackedB
}

// PackedB is the B operand of a product packed for the micro-kernel of the
// implementation in use when Reset was called: for each block of kc rows of
// op(B), panels of NR columns, each kc×NR floats in k-major order,
// zero-padded to whole panels. GemmF32Packed multiplies with that
// micro-kernel even if SetImpl has changed the implementation since.
type PackedB struct {
	k, n, nr int
	npad     int
	data     []float32
	kern     *gemmMicro
}

// Reset sizes p for a k×n operand and binds it to the micro-kernel of the
// implementation in use.
func (p *PackedB) Reset(k, n int) {
	p.kern = gemmActive()
	p.k, p.n, p.nr = k, n, p.kern.nr
	p.npad = roundUp(n, p.nr)
	if need := max(k, 1) * p.npad; cap(p.data) < need {
		p.data = make([]float32, need)
	}
	p.data = p.data[:cap(p.data)]
}

// Pack packs columns [j0, j1) of op(B) (k×n after Reset; op(B)(p,j) is
// b[p*ldb+j], or b[j*ldb+p] when trans). j0 must be a multiple of NR (see
// GemmTile) and j1 a multiple of NR or n; disjoint ranges may be packed
// concurrently.
func (p *PackedB) Pack(trans bool, b []float32, ldb, j0, j1 int) {
	if j0%p.nr != 0 || (j1%p.nr != 0 && j1 != p.n) || j0 > j1 || j1 > p.n {
		panic(fmt.Sprintf("asm.PackedB.Pack: columns [%d, %d) of %d with panels of %d", j0, j1, p.n, p.nr))
	}
	if trans {
		checkMat("B", b, p.n, p.k, ldb)
	} else {
		checkMat("B", b, p.k, p.n, ldb)
	}
	for pc := 0; pc < p.k; pc += gemmKC {
		kb := min(gemmKC, p.k-pc)
		blk := p.data[pc*p.npad : pc*p.npad+kb*p.npad]
		for jr := j0; jr < j1; jr += p.nr {
			cols := min(p.nr, p.n-jr)
			packBPanel(p.kern, blk[jr*kb:jr*kb+kb*p.nr], trans, b, ldb, pc, kb, jr, cols, p.nr)
		}
	}
}

// GemmF32Packed computes C = op(A)·B (or C += … when acc) for the packed
// operand pb (k×n); op(A) is m×k as in GemmF32.
func GemmF32Packed(transA bool, m int, a []float32, lda int, pb *PackedB, c []float32, ldc int, acc bool, w *GemmWork) {
	n, k := pb.n, pb.k
	if m <= 0 || n <= 0 {
		return
	}
	if transA {
		checkMat("A", a, k, m, lda)
	} else {
		checkMat("A", a, m, k, lda)
	}
	checkMat("C", c, m, n, ldc)
	if k <= 0 {
		if !acc {
			for i := 0; i < m; i++ {
				clear(c[i*ldc : i*ldc+n])
			}
		}
		return
	}
	kern := pb.kern
	mr, nr := kern.mr, kern.nr
	mc := min(roundUp(m, mr), gemmMC/mr*mr)
	if need := mc * min(k, gemmKC); cap(w.a) < need {
		w.a = make([]float32, need)
	}
	if cap(w.tile) < mr*nr {
		w.tile = make([]float32, mr*nr)
	}
	w.a, w.tile = w.a[:cap(w.a)], w.tile[:mr*nr]
	for pc := 0; pc < k; pc += gemmKC {
		kb := min(gemmKC, k-pc)
		bblk := pb.data[pc*pb.npad : pc*pb.npad+kb*pb.npad]
		add := acc || pc > 0
		for ic := 0; ic < m; ic += mc {
			mb := min(mc, m-ic)
			packA(kern, w.a, transA, a, lda, ic, mb, pc, kb, mr)
			for jr := 0; jr < n; jr += nr {
				cols := min(nr, n-jr)
				bp := bblk[jr*kb : jr*kb+nr*kb]
				for ir := 0; ir < mb; ir += mr {
					rows := min(mr, mb-ir)
					ap := w.a[ir*kb : ir*kb+mr*kb]
					ci := (ic+ir)*ldc + jr
					if rows == mr && cols == nr {
						kern.run(kb, ap, bp, c[ci:], ldc, add)
						continue
					}
					// Edge tile: compute it whole into the tile buffer,
					// then write the valid part.
					kern.run(kb, ap, bp, w.tile, nr, false)
					for i := 0; i < rows; i++ {
						dst := c[ci+i*ldc : ci+i*ldc+cols]
						src := w.tile[i*nr : i*nr+cols]
						if add {
							for j, v := range src {
								dst[j] += v
							}
						} else {
							copy(dst, src)
						}
					}
				}
			}
		}
	}
}

// GemmTile returns the register tile MR×NR of the micro-kernel of the
// implementation in use: callers that split a product between goroutines
// split C at multiples of MR rows (or B at multiples of NR columns). A
// packed operand's own tile is PackedB.Tile.
func GemmTile() (mr, nr int) {
	k := gemmActive()
	return k.mr, k.nr
}

// Tile returns the register tile MR×NR of the micro-kernel p was packed
// for (see GemmTile).
func (p *PackedB) Tile() (mr, nr int) { return p.kern.mr, p.kern.nr }

// GemmKernel names the micro-kernel of the implementation in use
// ("avx512", "avx2" or "go").
func GemmKernel() string { return gemmActive().name }

func roundUp(x, m int) int { return (x + m - 1) / m * m }

func checkMat(what string, s []float32, rows, cols, ld int) {
	if rows > 0 && cols > 0 && (ld < cols || len(s) < (rows-1)*ld+cols) {
		panic(fmt.Sprintf("asm.GemmF32: %s of %d×%d with stride %d does not fit in %d floats", what, rows, cols, ld, len(s)))
	}
}

// packA copies rows [i0, i0+mb) × columns [p0, p0+kb) of op(A) into panels
// of mr rows: panel q holds, for each p, the mr values of rows q·mr….
// Rows past mb are zero.
func packA(kern *gemmMicro, dst []float32, trans bool, a []float32, lda, i0, mb, p0, kb, mr int) {
	for ir := 0; ir < mb; ir += mr {
		rows := min(mr, mb-ir)
		panel := dst[ir*kb : ir*kb+mr*kb]
		if trans {
			packContig(kern, panel, a[(p0)*lda+i0+ir:], lda, kb, rows, mr)
		} else {
			packTransposed(kern, panel, a[(i0+ir)*lda+p0:], lda, kb, rows, mr)
		}
	}
}

// packBPanel packs one panel: rows [p0, p0+kb) × columns [j0, j0+cols) of
// op(B) into dst (kb×nr, columns past cols zero).
func packBPanel(kern *gemmMicro, dst []float32, trans bool, b []float32, ldb, p0, kb, j0, cols, nr int) {
	if trans {
		packTransposed(kern, dst, b[j0*ldb+p0:], ldb, kb, cols, nr)
	} else {
		packContig(kern, dst, b[p0*ldb+j0:], ldb, kb, cols, nr)
	}
}

// packContig writes dst[p*w+j] = src[p*ld+j] for p < kb, j < cols, and 0
// for cols ≤ j < w (w is the panel width).
func packContig(kern *gemmMicro, dst, src []float32, ld, kb, cols, w int) {
	dst = dst[:kb*w]
	if f := kern.copy; f != nil && w <= 32 && kb > 0 {
		_ = src[(kb-1)*ld+cols-1]
		f(dst, src, ld, kb, cols, w)
		return
	}
	if cols == w {
		switch w {
		case 32:
			for p := 0; p < kb; p++ {
				*(*[32]float32)(dst[p*32:]) = *(*[32]float32)(src[p*ld:])
			}
			return
		case 16:
			for p := 0; p < kb; p++ {
				*(*[16]float32)(dst[p*16:]) = *(*[16]float32)(src[p*ld:])
			}
			return
		case 12:
			for p := 0; p < kb; p++ {
				*(*[12]float32)(dst[p*12:]) = *(*[12]float32)(src[p*ld:])
			}
			return
		case 6:
			for p := 0; p < kb; p++ {
				*(*[6]float32)(dst[p*6:]) = *(*[6]float32)(src[p*ld:])
			}
			return
		case 4:
			for p := 0; p < kb; p++ {
				*(*[4]float32)(dst[p*4:]) = *(*[4]float32)(src[p*ld:])
			}
			return
		}
	}
	for p := 0; p < kb; p++ {
		d := dst[p*w : p*w+w]
		copy(d, src[p*ld:p*ld+cols])
		clear(d[cols:])
	}
}

// packTransposed writes dst[p*w+j] = src[j*ld+p] for p < kb, j < cols, and
// 0 for cols ≤ j < w: it interleaves cols rows of kb values.
func packTransposed(kern *gemmMicro, dst, src []float32, ld, kb, cols, w int) {
	dst = dst[:kb*w]
	if f := kern.gather; f != nil && w <= 32 && kb > 0 && ld < 1<<24 {
		_ = src[(cols-1)*ld+kb-1]
		f(dst, src, ld, kb, cols, w)
		return
	}
	j := 0
	// Four rows at a time: four sequential read streams, strided writes
	// that stay in one cache line per p.
	for ; j+4 <= cols; j += 4 {
		r0 := src[j*ld : j*ld+kb]
		r1 := src[(j+1)*ld : (j+1)*ld+kb]
		r2 := src[(j+2)*ld : (j+2)*ld+kb]
		r3 := src[(j+3)*ld : (j+3)*ld+kb]
		for p, v := range r0 {
			d := (*[4]float32)(dst[p*w+j:])
			d[0], d[1], d[2], d[3] = v, r1[p], r2[p], r3[p]
		}
	}
	for ; j < cols; j++ {
		r := src[j*ld : j*ld+kb]
		for p, v := range r {
			dst[p*w+j] = v
		}
	}
	if cols < w {
		for p := 0; p < kb; p++ {
			clear(dst[p*w+cols : p*w+w])
		}
	}
}

// gemmMicro is one micro-kernel: run computes the mr×nr tile from packed
// panels into c (row stride ldc), adding to c when add is set.
type gemmMicro struct {
	name   string
	mr, nr int
	run    func(k int, a, b, c []float32, ldc int, add bool)
	// Optional SIMD packing helpers (nil: the Go loops): copy does
	// packContig and gather packTransposed for panels up to 32 wide.
	copy, gather func(dst, src []float32, ld, kb, cols, w int)
}

// gemmGo is the portable micro-kernel (4×16), the fallback and the model of
// the generated ones.
var gemmGo = gemmMicro{name: "go", mr: 4, nr: 16, run: gemmKernelGo}

func gemmKernelGo(k int, a, b, c []float32, ldc int, add bool) {
	const mr, nr = 4, 16
	var t [mr][nr]float32
	a, b = a[:k*mr], b[:k*nr]
	for p := 0; p < k; p++ {
		bp := (*[nr]float32)(b[p*nr:])
		ap := (*[mr]float32)(a[p*mr:])
		for i, x := range ap {
			ti := &t[i]
			for j, y := range bp {
				ti[j] += x * y
			}
		}
	}
	for i := range mr {
		row := c[i*ldc : i*ldc+nr]
		if add {
			for j := range row {
				row[j] += t[i][j]
			}
		} else {
			copy(row, t[i][:])
		}
	}
}

// gemmActive is the micro-kernel of the implementation in use (see
// gemmFor, which each implementation's kernels get at init).
func gemmActive() *gemmMicro { return active.Load().gemm }

// gemmKernels lists the distinct micro-kernels of the implementations this
// CPU can run, best first, with an implementation that selects each.
func gemmKernels() (ks []*gemmMicro, impls []string) {
	for _, k := range available {
		if !slices.Contains(ks, k.gemm) {
			ks, impls = append(ks, k.gemm), append(impls, k.name)
		}
	}
	return ks, impls
}
