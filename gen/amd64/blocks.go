package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// ---------------------------------------------------------------------------
// Block-format GEMVs against quantized activations, in ggml's x86 AVX2
// numerics (asm/generic/lanes.go): per block, eight int32 lanes (lane m holds
// the products of the elements 4m..4m+3 of every 32-element chunk), each
// converted to float32 and combined with the block scale d into eight
// float32 accumulators (VFMADD231PS for Q6_K and Q8_0; VMULPS then VADDPS
// for TQ1_0/TQ2_0), reduced per row as hsum_float_8. Integer sums are
// exact, so every ISA gives the reference's lanes and hence its floats bit
// for bit.
//
// Signature of every kernel: dst[r] for r < rows (rows ≥ 1), rows of nblk
// blocks (nblk ≥ 1) one after the other in w, y the activation blocks of
// one token (ref.BlockQ8K, 292 bytes each, or Q8_0 blocks of 34 bytes).
// ---------------------------------------------------------------------------

// Offsets in ref.BlockQ8K: D float32, Qs [256]int8, Bsums [16]int16.
const (
	q8kD     = 0
	q8kQs    = 4
	q8kBsums = 260
	q8kBytes = 292
)

var (
	constM15    Mem // 0x0f bytes (dword)
	constM30    Mem // 0x30 bytes (dword)
	constM32    Mem // 0x20 bytes (dword)
	constTrit1  Mem // 85^0x80 bytes: q·3>>8 ≥ 1 iff (q^0x80) > this, signed (dword)
	constTrit2  Mem // 170^0x80 bytes (dword)
	constQ6Shuf Mem // 8×16 bytes: VPSHUFB picking scale 2v (8 bytes) and 2v+1 (8 bytes)
	constQ6Perm Mem // 4×64 bytes: VPERMW picking scales 2v..2v+3 (8 words each), v = 0, 2, 4, 6
	constSh42   Mem // VPSLLVW counts: 16 words of 4, 16 of 2
	constSh02   Mem // VPSRLVW counts: 16 words of 0, 16 of 2
	constSh46   Mem // VPSRLVW counts: 16 words of 4, 16 of 6
	constK4Shuf Mem // 8×32 bytes: VPSHUFB broadcasting int16 word j
)

func blockConstants() {
	dword := func(name string, b uint8) Mem {
		m := GLOBL(name, RODATA|NOPTR)
		DATA(0, U32(uint32(b)*0x01010101))
		return m
	}
	constM15 = dword("m15", 0x0f)
	constM30 = dword("m30", 0x30)
	constM32 = dword("m32", 0x20)
	constTrit1 = dword("trit1", 85^0x80)
	constTrit2 = dword("trit2", 170^0x80)
	constQ6Shuf = GLOBL("q6Shuf", RODATA|NOPTR)
	for v := 0; v < 8; v++ {
		for i := 0; i < 16; i++ {
			DATA(16*v+i, U8(uint8(2*v+i/8)))
		}
	}
	constQ6Perm = GLOBL("q6Perm", RODATA|NOPTR)
	for p := 0; p < 4; p++ {
		for i := 0; i < 32; i++ {
			DATA(64*p+2*i, U16(uint16(4*p+i/8)))
		}
	}
	words := func(name string, a, b uint16) Mem {
		m := GLOBL(name, RODATA|NOPTR)
		for i := 0; i < 32; i++ {
			v := a
			if i >= 16 {
				v = b
			}
			DATA(2*i, U16(v))
		}
		return m
	}
	constK4Shuf = GLOBL("k4Shuf", RODATA|NOPTR)
	for j := 0; j < 8; j++ {
		for i := 0; i < 32; i++ {
			DATA(32*j+i, U8(uint8(2*j+i%2)))
		}
	}
	constSh42 = words("sh42", 4, 2)
	constSh02 = words("sh02", 0, 2)
	constSh46 = words("sh46", 4, 6)
}

func blockKernels() {
	q6kDotsAVX2()
	tq2DotsAVX2()
	tq1DotsAVX2()
	q80DotsAVX2()
	q6kDotsAVX512()
	q4kDotsAVX2()
	tq2DotsAVX512(avx512)
	tq2DotsAVX512(vnni)
	for n := 2; n <= 4; n++ {
		tq2DotsAVX2N(n)
	}
	for n := 2; n <= 4; n++ {
		tq1DotsAVX2N(n)
	}
}

// blockPrefetch is how far ahead of its loads, in bytes, a block GEMV
// prefetches the weights. On Zen 3 (AVX2, BenchmarkBlockHead streaming a
// 2560-wide head), prefetching one line per block 1 KiB ahead gave Q6_K
// 5.5–6.0 GB/s and Q8_0 7.4–7.7; every line of the block 8 KiB ahead
// 8.4–9.2 and 9.8–10.1 (2 and 4 KiB were in between). Q4_K and TQ1_0 are
// compute-bound there and did not change.
const blockPrefetch = 8192

