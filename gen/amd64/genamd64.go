// Command amd64 is the avo generator of the amd64 kernels of package asm.
// Run it through `go generate ./gen`; see ../gen.go.
//
// Every kernel has a pure-Go reference in asm/ref that defines its result;
// the integer kernels must match it bit for bit. The Go wrappers in
// asm/impl_amd64.go check lengths, split off tails and pick the variant, so
// the kernels here only handle whole vectors and trust their arguments.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/gotypes"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// isa is one instruction-set level.
type isa struct {
	name string // suffix of the kernel names
	zmm  bool   // 512-bit vectors (AVX-512F/BW/VL), else 256-bit AVX2
	vnni bool   // VPDPBUSD (AVX512-VNNI)
	maxN int    // most tokens per I2S kernel call
}

var (
	avx2   = isa{name: "AVX2", maxN: 4}
	avx512 = isa{name: "AVX512", zmm: true, maxN: 8}
	vnni   = isa{name: "VNNI", zmm: true, vnni: true, maxN: 8}
)

// vec allocates a vector register of the ISA's width.
func (s isa) vec() VecVirtual {
	if s.zmm {
		return ZMM()
	}
	return YMM()
}

// bytes is the vector width in bytes.
func (s isa) bytes() int {
	if s.zmm {
		return 64
	}
	return 32
}

// Read-only constants.
var (
	constMask3   Mem // 0x03 bytes (one dword, broadcast)
	constOnes16  Mem // int16 ones (one dword, broadcast)
	constAbs     Mem // 0x7fffffff (one dword, broadcast)
	constI2SMask Mem // code masks: 32 bytes each of 0xc0, 0x30, 0x0c, 0x03
	constI2SScl  Mem // VPSRAVD counts: 8 dwords each of 6, 4, 2, 0
	constPackPrm Mem // VPERMD order undoing VPACKSSDW+VPACKSSWB lane interleave
	constMin8    Mem // int32 -128
	constMax8    Mem // int32 127
	constX80     Mem // 0x80 bytes (one dword, broadcast)
)

func constants() {
	constMask3 = GLOBL("i2sMask3", RODATA|NOPTR)
	DATA(0, U32(0x03030303))
	constOnes16 = GLOBL("ones16", RODATA|NOPTR)
	DATA(0, U32(0x00010001))
	constAbs = GLOBL("absMaskF32", RODATA|NOPTR)
	DATA(0, U32(0x7fffffff))
	constMin8 = GLOBL("minI8", RODATA|NOPTR)
	DATA(0, U32(0xffffff80))
	constMax8 = GLOBL("maxI8", RODATA|NOPTR)
	DATA(0, U32(127))
	constI2SMask = GLOBL("i2sMasks", RODATA|NOPTR)
	for i, m := range []uint8{0xc0, 0x30, 0x0c, 0x03} {
		for j := 0; j < 32; j++ {
			DATA(32*i+j, U8(m))
		}
	}
	constI2SScl = GLOBL("i2sScales", RODATA|NOPTR)
	for i, sh := range []uint32{6, 4, 2, 0} {
		for j := 0; j < 8; j++ {
			DATA(32*i+4*j, U32(sh))
		}
	}
	constPackPrm = GLOBL("packPerm", RODATA|NOPTR)
	for i, v := range []uint32{0, 4, 1, 5, 2, 6, 3, 7} {
		DATA(4*i, U32(v))
	}
	constX80 = GLOBL("x80", RODATA|NOPTR)
	DATA(0, U32(0x80808080))
}

func main() {
	ConstraintExpr("gc,!purego")
	constants()
	blockConstants()

	for _, s := range []isa{avx2, avx512, vnni} {
		for n := 1; n <= s.maxN; n++ {
			i2sKernel(s, n)
		}
	}
	for _, s := range []isa{avx2, avx512} {
		absMax(s)
		quantizeI8(s)
		dotF32(s)
		dotF16(s)
		f16Dots(s)
		f32ToF16s(s)
		i2sOutputs(s)
		sumU64(s)
	}
	for _, s := range []isa{avx2, avx512} {
		for n := 2; n <= s.f16MaxN(); n++ {
			f16DotsN(s, n)
		}
	}
	for _, s := range []isa{avx2, avx512} {
		f16ToF32s(s)
		f16AXPY(s)
		f16AXPYStrided(s)
		f16DotsStrided(s)
	}
	for _, s := range []isa{avx2, avx512, vnni} {
		i8Dots(s)
	}
	blockKernels()
	Generate()
}

// ---------------------------------------------------------------------------
// I2_S × int8 dot products.
//
// Layout (asm/ref/i2s.go): a row of K elements is K/128 blocks of 32 bytes;
// byte p of a block holds the 2-bit codes of elements p, p+32, p+64, p+96 at
// shifts 6, 4, 2, 0. The kernels compute Σ code·q exactly in int32:
//
//   - VNNI: one 32-byte block W is broadcast to both halves of a zmm. W and
//     W<<4 (VPSLLW) masked with [0xc0|0x30] hold 64·g0|16·g1 and
//     64·g2|16·g3 (gN: the codes of group N), which line up with the two
//     64-byte halves of the block's activations. VPDPBUSD sums the u8×s8
//     products straight into int32 lanes, which keep the per-half scale;
//     a final VPSRAVD by [6|4] removes it exactly (every lane is a multiple
//     of its scale). A lane grows by at most 2·4·192·128 per block, so sums
//     are exact for rows of up to 8192 blocks (the Go side checks).
//   - AVX-512BW: the same broadcast, masked into 4·g0|g1 (after VPSRLW 4)
//     and 4·g2|g3, VPMADDUBSW into int16 pairs (|pair| ≤ 2·12·128, so four
//     of them add up without overflow), then VPMADDWD with ones into int32
//     and a final VPSRAVD by [2|0]. The fork's int16 accumulation over 32
//     blocks can overflow; this cannot.
//   - AVX2: a block in a ymm, codes by VPSRLW 6/4/2/0 and mask, then the same
//     VPMADDUBSW / VPADDW / VPMADDWD chain per block.
//
// Each kernel handles n tokens (n = 1..maxN) per weight row, so the code
// unpacking is shared by n tokens (prompt processing). Rows are processed
// in tiles: 1 row for n = 1 (see i2sTiles), 2 rows for
// the VNNI n > 1 kernels (each activation vector is loaded once into a
// register for both rows, halving the loads per VPDPBUSD), then single rows.
// Every tile prefetches the weights i2sPrefetch bytes ahead.
// ---------------------------------------------------------------------------

// i2sName is the name of the n-token I2_S kernel of an ISA.
func i2sName(s isa, n int) string { return fmt.Sprintf("i2sDots%sN%d", s.name, n) }

// i2sPrefetch is how far ahead of its loads, in bytes, a one-token I2_S
// kernel prefetches the weights (rows are consecutive, so this runs into
// the next rows whatever K is). Zen 3, AVX2, streaming GB/s by distance:
// 512 B 6.9–8.0, 1 KiB 7.7–9.8, 2 KiB 8.1–9.7, 4 KiB 8.3–11.7, 8 KiB
// 9.6–11.9, 16 KiB 7.9–9.1. Zen 4, AVX-512 (medians of five): 4 KiB 24,
// 8 KiB 21–26 (noisier), four rows ahead 22–24 GB/s
// (go test -bench 'Ternary$' ./asm).
func (s isa) i2sPrefetch() int {
	if s.zmm {
		return 4096
	}
	return 8192
}

// i2sState holds the registers shared by a kernel's tiles.
type i2sState struct {
	s    isa
	n    int
	dst  GPVirtual // output of row r, token 0
	ldd  GPVirtual // dst stride in bytes
	w    GPVirtual // current row's packed weights
	q    GPVirtual // token 0's activations
	ldq  GPVirtual // activation stride in bytes
	ldq3 GPVirtual // 3·ldq
	rb   GPVirtual // bytes per weight row
	nblk GPVirtual // blocks per row
	mask VecVirtual
	ones VecVirtual
	mA   VecVirtual // VNNI code mask [0xc0|0x30]
	mB   VecVirtual // AVX-512BW code mask [0x0c|0x03]
}

