package convert

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bitnet-go/bitnet/asm/ref"
)

// Q6_K follows quantize_row_q6_K_ref; no reference input is available to
// compare bytes (the bitnet-s Q6_K embeddings were quantized from an F32
// file that is not kept), so this checks the format and the error.
func TestQ6KRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	x := make([]float32, 4*ref.QK_K)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	clear(x[ref.QK_K : 2*ref.QK_K]) // an all-zero block
	b := make([]byte, 4*ref.Q6_KBlockBytes)
	quantizeQ6K(b, x)
	y := make([]float32, len(x))
	ref.DequantQ6K(y, b)
	var maxErr float64
	for i := range x {
		maxErr = max(maxErr, math.Abs(float64(x[i]-y[i])))
	}
	if maxErr > 0.1 {
		t.Errorf("max error %g", maxErr)
	}
	for i := ref.QK_K; i < 2*ref.QK_K; i++ {
		if y[i] != 0 {
			t.Fatalf("zero block decodes to %v", y[i])
		}
	}
}

// nearestInt is ggml's nearest_int: round half to even.
func TestNearestInt(t *testing.T) {
	for _, c := range []struct {
		x    float32
		want int32
	}{{0.5, 0}, {1.5, 2}, {2.5, 2}, {-0.5, 0}, {-1.5, -2}, {-2.49, -2}, {31.6, 32}, {-128, -128}} {
		if got := nearestInt(c.x); got != c.want {
			t.Errorf("nearestInt(%v) = %d, want %d", c.x, got, c.want)
		}
	}
}
