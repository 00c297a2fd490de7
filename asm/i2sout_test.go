package asm_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/bitnet-go/bitnet/asm"
	"github.com/bitnet-go/bitnet/asm/generic"
)

// I2SOutputs: the output scaling of the I2_S rows, against the scalar
// generic.I2SOutput bit for bit.

// i2sOutRaws returns n raw dots: ordinary ones (|raw| < 2¹⁶, what real rows
// give), large ones (2²⁴ ≤ |raw| < 2³¹, where float32(raw) rounds) and the
// int32 extremes and rounding boundaries.
func i2sOutRaws(r *rand.Rand, n int) []int32 {
	edges := []int32{0, 1, -1, 1 << 24, 1<<24 + 1, 1<<24 + 3, -(1<<24 + 1), 1<<25 + 2, 1<<25 + 6,
		math.MaxInt32, math.MinInt32, math.MaxInt32 - 64, math.MinInt32 + 64, 1<<31 - 128, 1<<31 - 192}
	raw := make([]int32, n)
	for i := range raw {
		switch r.IntN(3) {
		case 0:
			raw[i] = int32(r.IntN(1<<17)) - 1<<16
		case 1:
			v := int32(1<<24 + r.Int64N(1<<31-1<<24))
			if r.IntN(2) == 0 {
				v = -v
			}
			raw[i] = v
		default:
			raw[i] = edges[r.IntN(len(edges))]
		}
	}
	return raw
}

func TestI2SOutputs(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	negZero := float32(math.Copysign(0, -1))
	denorm := math.Float32frombits(1)          // smallest subnormal
	denormBig := math.Float32frombits(0x7ffff) // a subnormal with many bits
	// Scales: real ones (127/max|x|), tiny and huge (quotients that overflow
	// or become subnormal), subnormal, zero (±Inf and NaN), negative and
	// non-finite.
	scales := []float32{127 / 3.7, 1, 3, 1e-30, 1e30, math.MaxFloat32, denorm, 1e-40, 0, negZero, -0.37, inf, nan}
	// Weight scales γ: real ones, subnormal, zero, negative, huge.
	gammas := []float32{0.8134, 1, denorm, denormBig, -1e-39, 0, -2.5, 1e30}
	lens := make([]int, 0, 80)
	for n := 0; n <= 70; n++ {
		lens = append(lens, n)
	}
	lens = append(lens, 127, 128, 129, 2560, 6912)
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(41, 42))
		for _, n := range lens {
			// raw ends at the guard page and starts off elements into it, y
			// yo elements into its band, so the vectors are unaligned in
			// every way; y is 3 longer than raw, and those 3 must stay.
			off, yo := r.IntN(4), r.IntN(4)
			raw := guardedI32(t, n+off)[off:]
			copy(raw, i2sOutRaws(r, n))
			for _, sum := range []int32{0, int32(r.IntN(1<<14)) - 1<<13, 1<<24 + 1, math.MaxInt32, math.MinInt32} {
				for _, s := range scales {
					for _, gamma := range gammas {
						const sentinel = -7.25
						g := newGuardBand[float32](yo+n+3, sentinel)
						y := g.out()[yo:]
						asm.I2SOutputs(y, raw, sum, s, gamma)
						g.check(t)
						for i, v := range g.out()[:yo] {
							if v != sentinel {
								t.Fatalf("n=%d: y[%d] before the output overwritten", n, i-yo)
							}
						}
						for i, v := range y[n:] {
							if v != sentinel {
								t.Fatalf("n=%d: y[%d] past len(raw) overwritten", n, n+i)
							}
						}
						// Bits must match; NaNs (s = 0 with raw = sum, s = NaN)
						// need only be NaNs, as the API leaves their payloads
						// unspecified.
						for i, d := range raw {
							want := generic.I2SOutput(d, sum, s, gamma)
							if !sameF32(y[i], want) {
								t.Fatalf("n=%d i=%d: I2SOutput(%d, %d, %g, %g) = %g (%#08x), want %g (%#08x)",
									n, i, d, sum, s, gamma, y[i], math.Float32bits(y[i]), want, math.Float32bits(want))
							}
						}
					}
				}
			}
		}
	})
}

// guardedI32 returns n int32s, the last right before an inaccessible page
// (on Linux).
func guardedI32(t testing.TB, n int) []int32 {
	b := guarded(t, 4*n)
	return unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

func TestI2SOutputsShortY(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		asm.I2SOutputs(nil, nil, 0, 1, 1) // empty: nothing to do
		defer func() {
			if recover() == nil {
				t.Fatal("no panic with len(y) < len(raw)")
			}
		}()
		asm.I2SOutputs(make([]float32, 15), make([]int32, 16), 0, 1, 1)
	})
}