// q4kBlockBytes is the size of a Q4_K block (d, dmin, scales[12], qs[128]).
const q4kBlockBytes = 144

// blockGEMV emits the row and block loops shared by the kernels: body
// returns the block's eight int32 lanes (a ymm) given the weight and
// activation block pointers, dscale loads the block's float scale d into
// the low lane of an xmm, and fused selects FMA (else mul, add).
type blockGEMV struct {
	name, doc        string
	wBytes, yBytes   int
	fused            bool
	zmm              bool // AVX-512 kernel: EVEX forms only in the shared code
	body             func(w, y GPVirtual) VecVirtual
	dscale           func(w, y GPVirtual) VecVirtual
	setup            func()
	dstP, rowsR, nbR GPVirtual
}

func (g *blockGEMV) emit() {
	TEXT(g.name, NOSPLIT, "func(dst *float32, w *byte, y *byte, rows int, nblk int)")
	Pragma("noescape")
	Doc(g.name+" "+g.doc, "See asm/generic/lanes.go for the summation order.")
	dst := Load(Param("dst"), GP64())
	w := Load(Param("w"), GP64())
	y0 := Load(Param("y"), GP64())
	rows := Load(Param("rows"), GP64())
	nblk := Load(Param("nblk"), GP64())
	if g.setup != nil {
		g.setup()
	}
	Label(g.name + "_row")
	acc := YMM()
	if g.zmm {
		VPXORD(acc, acc, acc)
	} else {
		VXORPS(acc, acc, acc)
	}
	yp, c := GP64(), GP64()
	MOVQ(y0, yp)
	MOVQ(nblk, c)
	Label(g.name + "_blk")
	// Prefetch every cache line of the block blockPrefetch bytes ahead
	// (one line per block left most of a 210-byte Q6_K block to the
	// hardware prefetchers).
	for off := 0; off < g.wBytes; off += 64 {
		PREFETCHT0(Mem{Base: w, Disp: blockPrefetch + off})
	}
	lanes := g.body(w.(GPVirtual), yp.(GPVirtual))
	f := YMM()
	VCVTDQ2PS(lanes, f)
	d := g.dscale(w.(GPVirtual), yp.(GPVirtual))
	db := YMM()
	VBROADCASTSS(d, db)
	if g.fused {
		VFMADD231PS(f, db, acc)
	} else {
		VMULPS(db, f, f)
		VADDPS(f, acc, acc)
	}
	ADDQ(U32(g.wBytes), w)
	ADDQ(U32(g.yBytes), yp)
	DECQ(c)
	JNZ(LabelRef(g.name + "_blk"))
	VMOVSS(hsum8(acc, g.zmm), Mem{Base: dst})
	ADDQ(U8(4), dst)
	DECQ(rows)
	JNZ(LabelRef(g.name + "_row"))
	VZEROUPPER()
	RET()
}

// hsum8 returns ggml's hsum_float_8 of the eight floats of acc in the low
// lane of an xmm: ((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7)). zmm: EVEX forms
// only (the AVX-512 kernels).
func hsum8(acc VecVirtual, zmm bool) VecVirtual {
	hi, t := XMM(), XMM()
	if zmm {
		VEXTRACTF32X4(U8(1), acc, hi)
	} else {
		VEXTRACTF128(U8(1), acc, hi)
	}
	VADDPS(acc.AsX(), hi, hi)
	VMOVHLPS(hi, hi, t)
	VADDPS(t, hi, hi)
	VMOVSHDUP(hi, t)
	VADDSS(t, hi, hi)
	return hi
}

// f16Scale returns f32(fp16 at m)·f32 at ym in the low lane of an xmm.
func f16Scale(m, ym Mem) VecVirtual {
	r := GP32()
	MOVWLZX(m, r)
	x := XMM()
	VMOVD(r, x)
	VCVTPH2PS(x, x)
	VMULSS(ym, x, x)
	return x
}

func bcastConst(m Mem) VecVirtual {
	v := YMM()
	VPBROADCASTD(m, v)
	return v
}