// i2sTiles lists the row tile sizes of a kernel, largest first.
//
// The one-token kernels (decode) walk a single row at a time with a far
// software prefetch (i2sPrefetch): streaming from DRAM, four interleaved
// row streams ran at 6.2–7.5 GB/s on AMD Zen 3 (AVX2) and 17–18 GB/s on
// Zen 4 (AVX-512), one row at a time at 10.5–11.9 and 22–26 GB/s (the
// plain streaming-read probes: 10.4 and 24–26).
func i2sTiles(s isa, n int) []int {
	switch {
	case n == 1:
		return []int{1}
	case s.vnni:
		return []int{2, 1}
	}
	return []int{1}
}

func i2sKernel(s isa, n int) {
	name := i2sName(s, n)
	TEXT(name, NOSPLIT, "func(dst *int32, ldd int, w *byte, q *int8, ldq int, rows int, nblk int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s sets dst[t·ldd + r] = Σ_k code(w, r, k)·q[t·ldq + k] for t < %d and", name, n),
		"r < rows, over rows consecutive I2_S rows of nblk 128-element blocks",
		"(nblk·32 bytes each). nblk ≥ 1; strides are in elements. Exact in int32",
		"for every input (VNNI: for nblk ≤ 8192). See generic.DotI2S.")
	st := &i2sState{s: s, n: n}
	st.dst = Load(Param("dst"), GP64()).(GPVirtual)
	st.ldd = Load(Param("ldd"), GP64()).(GPVirtual)
	SHLQ(U8(2), st.ldd)
	st.w = Load(Param("w"), GP64()).(GPVirtual)
	st.q = Load(Param("q"), GP64()).(GPVirtual)
	st.ldq = Load(Param("ldq"), GP64()).(GPVirtual)
	rows := Load(Param("rows"), GP64())
	st.nblk = Load(Param("nblk"), GP64()).(GPVirtual)
	st.rb = GP64().(GPVirtual)
	MOVQ(st.nblk, st.rb)
	SHLQ(U8(5), st.rb)
	if n >= 4 {
		st.ldq3 = GP64().(GPVirtual)
		LEAQ(Mem{Base: st.ldq, Index: st.ldq, Scale: 2}, st.ldq3)
	}

	switch {
	case s.vnni:
		st.mA = ZMM()
		VMOVDQU64(constI2SMask, st.mA)
	case s.zmm:
		st.ones = ZMM()
		VPBROADCASTD(constOnes16, st.ones)
		st.mB = ZMM()
		VMOVDQU64(constI2SMask.Offset(64), st.mB)
	default:
		st.ones = YMM()
		VPBROADCASTD(constOnes16, st.ones)
		st.mask = YMM()
		VPBROADCASTD(constMask3, st.mask)
	}

	tiles := i2sTiles(s, n)
	for i, R := range tiles {
		label := fmt.Sprintf("%s_tile%d", name, R)
		Label(label)
		if i < len(tiles)-1 {
			CMPQ(rows, U8(R))
			JL(LabelRef(fmt.Sprintf("%s_tile%d", name, tiles[i+1])))
		} else {
			TESTQ(rows, rows)
			JZ(LabelRef(name + "_done"))
		}
		st.tile(fmt.Sprintf("%s_r%d", name, R), R)
		if R == 2 { // the tile advanced w by one row
			ADDQ(st.rb, st.w)
		}
		ADDQ(U8(4*R), st.dst)
		SUBQ(U8(R), rows)
		JMP(LabelRef(label))
	}
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// wmem addresses byte off of row r (< 3) of the tile starting at base.
func (st *i2sState) wmem(base GPVirtual, r, off int) Mem {
	switch r {
	case 0:
		return Mem{Base: base, Disp: off}
	case 1:
		return Mem{Base: base, Index: st.rb, Scale: 1, Disp: off}
	case 2:
		return Mem{Base: base, Index: st.rb, Scale: 2, Disp: off}
	}
	panic("row")
}

// qmem addresses byte off of the current block of token t (qa holds token
// 0's pointer, qb token 4's).
func (st *i2sState) qmem(qa, qb GPVirtual, t, off int) Mem {
	base := qa
	if t >= 4 {
		base, t = qb, t-4
	}
	switch t {
	case 0:
		return Mem{Base: base, Disp: off}
	case 1:
		return Mem{Base: base, Index: st.ldq, Scale: 1, Disp: off}
	case 2:
		return Mem{Base: base, Index: st.ldq, Scale: 2, Disp: off}
	case 3:
		return Mem{Base: base, Index: st.ldq3, Scale: 1, Disp: off}
	}
	panic("token")
}

// tile emits the code for R rows × n tokens starting at st.w. On exit st.w
// points one row further (the caller skips the other R-1 rows) and the sums
// are stored at dst + 4r + t·ldd.
func (st *i2sState) tile(label string, R int) {
	s, n := st.s, st.n
	Commentf("%d row(s) × %d token(s)", R, n)
	// acc[r][t][h]: VNNI GEMV tiles use two accumulators per row (h
	// alternates between code vectors) to keep the VPDPBUSD dependency
	// chains short; everything else has enough independent chains.
	//
	// The VNNI n > 1 tiles hold up to 16 accumulators, 8 code vectors and
	// an activation vector; avo's greedy allocator does not always find a
	// colouring for that many, so their accumulators are pinned to
	// Z31, Z30, … and the allocator colours the rest.
	nh := 1
	if s.vnni && n == 1 {
		nh = 2
	}
	acc := make([][][]vreg, R)
	phys := 31
	for r := range acc {
		acc[r] = make([][]vreg, n)
		for t := range acc[r] {
			for h := 0; h < nh; h++ {
				var v vreg
				if s.vnni && n > 1 {
					v = zmmPhys[phys]
					phys--
				} else {
					v = s.vec()
				}
				zero(s, v)
				acc[r][t] = append(acc[r][t], v)
			}
		}
	}
	qa := GP64().(GPVirtual)
	MOVQ(st.q, qa)
	var qb GPVirtual
	if n > 4 {
		qb = GP64().(GPVirtual)
		LEAQ(Mem{Base: st.q, Index: st.ldq, Scale: 4}, qb)
	}
	cnt := GP64()
	MOVQ(st.nblk, cnt)

	// Software prefetch of the weights ahead of the loads: the hardware
	// prefetchers stop at 4 KiB page boundaries, and decoding streams every
	// weight from DRAM once per token. Every kernel prefetches a fixed
	// i2sPrefetch bytes ahead of each row of its tile. (The 512-bit n-token
	// kernels used to prefetch four rows ahead; on AMD Zen 5 the linear
	// distance streamed K2560×N6912 with 4 tokens at 56–58 GB/s of
	// token-weight bytes against 47–49, 8 and 16 rows ahead 49–54:
	// BenchmarkTernaryN, two rounds.)
	pf := GP64().(GPVirtual)
	LEAQ(Mem{Base: st.w, Disp: s.i2sPrefetch()}, pf)
	prefetch := func(step int) {
		for off := 0; off < step; off += 64 {
			for r := 0; r < R; r++ {
				PREFETCHT0(st.wmem(pf, r, off))
			}
		}
	}

	if s.zmm {
		// Pairs of blocks, then an odd block.
		SHRQ(U8(1), cnt)
		JZ(LabelRef(label + "_odd"))
		Label(label + "_pair")
		prefetch(64)
		st.blocks512(acc, R, 2, qa, qb)
		ADDQ(U8(64), st.w)
		ADDQ(U8(64), pf)
		ADDQ(U32(256), qa)
		if n > 4 {
			ADDQ(U32(256), qb)
		}
		DECQ(cnt)
		JNZ(LabelRef(label + "_pair"))

		Label(label + "_odd")
		TESTQ(U32(1), st.nblk)
		JZ(LabelRef(label + "_reduce"))
		st.blocks512(acc, R, 1, qa, qb)
		ADDQ(U8(32), st.w)
	} else {
		Label(label + "_block")
		if R == 1 {
			prefetch(32) // every line twice
		} else {
			// One line of each row per two blocks.
			TESTQ(U32(1), cnt)
			JZ(LabelRef(label + "_nopf"))
			prefetch(32)
			Label(label + "_nopf")
		}
		for r := 0; r < R; r++ {
			c := st.codes256(r)
			for t := 0; t < n; t++ {
				st.mac256(acc[r][t][0], c, qa, qb, t)
			}
		}
		ADDQ(U8(32), st.w)
		ADDQ(U8(32), pf)
		ADDQ(U32(128), qa)
		if n > 4 {
			ADDQ(U32(128), qb)
		}
		DECQ(cnt)
		JNZ(LabelRef(label + "_block"))
	}

	Label(label + "_reduce")
	sums := make([][]vreg, R)
	for r := 0; r < R; r++ {
		sums[r] = make([]vreg, n)
		for t := 0; t < n; t++ {
			a := acc[r][t]
			for h := 1; h < len(a); h++ {
				VPADDD(a[h], a[0], a[0])
			}
			// Remove the per-half scales of the 512-bit paths.
			switch {
			case s.vnni:
				VPSRAVD(constI2SScl, a[0], a[0])
			case s.zmm:
				VPSRAVD(constI2SScl.Offset(64), a[0], a[0])
			}
			sums[r][t] = a[0]
		}
	}
	// Row r, token t at dst + 4r + t·ldd.
	p := GP64()
	for r := 0; r < R; r++ {
		MOVQ(st.dst, p)
		for t0 := 0; t0 < n; t0 += 4 {
			k := min(4, n-t0)
			if k == 1 {
				x := reduce1(s, sums[r][t0])
				VMOVD(x, Mem{Base: p, Disp: 4 * r})
			} else {
				x := reduce4(s, sums[r][t0:t0+k])
				for i := 0; i < k; i++ {
					if i > 0 {
						ADDQ(st.ldd, p)
					}
					storeLane(x, i, Mem{Base: p, Disp: 4 * r})
				}
			}
			if t0+4 < n {
				ADDQ(st.ldd, p)
			}
		}
	}
}

