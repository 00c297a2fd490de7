package generic

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The dot products of the block formats must agree with dequantizing the
// row and multiplying in float: this pins the bit layouts of DequantX and
// DotX to each other (the golden model tests pin Q6_K, TQ1_0 and TQ2_0 to
// llama.cpp's).
func TestDotMatchesDequant(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const cols = 512
	x := make([]float32, cols)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]BlockQ8K, cols/QK_K)
	QuantizeQ8K(y, x)
	yd := make([]float32, cols) // the Q8_K activations, dequantized
	for i := range yd {
		yd[i] = y[i/QK_K].D * float32(y[i/QK_K].Qs[i%QK_K])
	}
	dot := func(a, b []float32) (s, mag float64) {
		for i := range a {
			s += float64(a[i]) * float64(b[i])
			mag += math.Abs(float64(a[i]) * float64(b[i]))
		}
		return
	}
	w := make([]float32, cols)
	for it := 0; it < 50; it++ {
		q4 := randBlocks(rng, cols/QK_K, Q4_KBlockBytes, 0, 2)
		DequantQ4K(w, q4)
		want, mag := dot(w, yd)
		if got := float64(DotQ4K(q4, y)); math.Abs(got-want) > 1e-5*mag+1e-6 {
			t.Fatalf("Q4_K: dot %v, dequantized %v", got, want)
		}
		q6 := randBlocks(rng, cols/QK_K, Q6_KBlockBytes, 208)
		DequantQ6K(w, q6)
		want, mag = dot(w, yd)
		if got := float64(DotQ6K(q6, y)); math.Abs(got-want) > 1e-5*mag+1e-6 {
			t.Fatalf("Q6_K: dot %v, dequantized %v", got, want)
		}
		tq := randBlocks(rng, cols/QK_K, TQ2_0BlockBytes, 64)
		DequantTQ(w, tq, false)
		want, mag = dot(w, yd)
		if got := float64(DotTQ(tq, y, false)); math.Abs(got-want) > 1e-5*mag+1e-6 {
			t.Fatalf("TQ2_0: dot %v, dequantized %v", got, want)
		}
	}
	// Q8_0 against Q8_0 activations.
	xq := make([]byte, cols/Q8_0Block*Q8_0BlockBytes)
	QuantizeQ8_0(xq, x)
	xd := make([]float32, cols)
	DequantQ8_0(xd, xq)
	for it := 0; it < 50; it++ {
		row := randBlocks(rng, cols/Q8_0Block, Q8_0BlockBytes, 0)
		DequantQ8_0(w, row)
		want, mag := dot(w, xd)
		if got := float64(DotQ8_0(row, xq, cols)); math.Abs(got-want) > 1e-5*mag+1e-6 {
			t.Fatalf("Q8_0: dot %v, dequantized %v", got, want)
		}
	}
}
