package ref

import (
	"math/rand/v2"
	"testing"
)

// TestKRowMatchesDots checks that decoding a Q4_K row once and multiplying
// it gives bit-identical results to DotQ4K.
func TestKRowMatchesDots(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const cols = 512
	x := make([]float32, cols)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]BlockQ8K, cols/QK_K)
	QuantizeQ8K(y, x)
	var kr KRow
	for it := 0; it < 20; it++ {
		q4 := randBlocks(rng, cols/QK_K, Q4_KBlockBytes, 0, 2)
		DecodeKRow(&kr, q4, cols)
		if a, b := DotQ4K(q4, y), DotKRow(&kr, y); a != b {
			t.Fatalf("Q4_K: %v != %v", a, b)
		}
	}
}