// zmmPhys lists the physical zmm registers by number.
var zmmPhys = []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
	Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}

// vreg is a vector register, virtual or physical.
type vreg interface {
	Register
	Vec
}

// zero zeroes v (VPXORD is AVX-512F; VXORPS on zmm would need AVX-512DQ).
func zero(s isa, v Register) {
	if s.zmm {
		VPXORD(v, v, v)
	} else {
		VPXOR(v, v, v)
	}
}

// blocks512 accumulates nb (1 or 2) blocks of each row of the tile into acc.
func (st *i2sState) blocks512(acc [][][]vreg, R, nb int, qa, qb GPVirtual) {
	codes := make([][]VecVirtual, R)
	for r := 0; r < R; r++ {
		for b := 0; b < nb; b++ {
			codes[r] = append(codes[r], st.codes512(r, 32*b)...)
		}
	}
	for t := 0; t < st.n; t++ {
		if !st.s.vnni {
			for r := 0; r < R; r++ {
				st.maddubs512(acc[r][t][0], codes[r], qa, qb, t)
			}
			continue
		}
		for i := range codes[0] {
			m := st.qmem(qa, qb, t, 64*i)
			var a Op = m
			if R > 1 { // load once, use for every row
				v := ZMM()
				VMOVDQU64(m, v)
				a = v
			}
			for r := 0; r < R; r++ {
				h := acc[r][t]
				VPDPBUSD(a, codes[r][i], h[i%len(h)])
			}
		}
	}
}

// codes512 returns the two code vectors of the block at byte off of row r,
// scaled per half (see above), matching activation bytes 0..63 and 64..127
// of the block.
func (st *i2sState) codes512(r, off int) []VecVirtual {
	w := ZMM()
	VBROADCASTI64X4(st.wmem(st.w, r, off), w)
	a, b := ZMM(), ZMM()
	if st.s.vnni {
		VPANDD(st.mA, w, a) // 64·g0 | 16·g1
		VPSLLW(U8(4), w, b)
		VPANDD(st.mA, b, b) // 64·g2 | 16·g3
	} else {
		VPSRLW(U8(4), w, a)
		VPANDD(st.mB, a, a) // 4·g0 | g1
		VPANDD(st.mB, w, b) // 4·g2 | g3
	}
	return []VecVirtual{a, b}
}

// maddubs512 accumulates codes c (2 per block, 1 or 2 blocks) times token
// t's activations into acc (AVX-512BW).
func (st *i2sState) maddubs512(acc vreg, c []VecVirtual, qa, qb GPVirtual, t int) {
	// VPMADDUBSW: |int16 lane| ≤ 2·12·128 = 3072; up to 4 summed in int16.
	m := make([]VecVirtual, len(c))
	for i, v := range c {
		m[i] = ZMM()
		VPMADDUBSW(st.qmem(qa, qb, t, 64*i), v, m[i])
	}
	for len(m) > 1 {
		VPADDW(m[1], m[0], m[0])
		if len(m) == 4 {
			VPADDW(m[3], m[2], m[2])
			m = []VecVirtual{m[0], m[2]}
			continue
		}
		m = m[:1]
	}
	VPMADDWD(st.ones, m[0], m[0])
	VPADDD(m[0], acc, acc)
}

// codes256 returns the four code vectors g0..g3 of the current block of row r.
func (st *i2sState) codes256(r int) []VecVirtual {
	w := YMM()
	VMOVDQU(st.wmem(st.w, r, 0), w)
	c := make([]VecVirtual, 4)
	for g, sh := range []int{6, 4, 2} {
		c[g] = YMM()
		VPSRLW(U8(sh), w, c[g])
		VPAND(st.mask, c[g], c[g])
	}
	c[3] = YMM()
	VPAND(st.mask, w, c[3])
	return c
}

func (st *i2sState) mac256(acc vreg, c []VecVirtual, qa, qb GPVirtual, t int) {
	m := make([]VecVirtual, 4)
	for g := range c {
		m[g] = YMM()
		VPMADDUBSW(st.qmem(qa, qb, t, 32*g), c[g], m[g])
	}
	VPADDW(m[1], m[0], m[0])
	VPADDW(m[3], m[2], m[2])
	VPADDW(m[2], m[0], m[0])
	VPMADDWD(st.ones, m[0], m[0])
	VPADDD(m[0], acc, acc)
}

// reduce4 sums each of up to four int32 vectors into lane i of an xmm,
// using only instructions with EVEX forms (so any register may be used).
func reduce4(s isa, v []vreg) VecVirtual { return reduce4With(s, v, VPADDD) }

// addFunc is a lane-wise vector add (VPADDD for int32, VADDPS for float32).
type addFunc func(...Op)

// reduce4With is reduce4 with the lane-wise add add.
func reduce4With(s isa, v []vreg, add addFunc) VecVirtual {
	v = append([]vreg(nil), v...)
	for len(v) < 4 {
		z := s.vec()
		zero(s, z)
		v = append(v, z)
	}
	pair := func(a, b vreg) VecVirtual {
		lo, hi := s.vec(), s.vec()
		VPUNPCKLDQ(b, a, lo) // a0 b0 a1 b1
		VPUNPCKHDQ(b, a, hi) // a2 b2 a3 b3
		add(hi, lo, lo)
		return lo
	}
	ab, cd := pair(v[0], v[1]), pair(v[2], v[3])
	lo, hi := s.vec(), s.vec()
	VPUNPCKLQDQ(cd, ab, lo)
	VPUNPCKHQDQ(cd, ab, hi)
	add(hi, lo, lo) // per 128-bit lane: a b c d
	return foldLanesWith(s, lo, add)
}

// reduce1 sums the int32 lanes of v into every lane of an xmm.
func reduce1(s isa, v vreg) VecVirtual { return reduce1With(s, v, VPADDD) }

// reduce1With is reduce1 with the lane-wise add add.
func reduce1With(s isa, v vreg, add addFunc) VecVirtual {
	x := foldLanesWith(s, v, add)
	t := XMM()
	VPSHUFD(U8(0x4e), x, t)
	add(t, x, x)
	VPSHUFD(U8(0xb1), x, t)
	add(t, x, x)
	return x
}

// foldLanes adds the 128-bit lanes of v.
func foldLanes(s isa, v vreg) VecVirtual { return foldLanesWith(s, v, VPADDD) }

