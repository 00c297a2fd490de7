package asm_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bitnet-go/bitnet/asm"
	"github.com/bitnet-go/bitnet/asm/generic"
	"github.com/bitnet-go/bitnet/asm/ref"
)

// Attention over a binary16 KV cache: F16ToF32s, F16AXPY, F16DotsStrided.

// sameF32 reports whether got and want have the same bits, or are both NaN
// (payloads of NaN results are unspecified).
func sameF32(got, want float32) bool {
	return math.Float32bits(got) == math.Float32bits(want) || got != got && want != want
}

var f16Lens = []int{0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 80, 96, 127, 128, 129, 200, 2560}

func TestF16ToF32s(t *testing.T) {
	// Every binary16 value, then shorter slices ending at the guard page.
	all := guardedU16(t, 1<<16)
	for i := range all {
		all[i] = uint16(i)
	}
	forEachImpl(t, func(t *testing.T) {
		for _, n := range append(f16Lens, len(all)) {
			src := all[len(all)-n:]
			g := newGuardBand[float32](n, -7.25)
			asm.F16ToF32s(g.out(), src)
			g.check(t)
			for i, v := range g.out() {
				if want := generic.F16ToF32(src[i]); math.Float32bits(v) != math.Float32bits(want) {
					t.Fatalf("n=%d: F16ToF32(%#04x) = %#08x, want %#08x", n, src[i], math.Float32bits(v), math.Float32bits(want))
				}
			}
		}
	})
}

func TestF16AXPY(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	// Scales: ordinary, signed zeros, products that underflow to float32
	// subnormals or zero, that overflow, and non-finite.
	as := []float32{0.37, -1.5, 1, 0, float32(math.Copysign(0, -1)), 1e-30, -3e-38, 1e30, math.MaxFloat32, inf, nan}
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(21, 22))
		for _, n := range f16Lens {
			for ai, a := range as {
				x := guardedU16(t, n)
				for i := range x {
					if ai%2 == 0 {
						x[i] = uint16(r.Uint32()) // every class: subnormal, inf, NaN
					} else {
						x[i] = randF16(r, 2)
					}
				}
				g := newGuardBand[float32](n, 12345.5)
				want := make([]float32, n)
				for i := range want {
					v := float32(r.NormFloat64())
					switch r.IntN(16) {
					case 0:
						v = 0
					case 1:
						v = -inf
					case 2:
						v = 1e-40 // subnormal
					}
					want[i] = v
					g.out()[i] = v
				}
				ref.F16AXPY(want, a, x)
				asm.F16AXPY(g.out(), a, x)
				g.check(t)
				for i, v := range g.out() {
					if !sameF32(v, want[i]) {
						t.Fatalf("n=%d a=%v: dst[%d] = %v (%#08x), want %v (%#08x); x = %#04x", n, a, i, v, math.Float32bits(v), want[i], math.Float32bits(want[i]), x[i])
					}
				}
			}
		}
		// len(x) > len(dst): only len(dst) elements are used.
		d := []float32{1, 2}
		asm.F16AXPY(d, 2, []uint16{0x3c00, 0x3c00, 0x7e00})
		if d[0] != 3 || d[1] != 4 {
			t.Fatalf("long x: got %v", d)
		}
		asm.F16AXPY(nil, 1, nil)
	})
}

// TestF16AXPYNoFMA: with dst = −fl(a·x), the separate multiply and add
// give exactly 0; an FMA would give the product's rounding error. a =
// 1 + 2⁻¹⁴ + 2⁻²³ and x = 1 + 2⁻¹⁰ (binary16 0x3c01) have a product with
// bits down to 2⁻³³, which float32 cannot hold.
func TestF16AXPYNoFMA(t *testing.T) {
	a := math.Float32frombits(0x3f800000 | 1<<9 | 1)
	x := make([]uint16, 64)
	for i := range x {
		x[i] = 0x3c01
	}
	p := a * generic.F16ToF32(0x3c01)
	exact := float64(a) * float64(generic.F16ToF32(0x3c01))
	if float64(p) == exact {
		t.Fatal("test product is exact; pick another")
	}
	forEachImpl(t, func(t *testing.T) {
		dst := make([]float32, len(x))
		for i := range dst {
			dst[i] = -p
		}
		asm.F16AXPY(dst, a, x)
		for i, v := range dst {
			if v != 0 {
				t.Fatalf("dst[%d] = %g: the product was not rounded before the add (FMA?)", i, v)
			}
		}
	})
}