// q6kDotsAVX2: Q6_K block (ql[128], qh[64], scales[16], d) × Q8_K.
func q6kDotsAVX2() {
	var m15, m30, m32 VecVirtual
	g := &blockGEMV{
		name: "q6kDotsAVX2", wBytes: 210, yBytes: q8kBytes, fused: true,
		doc: "sets dst[r] = ref.DotQ6K(row r, y) for Q6_K rows (210 bytes per block) and Q8_K activations.",
		setup: func() {
			m15, m30, m32 = bcastConst(constM15), bcastConst(constM30), bcastConst(constM32)
		},
	}
	g.body = func(w, y GPVirtual) VecVirtual {
		sum := YMM()
		VPXOR(sum, sum, sum)
		sc := XMM()
		VMOVDQU(Mem{Base: w, Disp: 192}, sc)
		for j := 0; j < 2; j++ {
			b1, b2, h := YMM(), YMM(), YMM()
			VMOVDQU(Mem{Base: w, Disp: 64 * j}, b1)
			VMOVDQU(Mem{Base: w, Disp: 64*j + 32}, b2)
			VMOVDQU(Mem{Base: w, Disp: 128 + 32*j}, h)
			for k := 0; k < 4; k++ {
				// low 4 bits: b1, b2, b1>>4, b2>>4; high 2 bits to bits
				// 4-5: (h<<4), (h<<2), h, (h>>2), masked with 0x30.
				lo, hb := YMM(), YMM()
				src := b1
				if k%2 == 1 {
					src = b2
				}
				if k < 2 {
					VPAND(m15, src, lo)
				} else {
					VPSRLW(U8(4), src, lo)
					VPAND(m15, lo, lo)
				}
				switch k {
				case 0:
					VPSLLW(U8(4), h, hb)
					VPAND(m30, hb, hb)
				case 1:
					VPSLLW(U8(2), h, hb)
					VPAND(m30, hb, hb)
				case 2:
					VPAND(m30, h, hb)
				case 3:
					VPSRLW(U8(2), h, hb)
					VPAND(m30, hb, hb)
				}
				VPOR(hb, lo, lo) // unsigned q6 + 32
				q8 := Mem{Base: y, Disp: q8kQs + 128*j + 32*k}
				p, o := YMM(), YMM()
				VPMADDUBSW(q8, lo, p)
				VPMADDUBSW(q8, m32, o)
				VPSUBW(o, p, p) // pairs of (q6−32)·q8
				v := 4*j + k
				s8 := XMM()
				VPSHUFB(constQ6Shuf.Offset(16*v), sc, s8)
				s16 := YMM()
				VPMOVSXBW(s8, s16)
				VPMADDWD(s16, p, p)
				VPADDD(p, sum, sum)
			}
		}
		return sum
	}
	g.dscale = func(w, y GPVirtual) VecVirtual {
		return f16Scale(Mem{Base: w, Disp: 208}, Mem{Base: y, Disp: q8kD})
	}
	g.emit()
}

// tq2DotsAVX2: TQ2_0 block (qs[64], d) × Q8_K. In each 32-byte half j,
// byte m holds the codes of elements 128j + m + 32l at bits 2l.
func tq2DotsAVX2() {
	var m3, ones VecVirtual
	g := &blockGEMV{
		name: "tq2DotsAVX2", wBytes: 66, yBytes: q8kBytes,
		doc: "sets dst[r] = ref.DotTQ(row r, y, false) for TQ2_0 rows (66 bytes per block) and Q8_K activations.",
		setup: func() {
			m3, ones = bcastConst(constMask3), bcastConst(constOnes16)
		},
	}
	g.body = func(w, y GPVirtual) VecVirtual {
		var s16 VecVirtual
		tq2Codes(w, m3, func(c VecVirtual, chunk int) {
			VPMADDUBSW(Mem{Base: y, Disp: q8kQs + 32*chunk}, c, c)
			if s16 == nil {
				s16 = c
			} else {
				VPADDW(c, s16, s16)
			}
		})
		return tqLanes(s16, Mem{Base: y, Disp: q8kBsums}, ones)
	}
	g.dscale = func(w, y GPVirtual) VecVirtual {
		return f16Scale(Mem{Base: w, Disp: 64}, Mem{Base: y, Disp: q8kD})
	}
	g.emit()
}

// tq2Codes unpacks the 2-bit codes of a TQ2_0 block at w into the eight
// 32-byte chunks of its 256 elements (chunk 4j+l: bits 2l of bytes
// 32j..32j+31) and hands each to use as soon as it is unpacked.
func tq2Codes(w GPVirtual, m3 VecVirtual, use func(c VecVirtual, chunk int)) {
	for j := 0; j < 2; j++ {
		x := YMM()
		VMOVDQU(Mem{Base: w, Disp: 32 * j}, x)
		for l := 0; l < 4; l++ {
			c := YMM()
			if l == 0 {
				VPAND(m3, x, c)
			} else {
				VPSRLW(U8(2*l), x, c)
				VPAND(m3, c, c)
			}
			use(c, 4*j+l)
		}
	}
}

// tqLanes subtracts the Q8_K group sums from the int16 pair sums (which
// makes the codes 0..2 into −1..1) and adds pairs into int32 lanes.
func tqLanes(s16 VecVirtual, bsums Mem, ones VecVirtual) VecVirtual {
	VPSUBW(bsums, s16, s16)
	VPMADDWD(ones, s16, s16)
	return s16
}