// foldLanesWith is foldLanes with the lane-wise add add.
func foldLanesWith(s isa, v vreg, add addFunc) VecVirtual {
	var y vreg = v
	if s.zmm {
		y = YMM()
		VEXTRACTI64X4(U8(1), v, y)
		add(y, v.AsY(), y)
	}
	x := XMM()
	if s.zmm {
		VEXTRACTI32X4(U8(1), y, x)
	} else {
		VEXTRACTI128(U8(1), y, x)
	}
	add(x, y.AsX(), x)
	return x
}

// storeLane stores int32 lane i of x.
func storeLane(x VecVirtual, i int, m Mem) {
	if i == 0 {
		VMOVD(x, m)
		return
	}
	t := XMM()
	VPSHUFD(U8(i), x, t)
	VMOVD(t, m)
}

// ---------------------------------------------------------------------------
// Activation quantization (ref.QuantizeI8): max|x| here, 127/max in Go
// (float64, as the reference), then q = clamp(RNE(x·s)) and Σq here.
// ---------------------------------------------------------------------------

func absMax(s isa) {
	name := "absMax" + s.name
	TEXT(name, NOSPLIT, "func(x *float32, n int) float32")
	Pragma("noescape")
	Doc(name+" returns max |x[i]| over n floats (n a positive multiple of 4 vectors),",
		"ignoring NaNs; 0 if all are NaN.")
	x := Load(Param("x"), GP64())
	n := Load(Param("n"), GP64())
	abs := s.vec()
	VBROADCASTSS(constAbs, abs)
	acc := []VecVirtual{s.vec(), s.vec(), s.vec(), s.vec()}
	for _, a := range acc {
		zero(s, a)
	}
	shift := 4 // log2(floats per vector)
	if !s.zmm {
		shift = 3
	}
	SHRQ(U8(shift+2), n)
	Label(name + "_loop")
	for i, a := range acc {
		v := s.vec()
		if s.zmm {
			VPANDD(Mem{Base: x, Disp: i * s.bytes()}, abs, v)
		} else {
			VANDPS(Mem{Base: x, Disp: i * s.bytes()}, abs, v)
		}
		// Operands: MAXPS returns its second source (the accumulator) when
		// the first (|x|) is NaN, so NaNs are skipped like the reference's
		// "a > m" test.
		VMAXPS(a, v, a)
	}
	ADDQ(U32(4*s.bytes()), x)
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))
	x1 := foldAcc(s, acc, VMAXPS)
	VZEROUPPER()
	VMOVSS(x1, addr(ReturnIndex(0)))
	RET()
}

func quantizeI8(s isa) {
	name := "quantizeI8" + s.name
	TEXT(name, NOSPLIT, "func(dst *int8, x *float32, n int, scale float32) int32")
	Pragma("noescape")
	Doc(name+" sets dst[i] = clamp(roundHalfEven(x[i]·scale), -128, 127) for n",
		"floats (n a positive multiple of 4 vectors) and returns Σ dst[i]. It relies on",
		"MXCSR's default round-to-nearest-even mode, which Go never changes.")
	dst := Load(Param("dst"), GP64())
	x := Load(Param("x"), GP64())
	n := Load(Param("n"), GP64())
	scale, lo, hi, sum := s.vec(), s.vec(), s.vec(), s.vec()
	VBROADCASTSS(addr(Param("scale")), scale)
	VPBROADCASTD(constMin8, lo)
	VPBROADCASTD(constMax8, hi)
	zero(s, sum)
	var perm VecVirtual
	if !s.zmm {
		perm = YMM()
		VMOVDQU(constPackPrm, perm)
	}
	shift := 6 // log2(floats per iteration)
	if !s.zmm {
		shift = 5
	}
	SHRQ(U8(shift), n)
	Label(name + "_loop")
	q := make([]VecVirtual, 4)
	for i := range q {
		q[i] = s.vec()
		VMULPS(Mem{Base: x, Disp: i * s.bytes()}, scale, q[i])
		VCVTPS2DQ(q[i], q[i])
	}
	if s.zmm {
		for i := range q {
			VPMOVSDB(q[i], Mem{Base: dst, Disp: 16 * i})
		}
	} else {
		a, b := YMM(), YMM()
		VPACKSSDW(q[1], q[0], a)
		VPACKSSDW(q[3], q[2], b)
		VPACKSSWB(b, a, a)
		VPERMD(a, perm, a)
		VMOVDQU(a, Mem{Base: dst})
	}
	for i := range q {
		VPMAXSD(lo, q[i], q[i])
		VPMINSD(hi, q[i], q[i])
	}
	VPADDD(q[1], q[0], q[0])
	VPADDD(q[3], q[2], q[2])
	VPADDD(q[2], q[0], q[0])
	VPADDD(q[0], sum, sum)
	ADDQ(U32(4*s.bytes()), x)
	ADDQ(U8(4*s.bytes()/4), dst)
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))
	r := reduce1(s, sum)
	out := GP32()
	VMOVD(r, out)
	VZEROUPPER()
	Store(out, ReturnIndex(0))
	RET()
}

// ---------------------------------------------------------------------------
// Float kernels (float32 accumulation, 4 vector accumulators; the summation
// order differs from the references', so tests use a relative tolerance).
// ---------------------------------------------------------------------------

// sumAcc adds four float vectors and the lanes of the result into an xmm's
// lane 0.
func sumAcc(s isa, acc []VecVirtual) VecVirtual { return foldAcc(s, acc, VADDPS) }

// foldAcc combines four float vectors and then the lanes of the result with
// op (VADDPS for a sum, VMAXPS for a maximum) into an xmm's lane 0.
func foldAcc(s isa, acc []VecVirtual, op addFunc) VecVirtual {
	op(acc[1], acc[0], acc[0])
	op(acc[3], acc[2], acc[2])
	op(acc[2], acc[0], acc[0])
	m := acc[0]
	if s.zmm {
		y := YMM()
		VEXTRACTF64X4(U8(1), m, y)
		op(y, m.AsY(), y)
		m = y
	}
	x := XMM()
	if s.zmm {
		VEXTRACTF32X4(U8(1), m, x)
	} else {
		VEXTRACTF128(U8(1), m, x)
	}
	op(x, m.AsX(), x)
	t := XMM()
	VPSHUFD(U8(0x4e), x, t)
	op(t, x, x)
	VPSHUFD(U8(0xb1), x, t)
	op(t, x, x)
	return x
}

func dotF32(s isa) {
	name := "dotF32" + s.name
	TEXT(name, NOSPLIT, "func(a, b *float32, n int) float32")
	Pragma("noescape")
	Doc(name + " returns Σ a[i]·b[i] over n floats (n a positive multiple of 4 vectors).")
	a := Load(Param("a"), GP64())
	b := Load(Param("b"), GP64())
	n := Load(Param("n"), GP64())
	acc := []VecVirtual{s.vec(), s.vec(), s.vec(), s.vec()}
	for _, v := range acc {
		zero(s, v)
	}
	shift := 6
	if !s.zmm {
		shift = 5
	}
	SHRQ(U8(shift), n)
	Label(name + "_loop")
	for i, v := range acc {
		t := s.vec()
		VMOVUPS(Mem{Base: a, Disp: i * s.bytes()}, t)
		VFMADD231PS(Mem{Base: b, Disp: i * s.bytes()}, t, v)
	}
	ADDQ(U32(4*s.bytes()), a)
	ADDQ(U32(4*s.bytes()), b)
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))
	x := sumAcc(s, acc)
	VZEROUPPER()
	VMOVSS(x, addr(ReturnIndex(0)))
	RET()
}

// cvtF16 loads the binary16 values for one vector of floats.
func cvtF16(s isa, m Mem) VecVirtual {
	v := s.vec()
	VCVTPH2PS(m, v)
	return v
}

