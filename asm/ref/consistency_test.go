package ref

import (
	"encoding/binary"
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
	randRow := func(blockBytes int, f16at ...int) []byte {
		row := make([]byte, cols/QK_K*blockBytes)
		for i := range row {
			row[i] = byte(rng.IntN(256))
		}
		for b := 0; b < cols/QK_K; b++ {
			for _, off := range f16at {
				binary.LittleEndian.PutUint16(row[b*blockBytes+off:], F32ToF16(float32(0.01+rng.Float64()*0.1)))
			}
		}
		return row
	}
	w := make([]float32, cols)
	for it := 0; it < 50; it++ {
		q4 := randRow(Q4_KBlockBytes, 0, 2)
		DequantQ4K(w, q4)
		want, mag := dot(w, yd)
		if got := float64(DotQ4K(q4, y)); math.Abs(got-want) > 1e-5*mag+1e-6 {
			t.Fatalf("Q4_K: dot %v, dequantized %v", got, want)
		}
		q6 := randRow(Q6_KBlockBytes, 208)
		DequantQ6K(w, q6)
		want, mag = dot(w, yd)
		if got := float64(DotQ6K(q6, y)); math.Abs(got-want) > 1e-5*mag+1e-6 {
			t.Fatalf("Q6_K: dot %v, dequantized %v", got, want)
		}
		tq := randRow(TQ2_0BlockBytes, 64)
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
		row := make([]byte, cols/Q8_0Block*Q8_0BlockBytes)
		for i := range row {
			row[i] = byte(rng.IntN(256))
		}
		for b := 0; b < cols/Q8_0Block; b++ {
			binary.LittleEndian.PutUint16(row[b*Q8_0BlockBytes:], F32ToF16(float32(rng.Float64()*0.1)))
		}
		DequantQ8_0(w, row)
		want, mag := dot(w, xd)
		if got := float64(DotQ8_0(row, xq, cols)); math.Abs(got-want) > 1e-5*mag+1e-6 {
			t.Fatalf("Q8_0: dot %v, dequantized %v", got, want)
		}
	}
}