// trits sets t to the trits (q·3)>>8 of the bytes q, given u = q ⊕ 0x80
// (q with its top bit flipped, for signed compares): 1 for q > 85 plus 1 for
// q > 170. Flipping commutes with the powers of 3 (3·(q − 128) ≡ 3q − 128
// mod 256), so a block's bytes are flipped once and multiplied flipped. u is
// left as it was (the next power of 3 is computed from it).
func trits(u, t1, t2 VecVirtual) VecVirtual {
	a, b := YMM(), YMM()
	VPCMPGTB(t1, u, a) // −1 where q > 85
	VPCMPGTB(t2, u, b) // −1 where q > 170
	VPADDB(b, a, a)
	VPABSB(a, a)
	return a
}

// tq1Codes unpacks the trits of a TQ1_0 block at w (qs[48], qh[4]) into the
// eight 32-byte chunks of its 256 elements and hands each to use as soon as
// it is unpacked, in chunk order. Trit n of byte x is ((x·3ⁿ mod 256)·3)>>8.
// Chunks 0..4: trit n of qs[0:32]; 5: [trit 0 | trit 1] of qs[32:48]; 6:
// [trit 2 | trit 3] of it; 7: [trit 4 of it | trit n of qh in dword n].
// qs[32:48] and qh (broadcast to four dwords) share one ymm, so one chain of
// ×3 gives v[n] = [trit source n of qs[32:48] | of qh]; only two of them
// are live at a time, which leaves registers for four tokens' sums.
func tq1Codes(w GPVirtual, x80, t1, t2 VecVirtual, use func(c VecVirtual, chunk int)) {
	q := YMM()
	VPXOR(Mem{Base: w}, x80, q)
	for n := 0; n < 5; n++ {
		if n > 0 {
			q = times3(q)
		}
		use(trits(q, t1, t2), n)
	}
	lo, hb := XMM(), XMM()
	VMOVDQU(Mem{Base: w, Disp: 32}, lo)
	VPBROADCASTD(Mem{Base: w, Disp: 48}, hb)
	prev := YMM()
	VINSERTI128(U8(1), hb, lo.AsY(), prev)
	VPXOR(x80, prev, prev)
	hq := YMM() // high dword n from v[n]
	for n := 1; n < 5; n++ {
		cur := times3(prev)
		c := YMM()
		switch n {
		case 1:
			VPERM2I128(U8(0x20), cur, prev, c) // [x0 | x1]
			use(trits(c, t1, t2), 5)
			VPBLENDD(U8(0x20), cur, prev, hq)
		case 2:
			VPBLENDD(U8(0x40), cur, hq, hq)
		case 3:
			VPERM2I128(U8(0x20), cur, prev, c) // [x2 | x3]
			use(trits(c, t1, t2), 6)
			VPBLENDD(U8(0x80), cur, hq, hq)
		case 4:
			VPBLENDD(U8(0x0f), cur, hq, c) // [x4 | the qh trits' sources]
			use(trits(c, t1, t2), 7)
		}
		prev = cur
	}
}

// times3 returns 3·q (bytes, mod 256).
func times3(q VecVirtual) VecVirtual {
	t := YMM()
	VPADDB(q, q, t)
	VPADDB(q, t, t)
	return t
}

// tq1DotsAVX2: TQ1_0 block (qs[48], qh[4], d) × Q8_K (see tq1Codes).
func tq1DotsAVX2() {
	var x80, t1, t2, ones VecVirtual
	g := &blockGEMV{
		name: "tq1DotsAVX2", wBytes: 54, yBytes: q8kBytes,
		doc: "sets dst[r] = ref.DotTQ(row r, y, true) for TQ1_0 rows (54 bytes per block) and Q8_K activations.",
		setup: func() {
			x80, t1, t2, ones = bcastConst(constX80), bcastConst(constTrit1), bcastConst(constTrit2), bcastConst(constOnes16)
		},
	}
	g.body = func(w, y GPVirtual) VecVirtual {
		var s16 VecVirtual
		tq1Codes(w, x80, t1, t2, func(c VecVirtual, chunk int) {
			VPMADDUBSW(Mem{Base: y, Disp: q8kQs + 32*chunk}, c, c)
			if s16 == nil {
				s16 = c
			} else {
				VPADDW(c, s16, s16)
			}
		})
		return tqLanes(s16, Mem{Base: y, Disp: q8kBsums}, ones)
	}
	g.dscale = func(w, y GPVirtual) VecVirtual {
		return f16Scale(Mem{Base: w, Disp: 52}, Mem{Base: y, Disp: q8kD})
	}
	g.emit()
}