func dotF16(s isa) {
	name := "dotF16" + s.name
	TEXT(name, NOSPLIT, "func(a, b *uint16, n int) float32")
	Pragma("noescape")
	Doc(name+" returns Σ f32(a[i])·f32(b[i]) over n binary16 values (n a positive",
		"multiple of 4 vectors of floats), accumulated in float32.")
	a := Load(Param("a"), GP64())
	b := Load(Param("b"), GP64())
	n := Load(Param("n"), GP64())
	acc := []VecVirtual{s.vec(), s.vec(), s.vec(), s.vec()}
	for _, v := range acc {
		zero(s, v)
	}
	shift := 6
	if !s.zmm {
		shift = 5
	}
	SHRQ(U8(shift), n)
	hb := s.bytes() / 2 // bytes of halves per vector of floats
	Label(name + "_loop")
	for i, v := range acc {
		x := cvtF16(s, Mem{Base: a, Disp: i * hb})
		y := cvtF16(s, Mem{Base: b, Disp: i * hb})
		VFMADD231PS(x, y, v)
	}
	ADDQ(U32(4*hb), a)
	ADDQ(U32(4*hb), b)
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))
	x := sumAcc(s, acc)
	VZEROUPPER()
	VMOVSS(x, addr(ReturnIndex(0)))
	RET()
}

func f16Dots(s isa) {
	name := "f16Dots" + s.name
	TEXT(name, NOSPLIT, "func(dst *float32, w *uint16, x *float32, rows int, k int)")
	Pragma("noescape")
	Doc(name+" sets dst[r] = Σ_i f32(w[r·k + i])·x[i] for r < rows over the first",
		"k &^ (vector floats − 1) columns (k ≥ one vector), accumulated in float32.")
	dst := Load(Param("dst"), GP64())
	w := Load(Param("w"), GP64())
	xp := Load(Param("x"), GP64())
	rows := Load(Param("rows"), GP64())
	k := Load(Param("k"), GP64())
	vf := s.bytes() / 4 // floats per vector
	// Row stride in bytes, and the counts of 4-vector and 1-vector steps.
	stride := GP64()
	LEAQ(Mem{Base: k, Index: k, Scale: 1}, stride)
	n4, n1 := GP64(), GP64()
	MOVQ(k, n4)
	SHRQ(U8(bits(4*vf)), n4)
	MOVQ(k, n1)
	ANDQ(U32(4*vf-1), n1)
	SHRQ(U8(bits(vf)), n1)

	Label(name + "_row")
	acc := []VecVirtual{s.vec(), s.vec(), s.vec(), s.vec()}
	for _, v := range acc {
		zero(s, v)
	}
	wp, xq, c := GP64(), GP64(), GP64()
	MOVQ(w, wp)
	MOVQ(xp, xq)
	MOVQ(n4, c)
	TESTQ(c, c)
	JZ(LabelRef(name + "_one"))
	// Software prefetch ahead of the loads (the head streams ~650 MB of
	// weights). The AVX2 loop takes two 4-vector steps per iteration
	// (the same accumulators in the same order, so the sums do not change)
	// and prefetches 1 KiB ahead: on Zen 3 that streamed at 9.9–10.1 GB/s
	// against 7.7–8.4 for one step and 2 KiB (BenchmarkF16Head).
	four := func(disp int) {
		for i, v := range acc {
			h := cvtF16(s, Mem{Base: wp, Disp: disp + i*vf*2})
			VFMADD231PS(Mem{Base: xq, Disp: 2*disp + i*vf*4}, h, v)
		}
	}
	if !s.zmm {
		// c counts 4-vector steps: pairs first, then an odd one.
		pairs := GP64()
		MOVQ(c, pairs)
		SHRQ(U8(1), pairs)
		JZ(LabelRef(name + "_odd"))
		Label(name + "_pair")
		for off := 0; off < 8*vf*2; off += 64 {
			PREFETCHT0(Mem{Base: wp, Disp: 1024 + off})
		}
		four(0)
		four(4 * vf * 2)
		ADDQ(U32(8*vf*2), wp)
		ADDQ(U32(8*vf*4), xq)
		DECQ(pairs)
		JNZ(LabelRef(name + "_pair"))
		Label(name + "_odd")
		TESTQ(U32(1), c)
		JZ(LabelRef(name + "_one"))
	}
	Label(name + "_four")
	for off := 0; off < 4*vf*2; off += 64 {
		PREFETCHT0(Mem{Base: wp, Disp: 2048 + off})
	}
	four(0)
	ADDQ(U32(4*vf*2), wp)
	ADDQ(U32(4*vf*4), xq)
	if s.zmm { // AVX2 runs this step at most once, after the pairs
		DECQ(c)
		JNZ(LabelRef(name + "_four"))
	}
	Label(name + "_one")
	MOVQ(n1, c)
	TESTQ(c, c)
	JZ(LabelRef(name + "_sum"))
	Label(name + "_oneloop")
	h := cvtF16(s, Mem{Base: wp})
	VFMADD231PS(Mem{Base: xq}, h, acc[0])
	ADDQ(U32(vf*2), wp)
	ADDQ(U32(vf*4), xq)
	DECQ(c)
	JNZ(LabelRef(name + "_oneloop"))
	Label(name + "_sum")
	x := sumAcc(s, acc)
	VMOVSS(x, Mem{Base: dst})
	ADDQ(U8(4), dst)
	ADDQ(stride, w)
	DECQ(rows)
	JNZ(LabelRef(name + "_row"))
	VZEROUPPER()
	RET()
}

// f16MaxN is the most tokens an f16DotsN kernel takes: four accumulators
// per token and the four converted weight vectors must fit the registers,
// and the tokens' activations L1 (4 × 2560 floats of the 2B4T head are
// 40 KiB; with 6 tokens the kernel ran slower than 4 + 2).
func (s isa) f16MaxN() int {
	if s.zmm {
		return 4 // 16 + 4 of 32 registers
	}
	return 3 // 12 + 4 of 16
}

// f16DotsN is f16Dots for n tokens at once: each weight vector is
// converted once and multiplied with every token. Each token's
// accumulators see exactly the operations f16Dots performs for it (the
// same four interleaved accumulators, the same tail, the same fold), so
// its results equal f16Dots' bit for bit: a row of a multi-sequence head
// equals the head of that sequence alone.
func f16DotsN(s isa, n int) {
	name := fmt.Sprintf("f16Dots%sN%d", s.name, n)
	TEXT(name, NOSPLIT, "func(dst *float32, ldd int, w *uint16, x *float32, ldx int, rows int, k int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s sets dst[t·ldd + r] = Σ_i f32(w[r·k + i])·x[t·ldx + i] for t < %d, r < rows,", name, n),
		"over the first k &^ (vector floats − 1) columns (k ≥ one vector), as f16Dots does per token.")
	dst := Load(Param("dst"), GP64())
	w := Load(Param("w"), GP64())
	rows := Load(Param("rows"), GP64())
	k := Load(Param("k"), GP64())
	ldx := Load(Param("ldx"), GP64())
	SHLQ(U8(2), ldx) // bytes
	vf := s.bytes() / 4
	stride := GP64()
	LEAQ(Mem{Base: k, Index: k, Scale: 1}, stride)
	n4, n1 := GP64(), GP64()
	MOVQ(k, n4)
	SHRQ(U8(bits(4*vf)), n4)
	MOVQ(k, n1)
	ANDQ(U32(4*vf-1), n1)
	SHRQ(U8(bits(vf)), n1)
	// Token t's activations: xa + t·ldx for t < 3, xb + (t−3)·ldx after.
	xmem := func(xa, xb GPVirtual, t, disp int) Mem {
		base := xa
		if t >= 3 {
			base, t = xb, t-3
		}
		if t == 0 {
			return Mem{Base: base, Disp: disp}
		}
		return Mem{Base: base, Index: ldx, Scale: uint8(t), Disp: disp}
	}

	Label(name + "_row")
	acc := make([][]VecVirtual, n)
	for t := range acc {
		acc[t] = []VecVirtual{s.vec(), s.vec(), s.vec(), s.vec()}
		for _, v := range acc[t] {
			zero(s, v)
		}
	}
	wp, xa, xb, c := GP64(), GP64(), GP64(), GP64()
	MOVQ(w, wp)
	Load(Param("x"), xa)
	LEAQ(Mem{Base: xa, Index: ldx, Scale: 2}, xb)
	ADDQ(ldx, xb)
	MOVQ(n4, c)
	TESTQ(c, c)
	JZ(LabelRef(name + "_one"))
	Label(name + "_four")
	for off := 0; off < 4*vf*2; off += 64 {
		PREFETCHT0(Mem{Base: wp, Disp: 2048 + off})
	}
	hs := make([]VecVirtual, 4)
	for i := range hs {
		hs[i] = cvtF16(s, Mem{Base: wp, Disp: i * vf * 2})
	}
	for t := range n {
		for i, v := range acc[t] {
			VFMADD231PS(xmem(xa, xb, t, i*vf*4), hs[i], v)
		}
	}
	ADDQ(U32(4*vf*2), wp)
	ADDQ(U32(4*vf*4), xa)
	ADDQ(U32(4*vf*4), xb)
	DECQ(c)
	JNZ(LabelRef(name + "_four"))
	Label(name + "_one")
	MOVQ(n1, c)
	TESTQ(c, c)
	JZ(LabelRef(name + "_sum"))
	Label(name + "_oneloop")
	h := cvtF16(s, Mem{Base: wp})
	for t := range n {
		VFMADD231PS(xmem(xa, xb, t, 0), h, acc[t][0])
	}
	ADDQ(U32(vf*2), wp)
	ADDQ(U32(vf*4), xa)
	ADDQ(U32(vf*4), xb)
	DECQ(c)
	JNZ(LabelRef(name + "_oneloop"))
	Label(name + "_sum")
	ldd := Load(Param("ldd"), GP64())
	SHLQ(U8(2), ldd)
	dp := GP64()
	MOVQ(dst, dp)
	for t := range n {
		x := sumAcc(s, acc[t])
		VMOVSS(x, Mem{Base: dp})
		if t < n-1 {
			ADDQ(ldd, dp)
		}
	}
	ADDQ(U8(4), dst)
	ADDQ(stride, w)
	DECQ(rows)
	JNZ(LabelRef(name + "_row"))
	VZEROUPPER()
	RET()
}

