package generic

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// TestFMA32 checks FMA32 against the exactly rounded a·b + c, including
// products and sums chosen to land on float32 rounding midpoints.
func TestFMA32(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	exact := func(a, b, c float32) float32 {
		x := new(big.Float).SetPrec(200).SetFloat64(float64(a))
		x.Mul(x, new(big.Float).SetPrec(200).SetFloat64(float64(b)))
		x.Add(x, new(big.Float).SetPrec(200).SetFloat64(float64(c)))
		f, _ := x.Float32()
		return f
	}
	for i := 0; i < 200000; i++ {
		var a, b, c float32
		switch i % 3 {
		case 0: // general values
			a, b, c = float32(rng.NormFloat64()), float32(rng.NormFloat64()*1e3), float32(rng.NormFloat64())
		case 1: // small integers times a scale, as the kernels have
			a = float32(rng.IntN(1<<20) - 1<<19)
			b = float32(rng.NormFloat64() * 1e-4)
			c = float32(rng.NormFloat64())
		case 2: // c cancels most of a·b, a midpoint plus a tiny tail
			a = float32(1 + rng.IntN(1<<12))
			b = float32(1+rng.IntN(1<<12)) * 0x1p-30
			c = math.Float32frombits(math.Float32bits(a*b)) + float32(rng.IntN(3)-1)*0x1p-40
		}
		if got, want := FMA32(a, b, c), exact(a, b, c); got != want && !(got != got && want != want) {
			t.Fatalf("FMA32(%g, %g, %g) = %g, want %g", a, b, c, got, want)
		}
	}
	// a·b = 1 + 2^-11 + 2^-24 is a float32 midpoint; a tiny c decides.
	const a = 1 + 0x1p-12
	if got := FMA32(a, a, 0x1p-60); got != 1+0x1p-11+0x1p-23 {
		t.Fatalf("midpoint rounded up: %g", got)
	}
	if got := FMA32(a, a, -0x1p-60); got != 1+0x1p-11 {
		t.Fatalf("midpoint rounded down: %g", got)
	}
	if got := FMA32(a, a, 0); got != 1+0x1p-11 { // ties to even
		t.Fatalf("midpoint tie: %g", got)
	}
}