// q80DotsAVX2: Q8_0 blocks (d, qs[32]) × Q8_0 activations, as ggml's
// mul_sum_i8_pairs_float: |x| (VPSIGNB) times y with x's sign, pairs, then
// pairs of pairs.
func q80DotsAVX2() {
	var ones VecVirtual
	g := &blockGEMV{
		name: "q80DotsAVX2", wBytes: 34, yBytes: 34, fused: true,
		doc: fmt.Sprint("sets dst[r] = ref.DotQ8_0(row r, y) for Q8_0 rows (34 bytes per block) and Q8_0",
			" activations without −128 (as ref.QuantizeQ8_0Act gives)."),
		setup: func() { ones = bcastConst(constOnes16) },
	}
	g.body = func(w, y GPVirtual) VecVirtual {
		x, v, ax := YMM(), YMM(), YMM()
		VMOVDQU(Mem{Base: w, Disp: 2}, x)
		VMOVDQU(Mem{Base: y, Disp: 2}, v)
		VPSIGNB(x, x, ax)
		VPSIGNB(x, v, v)
		VPMADDUBSW(v, ax, v)
		VPMADDWD(ones, v, v)
		return v
	}
	g.dscale = func(w, y GPVirtual) VecVirtual {
		r, s := GP32(), GP32()
		MOVWLZX(Mem{Base: w}, r)
		MOVWLZX(Mem{Base: y}, s)
		SHLL(U8(16), s)
		ORL(s, r)
		x, t := XMM(), XMM()
		VMOVD(r, x)
		VCVTPH2PS(x, x)
		VMOVSHDUP(x, t)
		VMULSS(t, x, x)
		return x
	}
	g.emit()
}

func bcastConstZ(m Mem) VecVirtual {
	v := ZMM()
	VPBROADCASTD(m, v)
	return v
}

// fold512 adds the 256-bit halves of an int32 zmm into a ymm.
func fold512(v VecVirtual) VecVirtual {
	h := YMM()
	VEXTRACTI64X4(U8(1), v, h)
	VPADDD(v.AsY(), h, h)
	return h
}

// q6kDotsAVX512: q6kDotsAVX2 with two 32-element chunks per zmm; the
// scales come from one VPMOVSXBW and a VPERMW per chunk pair, and the
// int32 lanes of the two chunks are added at the end of the block (exact,
// so the lanes are those of the AVX2 kernel).
func q6kDotsAVX512() {
	var m15, m30, m32, sh42, sh02 VecVirtual
	perm := make([]VecVirtual, 4)
	g := &blockGEMV{
		name: "q6kDotsAVX512", wBytes: 210, yBytes: q8kBytes, fused: true, zmm: true,
		doc: "sets dst[r] = ref.DotQ6K(row r, y) for Q6_K rows (210 bytes per block) and Q8_K activations.",
		setup: func() {
			m15, m30, m32 = bcastConstZ(constM15), bcastConstZ(constM30), bcastConstZ(constM32)
			sh42, sh02 = ZMM(), ZMM()
			VMOVDQU64(constSh42, sh42)
			VMOVDQU64(constSh02, sh02)
			for i := range perm {
				perm[i] = ZMM()
				VMOVDQU64(constQ6Perm.Offset(64*i), perm[i])
			}
		},
	}
	g.body = func(w, y GPVirtual) VecVirtual {
		sum := ZMM()
		VPXORD(sum, sum, sum)
		sc := ZMM()
		VPMOVSXBW(Mem{Base: w, Disp: 192}, sc.AsY())
		for j := 0; j < 2; j++ {
			l, h := ZMM(), ZMM()
			VMOVDQU64(Mem{Base: w, Disp: 64 * j}, l)
			VBROADCASTI64X4(Mem{Base: w, Disp: 128 + 32*j}, h)
			for p := 0; p < 2; p++ { // chunks 4j+2p, 4j+2p+1
				lo, hb := ZMM(), ZMM()
				if p == 0 {
					VPANDD(m15, l, lo)
					VPSLLVW(sh42, h, hb) // (h<<4 | h<<2) & 0x30
				} else {
					VPSRLW(U8(4), l, lo)
					VPANDD(m15, lo, lo)
					VPSRLVW(sh02, h, hb) // (h | h>>2) & 0x30
				}
				VPANDD(m30, hb, hb)
				VPORD(hb, lo, lo)
				q8 := Mem{Base: y, Disp: q8kQs + 128*j + 64*p}
				pr, o := ZMM(), ZMM()
				VPMADDUBSW(q8, lo, pr)
				VPMADDUBSW(q8, m32, o)
				VPSUBW(o, pr, pr)
				s16 := ZMM()
				VPERMW(sc, perm[2*j+p], s16)
				VPMADDWD(s16, pr, pr)
				VPADDD(pr, sum, sum)
			}
		}
		return fold512(sum)
	}
	g.dscale = func(w, y GPVirtual) VecVirtual {
		return f16Scale(Mem{Base: w, Disp: 208}, Mem{Base: y, Disp: q8kD})
	}
	g.emit()
}