// addr is the frame address of a parameter or result. (Load and Store use
// SSE moves for floats, which cannot reach X16–X31.)
func addr(c gotypes.Component) Mem {
	b, err := c.Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

func bits(n int) int {
	b := 0
	for 1<<b < n {
		b++
	}
	return b
}

func f32ToF16s(s isa) {
	name := "f32ToF16s" + s.name
	TEXT(name, NOSPLIT, "func(dst *uint16, src *float32, n int)")
	Pragma("noescape")
	Doc(name+" converts n floats (n a positive multiple of 4 vectors) to binary16,",
		"rounding to nearest even (VCVTPS2PH immediate 0), like ref.F32ToF16.")
	dst := Load(Param("dst"), GP64())
	src := Load(Param("src"), GP64())
	n := Load(Param("n"), GP64())
	shift := 6
	if !s.zmm {
		shift = 5
	}
	SHRQ(U8(shift), n)
	Label(name + "_loop")
	for i := 0; i < 4; i++ {
		v := s.vec()
		VMOVUPS(Mem{Base: src, Disp: i * s.bytes()}, v)
		VCVTPS2PH(U8(0), v, Mem{Base: dst, Disp: i * s.bytes() / 2})
	}
	ADDQ(U32(4*s.bytes()), src)
	ADDQ(U32(2*s.bytes()), dst)
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))
	VZEROUPPER()
	RET()
}

// i2sOutputs is the I2_S output scaling of one token's row dots:
// generic.I2SOutput's subtract, divide and multiply, each rounded to
// float32 in that order. VCVTDQ2PS rounds as Go's float32(int32) does (to
// nearest even, MXCSR as Go leaves it), VDIVPS is the correctly rounded
// division (not VRCPPS), and there is no FMA, so every lane is bit-exact
// with the scalar formula.
func i2sOutputs(s isa) {
	name := "i2sOutputs" + s.name
	TEXT(name, NOSPLIT, "func(y *float32, raw *int32, n int, sum float32, s float32, gamma float32)")
	Pragma("noescape")
	Doc(name+" sets y[i] = (float32(raw[i]) − sum) / s · gamma for n outputs (n a",
		"positive multiple of one vector; sum already float32): bit-exact with",
		"generic.I2SOutput.")
	y := Load(Param("y"), GP64())
	raw := Load(Param("raw"), GP64())
	n := Load(Param("n"), GP64())
	sum, sc, gamma := s.vec(), s.vec(), s.vec()
	VBROADCASTSS(addr(Param("sum")), sum)
	VBROADCASTSS(addr(Param("s")), sc)
	VBROADCASTSS(addr(Param("gamma")), gamma)
	vecLoops(name, s, n, func(v int) {
		x := s.vec()
		VCVTDQ2PS(Mem{Base: raw, Disp: v * s.bytes()}, x)
		VSUBPS(sum, x, x)
		VDIVPS(sc, x, x)
		VMULPS(gamma, x, x)
		VMOVUPS(x, Mem{Base: y, Disp: v * s.bytes()})
	}, func(nv int) {
		ADDQ(U32(nv*s.bytes()), raw)
		ADDQ(U32(nv*s.bytes()), y)
	})
}

// ---------------------------------------------------------------------------
// Memory bandwidth probe (benchmarks only).
// ---------------------------------------------------------------------------

func sumU64(s isa) {
	name := "sumU64" + s.name
	TEXT(name, NOSPLIT, "func(p *byte, n int) uint64")
	Pragma("noescape")
	Doc(name+" returns the wrapping sum of the n/8 uint64 words at p (n a positive",
		"multiple of 4 vectors), with the same software prefetch distance as the",
		"ternary GEMV. It exists to measure streaming read bandwidth: the ceiling",
		"for the memory-bound kernels (BenchmarkMemRead).")
	ptr := Load(Param("p"), GP64())
	n := Load(Param("n"), GP64())
	acc := []VecVirtual{s.vec(), s.vec(), s.vec(), s.vec()}
	for _, v := range acc {
		zero(s, v)
	}
	step := 4 * s.bytes()
	SHRQ(U8(bits(step)), n)
	Label(name + "_loop")
	for off := 0; off < step; off += 64 {
		PREFETCHT0(Mem{Base: ptr, Disp: 2048 + off})
	}
	for i, v := range acc {
		VPADDQ(Mem{Base: ptr, Disp: i * s.bytes()}, v, v)
	}
	ADDQ(U32(step), ptr)
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))
	VPADDQ(acc[1], acc[0], acc[0])
	VPADDQ(acc[3], acc[2], acc[2])
	VPADDQ(acc[2], acc[0], acc[0])
	x := foldLanesQ(s, acc[0])
	t := XMM()
	VPSHUFD(U8(0x4e), x, t)
	VPADDQ(t, x, x)
	out := GP64()
	VMOVQ(x, out)
	VZEROUPPER()
	Store(out, ReturnIndex(0))
	RET()
}

// foldLanesQ adds the 128-bit lanes of v as uint64s.
func foldLanesQ(s isa, v VecVirtual) VecVirtual {
	y := v
	if s.zmm {
		y = YMM()
		VEXTRACTI64X4(U8(1), v, y)
		VPADDQ(y, v.AsY(), y)
	}
	x := XMM()
	if s.zmm {
		VEXTRACTI32X4(U8(1), y, x)
	} else {
		VEXTRACTI128(U8(1), y, x)
	}
	VPADDQ(x, y.AsX(), x)
	return x
}

// ---------------------------------------------------------------------------
// Attention over a binary16 KV cache (ref/attn.go): bulk conversion, the
// probability × value accumulation and the query × key scores.
// ---------------------------------------------------------------------------

