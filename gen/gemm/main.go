// Command gemm generates the float32 GEMM micro-kernels of package asm
// (asm/gemm_amd64.s and its stubs) with avo.
//
// Each kernel computes one MR×NR tile of C from packed panels:
//
//	for p := 0; p < k; p++ {
//		for i := 0; i < MR; i++ {
//			for j := 0; j < NR; j++ {
//				tile[i][j] += a[p*MR+i] * b[p*NR+j]
//			}
//		}
//	}
//
// then stores the tile into C (row stride ldc elements), adding it to what C
// holds when acc != 0. a is an MR-row panel of A (MR values per k), b an
// NR-column panel of B (NR values per k); see asm.GemmF32 for the packing.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

func main() {
	ConstraintExpr("gc,!purego")
	kernel("gemmKernel12x32AVX512", 12, 2, 16, zmm)
	kernel("gemmKernel6x16AVX2", 6, 2, 8, ymm)
	packCopy()
	packGather()
	Generate()
}

var zmm = []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
	Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}

var ymm = []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}

// kernel emits an mr × (nv·lanes) micro-kernel: mr·nv accumulators, nv
// registers for the B row and two for alternating A broadcasts.
func kernel(name string, mr, nv, lanes int, regs []VecPhysical) {
	nr := nv * lanes
	TEXT(name, NOSPLIT, "func(k int, a, b, c *float32, ldc int, acc int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes the %d×%d tile C = Σ_p a[p*%d+i]·b[p*%d+j] (C += … when acc != 0)", name, mr, nr, mr, nr),
		"from packed panels a (k·"+fmt.Sprint(mr)+" floats) and b (k·"+fmt.Sprint(nr)+" floats); C rows are ldc floats apart.")
	if len(regs) < mr*nv+nv+2 {
		panic("not enough vector registers")
	}
	accs := regs[:mr*nv]
	bv := regs[mr*nv : mr*nv+nv]
	bc := regs[mr*nv+nv : mr*nv+nv+2]
	vbytes := lanes * 4

	k := Load(Param("k"), GP64())
	a := Load(Param("a"), GP64())
	b := Load(Param("b"), GP64())

	Comment("Zero the accumulators.")
	for _, r := range accs {
		VXORPS(r, r, r)
	}
	TESTQ(k, k)
	JZ(LabelRef(name + "_store"))

	Label(name + "_loop")
	for v := 0; v < nv; v++ {
		VMOVUPS(Mem{Base: b, Disp: v * vbytes}, bv[v])
	}
	for i := 0; i < mr; i++ {
		t := bc[i%2]
		VBROADCASTSS(Mem{Base: a, Disp: 4 * i}, t)
		for v := 0; v < nv; v++ {
			VFMADD231PS(bv[v], t, accs[i*nv+v])
		}
	}
	ADDQ(U32(4*mr), a)
	ADDQ(U32(4*nr), b)
	DECQ(k)
	JNZ(LabelRef(name + "_loop"))

	Label(name + "_store")
	c := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc)
	flag := Load(Param("acc"), GP64())
	TESTQ(flag, flag)
	JZ(LabelRef(name + "_put"))
	Comment("C += tile")
	for i := 0; i < mr; i++ {
		for v := 0; v < nv; v++ {
			m := Mem{Base: c, Disp: v * vbytes}
			VADDPS(m, accs[i*nv+v], accs[i*nv+v])
			VMOVUPS(accs[i*nv+v], m)
		}
		if i < mr-1 {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()

	Label(name + "_put")
	Comment("C = tile")
	for i := 0; i < mr; i++ {
		for v := 0; v < nv; v++ {
			VMOVUPS(accs[i*nv+v], Mem{Base: c, Disp: v * vbytes})
		}
		if i < mr-1 {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()
}

// packCopy emits gemmCopyAVX512, the panel copy of the packing routines:
//
//	for p := 0; p < kb; p++ {
//		for j := 0; j < 32; j++ {
//			if ld&(1<<j) != 0 { dst[p*w+j] = src[p*ld+j] (0 where lm lacks bit j) }
//		}
//	}
//
// with the masks given as bit sets: lm selects the columns read (the rest
// are zero), sm the columns written (w of them).
func packCopy() {
	TEXT("gemmCopyAVX512", NOSPLIT, "func(dst, src *float32, ld, kb, w int, lm, sm uint32)")
	Pragma("noescape")
	Doc("gemmCopyAVX512 copies kb rows of up to 32 floats (row stride ld) into a panel of",
		"row stride w: columns in the load mask lm are read, the others written as zero;",
		"columns in the store mask sm are written.")
	dst := Load(Param("dst"), GP64())
	src := Load(Param("src"), GP64())
	ld := Load(Param("ld"), GP64())
	SHLQ(U8(2), ld)
	kb := Load(Param("kb"), GP64())
	w := Load(Param("w"), GP64())
	SHLQ(U8(2), w)
	lm := Load(Param("lm"), GP32())
	sm := Load(Param("sm"), GP32())
	KMOVW(lm, K1)
	KMOVW(sm, K3)
	SHRL(U8(16), lm)
	SHRL(U8(16), sm)
	KMOVW(lm, K2)
	KMOVW(sm, K4)
	TESTQ(kb, kb)
	JZ(LabelRef("copy_done"))
	Label("copy_loop")
	VMOVUPS_Z(Mem{Base: src}, K1, Z0)
	VMOVUPS_Z(Mem{Base: src, Disp: 64}, K2, Z1)
	VMOVUPS(Z0, K3, Mem{Base: dst})
	VMOVUPS(Z1, K4, Mem{Base: dst, Disp: 64})
	ADDQ(ld, src)
	ADDQ(w, dst)
	DECQ(kb)
	JNZ(LabelRef("copy_loop"))
	Label("copy_done")
	VZEROUPPER()
	RET()
}

// packGather emits gemmGatherAVX512, the panel transpose of the packing
// routines:
//
//	for p := 0; p < kb; p++ {
//		for j := 0; j < w; j++ {
//			dst[p*w+j] = src[j*ld+p] for j < rows, else 0
//		}
//	}
//
// with one or two 16-lane gathers per p (w ≤ 32).
func packGather() {
	TEXT("gemmGatherAVX512", NOSPLIT, "func(dst, src *float32, ld, kb, w int, gm, sm uint32)")
	Pragma("noescape")
	Doc("gemmGatherAVX512 interleaves up to 32 rows of kb floats (row stride ld) into a",
		"panel of row stride w: dst[p*w+j] = src[j*ld+p] for the rows in the gather mask",
		"gm, zero for the others; columns in the store mask sm are written.")
	dst := Load(Param("dst"), GP64())
	src := Load(Param("src"), GP64())
	ld := GP64()
	Load(Param("ld"), ld)
	kb := Load(Param("kb"), GP64())
	w := Load(Param("w"), GP64())
	SHLQ(U8(2), w)
	gm := Load(Param("gm"), GP32())
	sm := Load(Param("sm"), GP32())
	KMOVW(sm, K3)
	SHRL(U8(16), sm)
	KMOVW(sm, K4)
	Comment("Index vectors: lanes j·ld and (16+j)·ld, in elements.")
	iota := GLOBL("gemm_iota", RODATA|NOPTR)
	for i := 0; i < 32; i++ {
		DATA(4*i, U32(i))
	}
	VPBROADCASTD(ld.As32(), Z30)
	VPMULLD(iota, Z30, Z28)
	VPMULLD(iota.Offset(64), Z30, Z29)
	gm2 := GP32()
	MOVL(gm, gm2)
	SHRL(U8(16), gm2)
	TESTQ(kb, kb)
	JZ(LabelRef("gather_done"))
	Label("gather_loop")
	VXORPS(Z0, Z0, Z0)
	VXORPS(Z1, Z1, Z1)
	KMOVW(gm, K1)
	VGATHERDPS(Mem{Base: src, Index: Z28, Scale: 4}, K1, Z0)
	KMOVW(gm2, K2)
	VGATHERDPS(Mem{Base: src, Index: Z29, Scale: 4}, K2, Z1)
	VMOVUPS(Z0, K3, Mem{Base: dst})
	VMOVUPS(Z1, K4, Mem{Base: dst, Disp: 64})
	ADDQ(U32(4), src)
	ADDQ(w, dst)
	DECQ(kb)
	JNZ(LabelRef("gather_loop"))
	Label("gather_done")
	VZEROUPPER()
	RET()
}
