package asm

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/bitnet-go/bitnet/asm/generic"
	"github.com/bitnet-go/bitnet/asm/ref"
)

// kernels is one implementation of the kernel API. The public functions
// validate their arguments and handle empty shapes before calling these.
type kernels struct {
	name string

	// i2s sets dst[t·ldd + r] = Σ_k code[r][k]·q[t·ldq + k] for t < n,
	// r < rows, over k elements (k a positive multiple of 128, rows ≥ 1).
	i2s        func(dst []int32, ldd int, w []byte, q []int8, ldq, n, rows, k int)
	quantizeI8 func(dst []int8, x []float32) (float32, int32)
	dotF32     func(a, b []float32) float32
	dotF16     func(a, b []uint16) float32
	f16Dots    func(dst []float32, w []uint16, x []float32) // len(x) ≥ 1
	f32ToF16s  func(dst []uint16, src []float32)
	f16ToF32s  func(dst []float32, src []uint16)
	f16AXPY    func(dst []float32, a float32, x []uint16) // len(x) = len(dst)
	// The strided kernels get len(dst) ≥ 1, len(a) or len(q) ≥ 1 and x or k
	// long enough; i8Dots gets len(dst) ≥ 1 and len(q) ≥ 1.
	f16AXPYStrided func(dst []float32, a []float32, x []uint16, stride int)
	f16DotsStrided func(dst []float32, k []uint16, stride int, q []uint16)
	i8Dots         func(dst []int32, w []int8, q []int8)
	// i2sOutputs gets len(y) = len(raw).
	i2sOutputs func(y []float32, raw []int32, sum int32, s, gamma float32)
	// gemm is the float32 GEMM micro-kernel (GemmF32) of this
	// implementation, set at init from gemmFor(name).
	gemm *gemmMicro
	// The block-format GEMVs (blocks.go) get len(dst) ≥ 1, len(y) ≥ 1
	// block and w long enough.
	q6kDots, q4kDots, tq1Dots, tq2Dots func(dst []float32, w []byte, y []generic.BlockQ8K)
	q80Dots                            func(dst []float32, w []byte, y []byte)
	// tq1DotsN and tq2DotsN are tq1Dots and tq2Dots for n ≥ 2 tokens, ldy
	// blocks apart in y, into rows outputs per token, ldd apart in dst
	// (rows, nb ≥ 1; every value the one-token kernel's bit for bit); nil:
	// the one-token kernel per token.
	tq1DotsN, tq2DotsN func(dst []float32, ldd int, w []byte, y []generic.BlockQ8K, ldy, n, rows, nb int)

	// f16DotsN is f16Dots for n ≥ 2 tokens of k values, ldx apart in x,
	// into rows outputs per token, ldd apart in dst (rows, k ≥ 1); nil:
	// f16Dots per token.
	f16DotsN func(dst []float32, ldd int, w []uint16, x []float32, ldx, n, rows, k int)
}

// refKernels forwards to package ref.
var refKernels = kernels{
	name:           "ref",
	i2s:            i2sRef,
	quantizeI8:     generic.QuantizeI8,
	dotF32:         generic.DotF32,
	dotF16:         generic.DotF16,
	f16Dots:        f16DotsRef,
	f32ToF16s:      f32ToF16sRef,
	f16ToF32s:      ref.F16ToF32s,
	f16AXPY:        ref.F16AXPY,
	f16AXPYStrided: ref.F16AXPYStrided,
	f16DotsStrided: ref.F16DotsStrided,
	i8Dots:         ref.I8Dots,
	i2sOutputs:     i2sOutputsRef,
	// The block formats run their portable Go versions (blocks_generic.go),
	// which the tests compare with the references.
	q6kDots: q6kDotsGo,
	q4kDots: q4kDotsGo,
	tq1Dots: tq1DotsGo,
	tq2Dots: tq2DotsGo,
	q80Dots: q80DotsGo,
}

// available lists the implementations this CPU can run, best first; ref is
// always last. platformKernels is defined per build configuration
// (impl_amd64.go, impl_arm64.go, impl_other.go).
var available = append(platformKernels(), &refKernels)

// active is the implementation in use.
var active atomic.Pointer[kernels]

func init() {
	for _, k := range available {
		k.gemm = gemmFor(k.name)
	}
	active.Store(available[0])
}

// Impl returns the name of the implementation in use, e.g. "avx512vnni".
func Impl() string { return active.Load().name }

// Impls returns the names of the implementations this CPU can run, best
// (the default) first; the last is always "ref".
func Impls() []string {
	names := make([]string, len(available))
	for i, k := range available {
		names[i] = k.name
	}
	return names
}

// SetImpl selects an implementation by name ("" selects the default). It is
// meant for tests, benchmarks and a command-line override; calls racing with
// running kernels see either implementation.
func SetImpl(name string) error {
	if name == "" {
		active.Store(available[0])
		return nil
	}
	for _, k := range available {
		if k.name == name {
			active.Store(k)
			return nil
		}
	}
	return fmt.Errorf("asm: implementation %q not available on this CPU (have %s)", name, strings.Join(Impls(), ", "))
}

// i2sRef is the reference loop: one generic.DotI2S per row and token.
func i2sRef(dst []int32, ldd int, w []byte, q []int8, ldq, n, rows, k int) {
	rb := k / 4
	for t := 0; t < n; t++ {
		qt := q[t*ldq : t*ldq+k]
		d := dst[t*ldd : t*ldd+rows]
		for r := range d {
			d[r] = generic.DotI2S(w[r*rb:(r+1)*rb], qt)
		}
	}
}

func f16DotsRef(dst []float32, w []uint16, x []float32) {
	k := len(x)
	for r := range dst {
		var s float32
		for i, v := range w[r*k : (r+1)*k] {
			s += generic.F16ToF32(v) * x[i]
		}
		dst[r] = s
	}
}

// i2sOutputsRef applies generic.I2SOutput to every raw dot.
func i2sOutputsRef(y []float32, raw []int32, sum int32, s, gamma float32) {
	y = y[:len(raw)]
	for i, d := range raw {
		y[i] = generic.I2SOutput(d, sum, s, gamma)
	}
}

func f32ToF16sRef(dst []uint16, src []float32) {
	for i, v := range src {
		dst[i] = generic.F32ToF16(v)
	}
}

// quantizeTail quantizes x into dst with scale s like generic.QuantizeI8 and
// returns Σq (the part of a row the SIMD kernels leave over).
func quantizeTail(dst []int8, x []float32, s float32) (sum int32) {
	dst = dst[:len(x)]
	for i, v := range x {
		q := generic.NearestInt(v * s)
		q = max(-128, min(127, q))
		dst[i] = int8(q)
		sum += q
	}
	return sum
}

// absMaxTail folds max|x| into m, skipping NaNs as generic.QuantizeI8 does.
func absMaxTail(m float32, x []float32) float32 {
	for _, v := range x {
		if a := abs32(v); a > m {
			m = a
		}
	}
	return m
}

func abs32(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}

// i8Scale is generic.QuantizeI8's scale for a float32 max|x| (the comparison
// with 1e-5 and the division are in float64, as in the reference).
func i8Scale(amax float32) float32 {
	m := 1e-5
	if a := float64(amax); a > m {
		m = a
	}
	return float32(127 / m)
}

// memSumGo sums the little-endian uint64 words of b.
func memSumGo(b []byte) uint64 {
	var s uint64
	for len(b) >= 8 {
		s += binary.LittleEndian.Uint64(b)
		b = b[8:]
	}
	return s
}