func TestF16AXPYStrided(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(25, 26))
		for _, n := range []int{1, 7, 8, 9, 16, 17, 31, 32, 33, 48, 63, 64, 65, 80, 96, 128, 129, 200} {
			for _, rows := range []int{1, 2, 3, 5, 17} {
				for _, stride := range []int{n, 5 * n, n + 3, n / 2, 0} {
					x := guardedU16(t, (rows-1)*stride+n)
					for i := range x {
						if i%97 == 5 {
							x[i] = uint16(r.Uint32()) // any class, NaN included
						} else {
							x[i] = randF16(r, 1)
						}
					}
					a := guardedF32(t, rows)
					for i := range a {
						a[i] = float32(r.ExpFloat64() / float64(rows))
					}
					want := make([]float32, n)
					g := newGuardBand[float32](n, 4321.5)
					for i := range want {
						want[i] = float32(r.NormFloat64())
						g.out()[i] = want[i]
					}
					ref.F16AXPYStrided(want, a, x, stride)
					asm.F16AXPYStrided(g.out(), a, x, stride)
					g.check(t)
					for i, v := range g.out() {
						if !sameF32(v, want[i]) {
							t.Fatalf("n=%d rows=%d stride=%d: dst[%d] = %v (%#08x), want %v (%#08x)", n, rows, stride, i, v, math.Float32bits(v), want[i], math.Float32bits(want[i]))
						}
					}
				}
			}
		}
		// The same as one F16AXPY per row, in order.
		const n, rows, stride = 128, 300, 640
		x := make([]uint16, rows*stride)
		for i := range x {
			x[i] = randF16(r, 1)
		}
		a := make([]float32, rows)
		for i := range a {
			a[i] = float32(r.Float64())
		}
		got, want := make([]float32, n), make([]float32, n)
		asm.F16AXPYStrided(got, a, x[n:], stride)
		for j, aj := range a {
			asm.F16AXPY(want, aj, x[n+j*stride:])
		}
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("dst[%d] = %v, F16AXPY per row gives %v", i, got[i], want[i])
			}
		}
		asm.F16AXPYStrided(nil, a, x, stride)
		asm.F16AXPYStrided(got, nil, nil, 1)
	})
	for _, c := range []struct {
		name string
		f    func()
	}{
		{"negative stride", func() { asm.F16AXPYStrided(make([]float32, 8), make([]float32, 2), make([]uint16, 64), -1) }},
		{"x short", func() { asm.F16AXPYStrided(make([]float32, 16), make([]float32, 3), make([]uint16, 2*20+15), 20) }},
		{"x shorter than dst", func() { asm.F16AXPYStrided(make([]float32, 16), make([]float32, 1), make([]uint16, 15), 20) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			c.f()
		})
	}
}

// refStridedAbs returns Σ|k·q| of row j (the tolerance scale).
func refStridedAbs(k []uint16, stride int, q []uint16, j int) float64 {
	var abs float64
	for i, h := range q {
		abs += math.Abs(float64(generic.F16ToF32(k[j*stride+i])) * float64(generic.F16ToF32(h)))
	}
	return abs
}

func TestF16DotsStrided(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(23, 24))
		for _, n := range []int{1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 80, 96, 128, 129, 200} {
			for _, rows := range []int{1, 2, 3, 4, 5, 7, 8, 9, 17} {
				// Strides: packed rows, a KV cache of 5 heads, padding,
				// overlapping rows and one row repeated.
				for _, stride := range []int{n, 5 * n, n + 3, n / 2, 0} {
					k := guardedU16(t, (rows-1)*stride+n)
					for i := range k {
						k[i] = randF16(r, 1)
					}
					q := guardedU16(t, n)
					for i := range q {
						q[i] = randF16(r, 0.3)
					}
					want := make([]float32, rows)
					ref.F16DotsStrided(want, k, stride, q)
					g := newGuardBand[float32](rows, -999.5)
					asm.F16DotsStrided(g.out(), k, stride, q)
					g.check(t)
					for j, v := range g.out() {
						checkClose(t, fmt.Sprintf("n=%d rows=%d stride=%d row %d", n, rows, stride, j), v, want[j], refStridedAbs(k, stride, q, j))
					}
				}
			}
		}
		// A decode-sized case: 1000 positions, head dim 128, 5 KV heads.
		const n, rows, stride = 128, 1000, 640
		k := make([]uint16, rows*stride)
		for i := range k {
			k[i] = randF16(r, 1)
		}
		q := make([]uint16, n)
		for i := range q {
			q[i] = randF16(r, 0.3)
		}
		for h := 0; h < stride/n; h++ {
			want := make([]float32, rows)
			kh := k[h*n:]
			ref.F16DotsStrided(want, kh, stride, q)
			got := make([]float32, rows)
			asm.F16DotsStrided(got, kh, stride, q)
			for j := range got {
				checkClose(t, fmt.Sprintf("head %d row %d", h, j), got[j], want[j], refStridedAbs(kh, stride, q, j))
			}
		}
	})
}

func TestF16DotsStridedEdges(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		asm.F16DotsStrided(nil, nil, 7, make([]uint16, 3))
		d := []float32{1, 2}
		asm.F16DotsStrided(d, make([]uint16, 3), 3, nil) // empty q: all scores are 0
		if d[0] != 0 || d[1] != 0 {
			t.Fatalf("empty q: got %v", d)
		}
	})
	for _, c := range []struct {
		name string
		f    func()
	}{
		{"negative stride", func() { asm.F16DotsStrided(make([]float32, 2), make([]uint16, 64), -1, make([]uint16, 8)) }},
		{"k short", func() { asm.F16DotsStrided(make([]float32, 3), make([]uint16, 2*20+15), 20, make([]uint16, 16)) }},
		{"k shorter than q", func() { asm.F16DotsStrided(make([]float32, 1), make([]uint16, 15), 20, make([]uint16, 16)) }},
		{"huge stride", func() { asm.F16DotsStrided(make([]float32, 3), make([]uint16, 64), math.MaxInt/2, make([]uint16, 16)) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			c.f()
		})
	}
}