// tq2DotsAVX512: tq2DotsAVX2 with each 32-byte half broadcast to a zmm
// and shifted per 256-bit half (codes of two chunks per zmm). VNNI sums
// the u8×s8 products straight into int32 lanes (VPDPBUSD: lane m of a
// 32-byte chunk is its elements 4m..4m+3, as in ggml's lanes); the
// AVX-512BW form adds int16 pairs and folds them like the AVX2 kernel.
func tq2DotsAVX512(s isa) {
	var m3, ones, sh02, sh46 VecVirtual
	g := &blockGEMV{
		name: "tq2Dots" + s.name, wBytes: 66, yBytes: q8kBytes, zmm: true,
		doc: "sets dst[r] = ref.DotTQ(row r, y, false) for TQ2_0 rows (66 bytes per block) and Q8_K activations.",
		setup: func() {
			m3, ones = bcastConstZ(constMask3), bcastConstZ(constOnes16)
			sh02, sh46 = ZMM(), ZMM()
			VMOVDQU64(constSh02, sh02)
			VMOVDQU64(constSh46, sh46)
		},
	}
	g.body = func(w, y GPVirtual) VecVirtual {
		var sum VecVirtual
		if s.vnni {
			sum = ZMM()
			VPXORD(sum, sum, sum)
		}
		for j := 0; j < 2; j++ {
			x := ZMM()
			VBROADCASTI64X4(Mem{Base: w, Disp: 32 * j}, x)
			for p, sh := range []VecVirtual{sh02, sh46} {
				c := ZMM()
				VPSRLVW(sh, x, c)
				VPANDD(m3, c, c)
				q8 := Mem{Base: y, Disp: q8kQs + 128*j + 64*p}
				if s.vnni {
					VPDPBUSD(q8, c, sum)
					continue
				}
				VPMADDUBSW(q8, c, c)
				if sum == nil {
					sum = c
				} else {
					VPADDW(c, sum, sum)
				}
			}
		}
		if s.vnni {
			l := fold512(sum)
			b := YMM()
			VPMADDWD(Mem{Base: y, Disp: q8kBsums}, ones.AsY(), b)
			VPSUBD(b, l, l)
			return l
		}
		h := YMM()
		VEXTRACTI64X4(U8(1), sum, h)
		VPADDW(sum.AsY(), h, h)
		VPSUBW(Mem{Base: y, Disp: q8kBsums}, h, h)
		VPMADDWD(ones.AsY(), h, h)
		return h
	}
	g.dscale = func(w, y GPVirtual) VecVirtual {
		return f16Scale(Mem{Base: w, Disp: 64}, Mem{Base: y, Disp: q8kD})
	}
	g.emit()
}