// vecLoops emits a loop over n floats (n a positive multiple of one
// vector; the register is consumed) four vectors per step, then one:
// body(v) emits vector v of the step (v < 4, or v = 0 in the single-vector
// loop) at offset v vectors from the pointers, and next(nv) advances the
// pointers by nv vectors. It ends the function (VZEROUPPER, RET).
func vecLoops(name string, s isa, n Register, body func(v int), next func(nv int)) {
	vf := s.bytes() / 4
	n1 := GP64()
	MOVQ(n, n1)
	ANDQ(U32(4*vf-1), n1)
	SHRQ(U8(bits(vf)), n1)
	SHRQ(U8(bits(4*vf)), n)
	JZ(LabelRef(name + "_one"))
	Label(name + "_four")
	for v := 0; v < 4; v++ {
		body(v)
	}
	next(4)
	DECQ(n)
	JNZ(LabelRef(name + "_four"))
	Label(name + "_one")
	TESTQ(n1, n1)
	JZ(LabelRef(name + "_done"))
	Label(name + "_oneloop")
	body(0)
	next(1)
	DECQ(n1)
	JNZ(LabelRef(name + "_oneloop"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

func f16ToF32s(s isa) {
	name := "f16ToF32s" + s.name
	TEXT(name, NOSPLIT, "func(dst *float32, src *uint16, n int)")
	Pragma("noescape")
	Doc(name+" converts n binary16 values (n a positive multiple of one vector of",
		"floats) to float32 with VCVTPH2PS: exact, NaNs quieted, bit-exact with",
		"ref.F16ToF32.")
	dst := Load(Param("dst"), GP64())
	src := Load(Param("src"), GP64())
	n := Load(Param("n"), GP64())
	hb := s.bytes() / 2
	vecLoops(name, s, n, func(v int) {
		VMOVUPS(cvtF16(s, Mem{Base: src, Disp: v * hb}), Mem{Base: dst, Disp: v * s.bytes()})
	}, func(nv int) {
		ADDQ(U32(nv*hb), src)
		ADDQ(U32(nv*s.bytes()), dst)
	})
}

func f16AXPY(s isa) {
	name := "f16AXPY" + s.name
	TEXT(name, NOSPLIT, "func(dst *float32, a float32, x *uint16, n int)")
	Pragma("noescape")
	Doc(name+" sets dst[i] += a·f32(x[i]) for n floats (n a positive multiple",
		"of one vector). The product is rounded before the add (VMULPS, then",
		"VADDPS: no FMA), so the result is bit-exact with ref.F16AXPY.")
	dst := Load(Param("dst"), GP64())
	x := Load(Param("x"), GP64())
	n := Load(Param("n"), GP64())
	a := s.vec()
	VBROADCASTSS(addr(Param("a")), a)
	hb := s.bytes() / 2
	vecLoops(name, s, n, func(v int) {
		d := Mem{Base: dst, Disp: v * s.bytes()}
		p := cvtF16(s, Mem{Base: x, Disp: v * hb})
		VMULPS(a, p, p)
		VADDPS(d, p, p)
		VMOVUPS(p, d)
	}, func(nv int) {
		ADDQ(U32(nv*hb), x)
		ADDQ(U32(nv*s.bytes()), dst)
	})
}

// f16AXPYStrided keeps a block of up to four vectors of dst in registers
// while it adds every row's products, in row order, so each element sees
// exactly the operations of one f16AXPY per row. The block's lines are
// prefetched 8 rows ahead, as in f16DotsStrided (4096 positions: 19 µs
// instead of 22).
func f16AXPYStrided(s isa) {
	name := "f16AXPYStrided" + s.name
	TEXT(name, NOSPLIT, "func(dst *float32, a *float32, x *uint16, stride int, rows int, n int)")
	Pragma("noescape")
	Doc(name+" sets dst[i] += a[j]·f32(x[j·stride + i]) for j = 0, 1, …, rows−1",
		"in turn (rows ≥ 1) and i < n (n a positive multiple of one vector; stride",
		"in elements), with VMULPS then VADDPS (no FMA): bit-exact with rows calls",
		"of f16AXPY.")
	dst := Load(Param("dst"), GP64())
	ap := Load(Param("a"), GP64())
	x := Load(Param("x"), GP64())
	sb := Load(Param("stride"), GP64())
	SHLQ(U8(1), sb) // bytes
	rows := Load(Param("rows"), GP64())
	n := Load(Param("n"), GP64())
	vf := s.bytes() / 4
	hb := s.bytes() / 2
	n1 := GP64()
	MOVQ(n, n1)
	ANDQ(U32(4*vf-1), n1)
	SHRQ(U8(bits(vf)), n1)
	SHRQ(U8(bits(4*vf)), n)
	for _, V := range []int{4, 1} {
		label := fmt.Sprintf("%s_cols%d", name, V)
		cnt := n
		if V == 1 {
			cnt = n1
		}
		Label(label)
		TESTQ(cnt, cnt)
		if V == 4 {
			JZ(LabelRef(name + "_cols1"))
		} else {
			JZ(LabelRef(name + "_done"))
		}
		acc := make([]VecVirtual, V)
		for v := range acc {
			acc[v] = s.vec()
			VMOVUPS(Mem{Base: dst, Disp: v * s.bytes()}, acc[v])
		}
		ar, xr, c := GP64(), GP64(), GP64()
		MOVQ(ap, ar)
		MOVQ(x, xr)
		MOVQ(rows, c)
		pf := GP64()
		LEAQ(Mem{Base: xr, Index: sb, Scale: 8}, pf)
		Label(label + "_row")
		for off := 0; off < V*hb; off += 64 {
			PREFETCHT0(Mem{Base: pf, Disp: off})
		}
		ADDQ(sb, pf)
		av := s.vec()
		VBROADCASTSS(Mem{Base: ar}, av)
		for v := range acc {
			p := cvtF16(s, Mem{Base: xr, Disp: v * hb})
			VMULPS(av, p, p)
			VADDPS(p, acc[v], acc[v])
		}
		ADDQ(U8(4), ar)
		ADDQ(sb, xr)
		DECQ(c)
		JNZ(LabelRef(label + "_row"))
		for v := range acc {
			VMOVUPS(acc[v], Mem{Base: dst, Disp: v * s.bytes()})
		}
		ADDQ(U32(V*s.bytes()), dst)
		ADDQ(U32(V*hb), x)
		DECQ(cnt)
		JMP(LabelRef(label))
	}
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// f16DotsStrided: rows are taken four at a time (each vector of q is
// converted once for the four rows, and the four sums leave with one
// store), then one at a time. Before each 4-row tile the lines of the
// rows 8 to 11 ahead are prefetched: the rows are scattered over the cache
// (one head's slice of every position), which the hardware prefetchers
// follow poorly (AVX-512, 4096 cached positions, L3-resident: 41 µs without, 31 µs
// at 4 rows ahead, 24 µs at 8 or 16).
func f16DotsStrided(s isa) {
	name := "f16DotsStrided" + s.name
	TEXT(name, NOSPLIT, "func(dst *float32, k *uint16, stride int, q *uint16, rows int, n int)")
	Pragma("noescape")
	Doc(name+" sets dst[j] = Σ_i f32(k[j·stride + i])·f32(q[i]) for j < rows",
		"(rows ≥ 1) over the first n &^ (vector floats − 1) elements (n ≥ one",
		"vector; stride in elements), accumulated in float32.")
	dst := Load(Param("dst"), GP64())
	kp := Load(Param("k"), GP64())
	sb := Load(Param("stride"), GP64())
	SHLQ(U8(1), sb) // bytes
	sb3 := GP64()
	LEAQ(Mem{Base: sb, Index: sb, Scale: 2}, sb3)
	q := Load(Param("q"), GP64())
	rows := Load(Param("rows"), GP64())
	n := Load(Param("n"), GP64())
	vf := s.bytes() / 4
	hb := s.bytes() / 2
	// Lines per row (2n bytes, rounded up) and vectors per row.
	nl := GP64()
	LEAQ(Mem{Base: n, Index: n, Scale: 1, Disp: 63}, nl)
	SHRQ(U8(6), nl)
	nv := n
	SHRQ(U8(bits(vf)), nv)
	row := func(base Register, r int) Mem {
		switch r {
		case 0:
			return Mem{Base: base}
		case 1:
			return Mem{Base: base, Index: sb, Scale: 1}
		case 2:
			return Mem{Base: base, Index: sb, Scale: 2}
		case 3:
			return Mem{Base: base, Index: sb3, Scale: 1}
		}
		panic("row")
	}

	for i, R := range []int{4, 1} {
		label := fmt.Sprintf("%s_tile%d", name, R)
		Label(label)
		if i == 0 {
			CMPQ(rows, U8(R))
			JL(LabelRef(name + "_tile1"))
			pf, c := GP64(), GP64()
			LEAQ(Mem{Base: kp, Index: sb, Scale: 8}, pf)
			MOVQ(nl, c)
			Label(name + "_prefetch")
			for r := 0; r < R; r++ {
				PREFETCHT0(row(pf, r))
			}
			ADDQ(U8(64), pf)
			DECQ(c)
			JNZ(LabelRef(name + "_prefetch"))
		} else {
			TESTQ(rows, rows)
			JZ(LabelRef(name + "_done"))
		}
		acc := make([]vreg, R)
		for r := range acc {
			acc[r] = s.vec()
			zero(s, acc[r])
		}
		kr, qr, c := GP64(), GP64(), GP64()
		MOVQ(kp, kr)
		MOVQ(q, qr)
		MOVQ(nv, c)
		Label(label + "_loop")
		qv := cvtF16(s, Mem{Base: qr})
		for r := range acc {
			VFMADD231PS(qv, cvtF16(s, row(kr, r)), acc[r])
		}
		ADDQ(U8(hb), kr)
		ADDQ(U8(hb), qr)
		DECQ(c)
		JNZ(LabelRef(label + "_loop"))
		if R == 4 {
			VMOVUPS(reduce4With(s, acc, VADDPS), Mem{Base: dst})
			LEAQ(Mem{Base: kp, Index: sb, Scale: 4}, kp)
		} else {
			VMOVSS(reduce1With(s, acc[0], VADDPS), Mem{Base: dst})
			ADDQ(sb, kp)
		}
		ADDQ(U8(4*R), dst)
		SUBQ(U8(R), rows)
		JMP(LabelRef(label))
	}
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// ---------------------------------------------------------------------------
// int8 × int8 GEMV (ref.I8Dots), the optional int8 output head. It streams
// every weight once per token (K × 128256 bytes for the 2B4T vocabulary), so
// like the ternary GEMV it is built to run at memory bandwidth: rows four at
// a time (the activations are loaded or widened once for the four rows),
// 64 bytes of each row per step, with the weights prefetched four rows
// ahead. The kernels take the first k &^ 63 columns; Go adds the rest.
//
//   - VNNI: VPDPBUSD multiplies unsigned by signed bytes, so the weights go
//     in as unsigned w + 128 (w XOR 0x80) and the activations as signed q:
//     each lane accumulates Σ w·q + 128·Σ q. The kernel first sums 128·q
//     the same way (0x80 bytes × q) and subtracts it from every row. Lanes
//     wrap mod 2³² exactly as the reference's int32 sums do, so the result
//     is exact for every input (putting the offset on the weights keeps the
//     correction per token, so no per-row sums are needed).
//   - AVX-512BW and AVX2: VPMADDUBSW would saturate (2·255·128 > 2¹⁵), so
//     both operands are sign-extended to int16 (VPMOVSXBW) and multiplied
//     with VPMADDWD (|pair| ≤ 2·128² fits int32): exact.
// ---------------------------------------------------------------------------

func i8Dots(s isa) {
	name := "i8Dots" + s.name
	TEXT(name, NOSPLIT, "func(dst *int32, w *int8, q *int8, rows int, k int)")
	Pragma("noescape")
	Doc(name+" sets dst[r] = Σ_i w[r·k + i]·q[i] for r < rows (rows ≥ 1) over the",
		"first k &^ 63 columns (k ≥ 64) of rows of k int8 weights, in int32",
		"wrapping like ref.I8Dots (so exact for every input).")
	dst := Load(Param("dst"), GP64())
	w := Load(Param("w"), GP64())
	q := Load(Param("q"), GP64())
	rows := Load(Param("rows"), GP64())
	k := Load(Param("k"), GP64())
	k3 := GP64()
	LEAQ(Mem{Base: k, Index: k, Scale: 2}, k3)
	nc := GP64()
	MOVQ(k, nc)
	SHRQ(U8(6), nc)
	row := func(base Register, r, off int) Mem {
		switch r {
		case 0:
			return Mem{Base: base, Disp: off}
		case 1:
			return Mem{Base: base, Index: k, Scale: 1, Disp: off}
		case 2:
			return Mem{Base: base, Index: k, Scale: 2, Disp: off}
		case 3:
			return Mem{Base: base, Index: k3, Scale: 1, Disp: off}
		}
		panic("row")
	}

	var x80, bias VecVirtual
	if s.vnni {
		Comment("bias = Σ 128·q[i] in every lane")
		x80 = ZMM()
		VPBROADCASTD(constX80, x80)
		b := ZMM()
		zero(s, b)
		qr, c := GP64(), GP64()
		MOVQ(q, qr)
		MOVQ(nc, c)
		Label(name + "_bias")
		VPDPBUSD(Mem{Base: qr}, x80, b)
		ADDQ(U8(64), qr)
		DECQ(c)
		JNZ(LabelRef(name + "_bias"))
		bias = reduce1(s, b)
	}

	for i, R := range []int{4, 1} {
		label := fmt.Sprintf("%s_tile%d", name, R)
		Label(label)
		if i == 0 {
			CMPQ(rows, U8(R))
			JL(LabelRef(name + "_tile1"))
		} else {
			TESTQ(rows, rows)
			JZ(LabelRef(name + "_done"))
		}
		acc := make([]vreg, R)
		for r := range acc {
			acc[r] = s.vec()
			zero(s, acc[r])
		}
		wr, qr, c := GP64(), GP64(), GP64()
		MOVQ(w, wr)
		MOVQ(q, qr)
		MOVQ(nc, c)
		var pf GPVirtual
		if R == 4 {
			pf = GP64().(GPVirtual)
			LEAQ(Mem{Base: w, Index: k, Scale: 4}, pf)
		}
		Label(label + "_loop")
		if R == 4 {
			for r := 0; r < R; r++ {
				PREFETCHT0(row(pf, r, 0))
			}
		}
		switch {
		case s.vnni:
			var qv Op = Mem{Base: qr}
			if R > 1 { // load once, use for every row
				v := ZMM()
				VMOVDQU64(qv, v)
				qv = v
			}
			for r := range acc {
				u := ZMM()
				VPXORD(row(wr, r, 0), x80, u)
				VPDPBUSD(qv, u, acc[r])
			}
		default:
			// Widen 64 activations (2 zmm or 4 ymm of int16), then each
			// row's 64 weights.
			wb := s.bytes() / 2 // int8 per widened vector
			qv := make([]VecVirtual, 64/wb)
			for h := range qv {
				qv[h] = s.vec()
				VPMOVSXBW(Mem{Base: qr, Disp: h * wb}, qv[h])
			}
			for r := range acc {
				p := make([]VecVirtual, len(qv))
				for h := range qv {
					p[h] = s.vec()
					VPMOVSXBW(row(wr, r, h*wb), p[h])
					VPMADDWD(qv[h], p[h], p[h])
				}
				for len(p) > 1 {
					for j := 0; j+1 < len(p); j += 2 {
						VPADDD(p[j+1], p[j], p[j])
					}
					p = evens(p)
				}
				VPADDD(p[0], acc[r], acc[r])
			}
		}
		ADDQ(U8(64), wr)
		ADDQ(U8(64), qr)
		if R == 4 {
			ADDQ(U8(64), pf)
		}
		DECQ(c)
		JNZ(LabelRef(label + "_loop"))
		if R == 4 {
			x := reduce4(s, acc)
			if s.vnni {
				VPSUBD(bias, x, x)
			}
			if s.zmm {
				VMOVDQU32(x, Mem{Base: dst})
			} else {
				VMOVDQU(x, Mem{Base: dst})
			}
			LEAQ(Mem{Base: w, Index: k, Scale: 4}, w)
		} else {
			x := reduce1(s, acc[0])
			if s.vnni {
				VPSUBD(bias, x, x)
			}
			VMOVD(x, Mem{Base: dst})
			ADDQ(k, w)
		}
		ADDQ(U8(4*R), dst)
		SUBQ(U8(R), rows)
		JMP(LabelRef(label))
	}
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// evens returns the elements of v at even indices.
func evens(v []VecVirtual) []VecVirtual {
	var out []VecVirtual
	for i := 0; i < len(v); i += 2 {
		out = append(out, v[i])
	}
	return out
}
