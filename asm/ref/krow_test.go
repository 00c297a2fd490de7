package ref

import (
	"math/rand/v2"
	"testing"
)

// TestKRowMatchesDots checks that decoding a row once and multiplying it
// gives bit-identical results to the per-format dot products.
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
		tq2 := randBlocks(rng, cols/QK_K, TQ2_0BlockBytes, 64)
		for i := range tq2 { // codes 0..2 only
			if i%TQ2_0BlockBytes < 64 {
				tq2[i] &= 0x55
			}
		}
		DecodeKRow(&kr, KRowTQ2, tq2, cols)
		if a, b := DotTQ(tq2, y, false), DotKRow(&kr, y); a != b {
			t.Fatalf("TQ2_0: %v != %v", a, b)
		}
		tq1 := randBlocks(rng, cols/QK_K, TQ1_0BlockBytes, 52)
		DecodeKRow(&kr, KRowTQ1, tq1, cols)
		if a, b := DotTQ(tq1, y, true), DotKRow(&kr, y); a != b {
			t.Fatalf("TQ1_0: %v != %v", a, b)
		}
		q6 := randBlocks(rng, cols/QK_K, Q6_KBlockBytes, 208)
		DecodeKRow(&kr, KRowQ6K, q6, cols)
		if a, b := DotQ6K(q6, y), DotKRow(&kr, y); a != b {
			t.Fatalf("Q6_K: %v != %v", a, b)
		}
		q4 := randBlocks(rng, cols/QK_K, Q4_KBlockBytes, 0, 2)
		DecodeKRow(&kr, KRowQ4K, q4, cols)
		if a, b := DotQ4K(q4, y), DotKRow(&kr, y); a != b {
			t.Fatalf("Q4_K: %v != %v", a, b)
		}
	}
}