// q4kDotsAVX2: Q4_K block (d, dmin, scales[12], qs[128]) × Q8_K, as
// ggml's AVX2 kernel: the six-bit scales and mins are unpacked in general
// registers, the mins times the Q8_K sub-block sums (pairs of bsums) go
// into a second, four-lane accumulator with −y.d·dmin, and the result is
// hsum_float_8(acc) + ((m0+m2) + (m1+m3)).
func q4kDotsAVX2() {
	name := "q4kDotsAVX2"
	TEXT(name, NOSPLIT, "func(dst *float32, w *byte, y *byte, rows int, nblk int)")
	Pragma("noescape")
	Doc(name+" sets dst[r] = ref.DotQ4K(row r, y) for Q4_K rows (144 bytes per block) and Q8_K activations.",
		"See asm/generic/lanes.go for the summation order.")
	dst := Load(Param("dst"), GP64())
	w := Load(Param("w"), GP64())
	y0 := Load(Param("y"), GP64())
	rows := Load(Param("rows"), GP64())
	nblk := Load(Param("nblk"), GP64())
	m15 := bcastConst(constM15)
	signBit := GP32()
	MOVL(U32(0x80000000), signBit)
	Label(name + "_row")
	acc, accm := YMM(), XMM()
	VXORPS(acc, acc, acc)
	VXORPS(accm, accm, accm)
	yp, c := GP64(), GP64()
	MOVQ(y0, yp)
	MOVQ(nblk, c)
	Label(name + "_blk")
	for off := 0; off < q4kBlockBytes; off += 64 {
		PREFETCHT0(Mem{Base: w, Disp: blockPrefetch + off})
	}
	// utmp: u0 = scales 0-3, u1 = scales 4-7, u2 = mins 0-3, u3 = mins 4-7.
	u0, u1, u2, u3, t := GP32(), GP32(), GP32(), GP32(), GP32()
	MOVL(Mem{Base: w, Disp: 4}, u0)
	MOVL(Mem{Base: w, Disp: 8}, u1)
	MOVL(Mem{Base: w, Disp: 12}, u2)
	// u3 = ((u2 >> 4) & 0x0f0f0f0f) | (((u1 >> 6) & 0x03030303) << 4)
	MOVL(u2, u3)
	SHRL(U8(4), u3)
	ANDL(U32(0x0f0f0f0f), u3)
	MOVL(u1, t)
	SHRL(U8(6), t)
	ANDL(U32(0x03030303), t)
	SHLL(U8(4), t)
	ORL(t, u3)
	// mins 0-3 = u1 & 0x3f3f3f3f; scales 4-7 = (u2 & 0x0f0f0f0f) | (((u0 >> 6) & 0x03030303) << 4)
	ANDL(U32(0x3f3f3f3f), u1) // now mins 0-3
	ANDL(U32(0x0f0f0f0f), u2)
	MOVL(u0, t)
	SHRL(U8(6), t)
	ANDL(U32(0x03030303), t)
	SHLL(U8(4), t)
	ORL(t, u2) // now scales 4-7
	ANDL(U32(0x3f3f3f3f), u0)
	ms := XMM()
	VMOVD(u0, ms)
	VPINSRD(U8(1), u2, ms, ms)
	VPINSRD(U8(2), u1, ms, ms)
	VPINSRD(U8(3), u3, ms, ms)
	ms16 := YMM()
	VPMOVZXBW(ms, ms16) // words: scales 0-7, mins 0-7
	// Mins: q8s = pairwise sums of the 16 bsums (hadd), times the mins.
	bl, bh := XMM(), XMM()
	VMOVDQU(Mem{Base: yp, Disp: q8kBsums}, bl)
	VMOVDQU(Mem{Base: yp, Disp: q8kBsums + 16}, bh)
	VPHADDW(bh, bl, bl)
	mins := XMM()
	VEXTRACTI128(U8(1), ms16, mins)
	VPMADDWD(bl, mins, mins)
	VCVTDQ2PS(mins, mins)
	dm := f16Scale(Mem{Base: w, Disp: 2}, Mem{Base: yp, Disp: q8kD})
	sb := XMM()
	VMOVD(signBit, sb)
	VXORPS(sb, dm, dm) // −y.d·dmin
	VBROADCASTSS(dm, dm)
	VFMADD231PS(mins, dm, accm)
	// Scales: both 128-bit lanes hold the eight scale words.
	scales := YMM()
	VPERMQ(U8(0x44), ms16, scales)
	sum := YMM()
	VPXOR(sum, sum, sum)
	for j := 0; j < 4; j++ {
		q, hi := YMM(), YMM()
		VMOVDQU(Mem{Base: w, Disp: 16 + 32*j}, q)
		VPSRLW(U8(4), q, hi)
		VPAND(m15, hi, hi)
		VPAND(m15, q, q)
		for h, v := range []VecVirtual{q, hi} {
			sc := YMM()
			VPSHUFB(constK4Shuf.Offset(32*(2*j+h)), scales, sc)
			VPMADDUBSW(Mem{Base: yp, Disp: q8kQs + 64*j + 32*h}, v, v)
			VPMADDWD(sc, v, v)
			VPADDD(v, sum, sum)
		}
	}
	f := YMM()
	VCVTDQ2PS(sum, f)
	d := f16Scale(Mem{Base: w}, Mem{Base: yp, Disp: q8kD})
	db := YMM()
	VBROADCASTSS(d, db)
	VFMADD231PS(f, db, acc)
	ADDQ(U32(q4kBlockBytes), w)
	ADDQ(U32(q8kBytes), yp)
	DECQ(c)
	JNZ(LabelRef(name + "_blk"))
	hi, t2 := XMM(), XMM()
	VEXTRACTF128(U8(1), acc, hi)
	VADDPS(acc.AsX(), hi, hi)
	VMOVHLPS(hi, hi, t2)
	VADDPS(t2, hi, hi)
	VMOVSHDUP(hi, t2)
	VADDSS(t2, hi, hi)
	// (m0+m2) + (m1+m3)
	VMOVHLPS(accm, accm, t2)
	VADDPS(t2, accm, accm)
	VMOVSHDUP(accm, t2)
	VADDSS(t2, accm, accm)
	VADDSS(accm, hi, hi)
	VMOVSS(hi, Mem{Base: dst})
	ADDQ(U8(4), dst)
	DECQ(rows)
	JNZ(LabelRef(name + "_row"))
	VZEROUPPER()
	RET()
}

// tqGEMVN emits an n-token ternary GEMV (2 ≤ n ≤ 4): each weight block's
// code vectors are unpacked once and multiplied with the Q8_K blocks of
// all n tokens. Per token the instructions and their operand order are
// those of the one-token kernel (blockGEMV with tqLanes, not fused), so
// every dst value equals the one-token kernel's bit for bit.
//
// Signature: dst[t·ldd + r] for t < n, r < rows; y the activation blocks
// of token t at y + t·ldy blocks.
type tqGEMVN struct {
	name, doc string
	n         int
	wBytes    int
	f16Off    int // the block scale d
	setup     func()
	// codes emits the block's code vectors (bytes 0..2) one at a time in
	// the one-token kernel's order, passing each to use with its chunk
	// (the 32 activations at q8kQs + 32·chunk).
	codes func(w GPVirtual, use func(c VecVirtual, chunk int))
}

