package asm_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bitnet-go/bitnet/asm"
	"github.com/bitnet-go/bitnet/asm/generic"
)

// TestF16DotsN checks that every implementation's n-token F16 head gives
// each token exactly what F16Dots gives it alone (bit for bit: a
// multi-sequence decode step must not change any sequence's logits), for
// row lengths with and without a tail past the last whole vector, strided
// operands, and token counts past the largest kernel.
func TestF16DotsN(t *testing.T) {
	defer asm.SetImpl("")
	rng := rand.New(rand.NewPCG(3, 4))
	for _, impl := range asm.Impls() {
		if err := asm.SetImpl(impl); err != nil {
			t.Fatal(err)
		}
		for _, k := range []int{5, 16, 64, 200, 256, 2560 + 37} {
			for _, n := range []int{1, 2, 3, 4, 5, 6, 7, 9, 13} {
				rows := 1 + rng.IntN(35)
				ldd, ldx := rows+rng.IntN(3), k+rng.IntN(3)
				w := make([]uint16, rows*k)
				for i := range w {
					w[i] = generic.F32ToF16(float32(rng.NormFloat64()))
				}
				x := make([]float32, (n-1)*ldx+k)
				for i := range x {
					x[i] = float32(rng.NormFloat64())
				}
				got := make([]float32, (n-1)*ldd+rows)
				for i := range got {
					got[i] = -7 // the gaps between tokens must stay
				}
				asm.F16DotsN(got, ldd, w, x, ldx, n)
				want := make([]float32, rows)
				for tk := range n {
					asm.F16Dots(want, w, x[tk*ldx:tk*ldx+k])
					for r := range rows {
						if g := got[tk*ldd+r]; math.Float32bits(g) != math.Float32bits(want[r]) {
							t.Fatalf("%s k=%d n=%d: token %d row %d: %v, alone %v", impl, k, n, tk, r, g, want[r])
						}
					}
					for r := rows; r < ldd && tk < n-1; r++ {
						if got[tk*ldd+r] != -7 {
							t.Fatalf("%s k=%d n=%d: wrote the gap after token %d", impl, k, n, tk)
						}
					}
				}
			}
		}
	}
}

func TestF16DotsNShapes(t *testing.T) {
	for _, c := range []struct {
		name string
		f    func()
	}{
		{"dst too short", func() { asm.F16DotsN(make([]float32, 3), 4, make([]uint16, 64), make([]float32, 32), 16, 2) }},
		{"x too short", func() { asm.F16DotsN(make([]float32, 8), 4, make([]uint16, 64), make([]float32, 10), 16, 2) }},
		{"w too short", func() { asm.F16DotsN(make([]float32, 8), 4, make([]uint16, 63), make([]float32, 32), 16, 2) }},
		{"negative n", func() { asm.F16DotsN(nil, 0, nil, nil, 0, -1) }},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", c.name)
				}
			}()
			c.f()
		}()
	}
}

func BenchmarkF16DotsN(b *testing.B) {
	const k, rows = 2560, 32 // a cached tile of the head
	benchImpls(b, func(b *testing.B) {
		for _, n := range []int{1, 4, 8} {
			b.Run(fmtN(n), func(b *testing.B) {
				w := make([]uint16, rows*k)
				x := make([]float32, n*k)
				dst := make([]float32, n*rows)
				b.SetBytes(int64(n * 2 * rows * k))
				for b.Loop() {
					asm.F16DotsN(dst, rows, w, x, k, n)
				}
			})
		}
	})
}

func fmtN(n int) string { return "n" + string(rune('0'+n)) }