func (g *tqGEMVN) emit() {
	TEXT(g.name, NOSPLIT, "func(dst *float32, ldd int, w *byte, y *byte, ldy int, rows int, nblk int)")
	Pragma("noescape")
	Doc(g.name+" "+g.doc,
		fmt.Sprintf("Token t < %d: dst[t·ldd + r], activations at y + t·ldy blocks; each value is the one-token kernel's bit for bit.", g.n))
	dst := Load(Param("dst"), GP64())
	ldd := Load(Param("ldd"), GP64())
	w := Load(Param("w"), GP64())
	y0 := Load(Param("y"), GP64())
	ldy := Load(Param("ldy"), GP64())
	rows := Load(Param("rows"), GP64())
	nblk := Load(Param("nblk"), GP64())
	SHLQ(U8(2), ldd)
	IMUL3Q(U32(q8kBytes), ldy, ldy)
	ldd3, ldy3 := GP64(), GP64()
	LEAQ(Mem{Base: ldd, Index: ldd, Scale: 2}, ldd3)
	LEAQ(Mem{Base: ldy, Index: ldy, Scale: 2}, ldy3)
	tok := func(base, ld, ld3 Register, t, disp int) Mem {
		switch t {
		case 0:
			return Mem{Base: base, Disp: disp}
		case 1, 2:
			return Mem{Base: base, Index: ld, Scale: uint8(t), Disp: disp}
		default:
			return Mem{Base: base, Index: ld3, Scale: 1, Disp: disp}
		}
	}
	if g.setup != nil {
		g.setup()
	}
	Label(g.name + "_row")
	acc := make([]VecVirtual, g.n)
	for t := range acc {
		acc[t] = YMM()
		VXORPS(acc[t], acc[t], acc[t])
	}
	yp, c := GP64(), GP64()
	MOVQ(y0, yp)
	MOVQ(nblk, c)
	Label(g.name + "_blk")
	for off := 0; off < g.wBytes; off += 64 {
		PREFETCHT0(Mem{Base: w, Disp: blockPrefetch + off})
	}
	s16 := make([]VecVirtual, g.n)
	g.codes(w.(GPVirtual), func(cv VecVirtual, chunk int) {
		for t := range s16 {
			q8 := tok(yp, ldy, ldy3, t, q8kQs+32*chunk)
			if s16[t] == nil {
				s16[t] = YMM()
				VPMADDUBSW(q8, cv, s16[t])
				continue
			}
			p := YMM()
			VPMADDUBSW(q8, cv, p)
			VPADDW(p, s16[t], s16[t])
		}
	})
	// f32(d), then per token d·y.D as f16Scale gives it.
	r := GP32()
	MOVWLZX(Mem{Base: w, Disp: g.f16Off}, r)
	dw := XMM()
	VMOVD(r, dw)
	VCVTPH2PS(dw, dw)
	ones := bcastConst(constOnes16)
	for t := range s16 {
		tqLanes(s16[t], tok(yp, ldy, ldy3, t, q8kBsums), ones)
		f := YMM()
		VCVTDQ2PS(s16[t], f)
		d := XMM()
		VMULSS(tok(yp, ldy, ldy3, t, q8kD), dw, d)
		db := YMM()
		VBROADCASTSS(d, db)
		VMULPS(db, f, f)
		VADDPS(f, acc[t], acc[t])
	}
	ADDQ(U32(g.wBytes), w)
	ADDQ(U32(q8kBytes), yp)
	DECQ(c)
	JNZ(LabelRef(g.name + "_blk"))
	for t := range acc {
		VMOVSS(hsum8(acc[t], false), tok(dst, ldd, ldd3, t, 0))
	}
	ADDQ(U8(4), dst)
	DECQ(rows)
	JNZ(LabelRef(g.name + "_row"))
	VZEROUPPER()
	RET()
}

// tq2DotsAVX2N: tq2DotsAVX2 for n tokens.
func tq2DotsAVX2N(n int) {
	var m3 VecVirtual
	g := &tqGEMVN{
		name: fmt.Sprintf("tq2DotsAVX2N%d", n), n: n, wBytes: 66, f16Off: 64,
		doc:   "sets dst for TQ2_0 rows (66 bytes per block) as tq2DotsAVX2 does per token.",
		setup: func() { m3 = bcastConst(constMask3) },
	}
	g.codes = func(w GPVirtual, use func(VecVirtual, int)) { tq2Codes(w, m3, use) }
	g.emit()
}

// tq1DotsAVX2N: tq1DotsAVX2 for n tokens.
func tq1DotsAVX2N(n int) {
	var x80, t1, t2 VecVirtual
	g := &tqGEMVN{
		name: fmt.Sprintf("tq1DotsAVX2N%d", n), n: n, wBytes: 54, f16Off: 52,
		doc: "sets dst for TQ1_0 rows (54 bytes per block) as tq1DotsAVX2 does per token.",
		setup: func() {
			x80, t1, t2 = bcastConst(constX80), bcastConst(constTrit1), bcastConst(constTrit2)
		},
	}
	g.codes = func(w GPVirtual, use func(VecVirtual, int)) { tq1Codes(w, x80, t1, t2, use) }
	g.emit()
}
