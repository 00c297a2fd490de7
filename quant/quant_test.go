package quant

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bitnet-go/bitnet/asm/generic"
)

// TQ packing is the inverse of the oracle's decoding, for every code.
func TestPackTQ(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 200; iter++ {
		var codes, back [QK_K]int8
		for i := range codes {
			codes[i] = int8(rng.IntN(3))
		}
		if iter == 0 {
			for i := range codes {
				codes[i] = 2
			}
		}
		var b1 [TQ1_0Bytes]byte
		var b2 [TQ2_0Bytes]byte
		PackTQ1(b1[:], &codes, 0x3c00)
		PackTQ2(b2[:], &codes, 0x3c00)
		generic.TQ1Codes(&back, b1[:])
		if back != codes {
			t.Fatalf("TQ1_0 round trip changed codes")
		}
		generic.TQ2Codes(&back, b2[:])
		if back != codes {
			t.Fatalf("TQ2_0 round trip changed codes")
		}
	}
}

// Quantizing ternary values {−γ, 0, γ} gives back ±f16(γ) and 0, the scale
// is 0 for an all-zero block, and several blocks are quantized in order.
func TestQuantizeTQ(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, tq1 := range []bool{false, true} {
		for trial := 0; trial < 20; trial++ {
			gamma := float32(r.Float64()*0.1 + 0.01)
			x := make([]float32, 2*QK_K)
			for i := range x {
				x[i] = float32(r.IntN(3)-1) * gamma
			}
			if trial == 0 {
				clear(x[:QK_K]) // all-zero block: d = 0
			}
			bs := TQ2_0Bytes
			if tq1 {
				bs = TQ1_0Bytes
			}
			b := make([]byte, 2*bs)
			if tq1 {
				QuantizeTQ1(b, x)
			} else {
				QuantizeTQ2(b, x)
			}
			got := make([]float32, QK_K)
			d := generic.RoundF16(gamma)
			for blk := 0; blk < 2; blk++ {
				generic.DequantTQ(got, b[blk*bs:(blk+1)*bs], tq1)
				for i := range got {
					v := x[blk*QK_K+i]
					want := float32(0)
					if v > 0 {
						want = d
					} else if v < 0 {
						want = -d
					}
					if got[i] != want {
						t.Fatalf("tq1=%v trial %d block %d: element %d = %v, want %v", tq1, trial, blk, i, got[i], want)
					}
				}
			}
		}
	}
}

// Q6_K follows quantize_row_q6_K_ref; no reference input is available to
// compare bytes (the bitnet-s Q6_K embeddings were quantized from an F32
// file that is not kept), so this checks the format: every value within
// half a quantization step of its input, zero blocks stay zero, and the
// result is what the oracle decodes.
func TestQuantizeQ6K(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, 4*QK_K)
	for i := range x {
		x[i] = float32(rng.NormFloat64()) * 0.1
	}
	clear(x[3*QK_K:])
	b := make([]byte, 4*Q6_KBytes)
	QuantizeQ6K(b, x)
	y := make([]float32, len(x))
	generic.DequantQ6K(y, b)
	for blk := 0; blk < 4; blk++ {
		bb := b[blk*Q6_KBytes:]
		d := generic.F16ToF32(binary.LittleEndian.Uint16(bb[208:]))
		for i := blk * QK_K; i < (blk+1)*QK_K; i++ {
			step := math.Abs(float64(d * float32(int8(bb[192+(i%QK_K)/16]))))
			if diff := math.Abs(float64(y[i] - x[i])); diff > step/2+1e-7 && blk < 3 {
				t.Fatalf("value %d: %g decodes to %g (step %g)", i, x[i], y[i], step)
			}
			if blk == 3 && y[i] != 0 {
				t.Fatalf("zero block decodes to %g", y[i])
			}
		}
	}
}

// Unit-variance input stays within 0.1 of itself.
func TestQ6KRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	x := make([]float32, 4*QK_K)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	clear(x[QK_K : 2*QK_K])
	b := make([]byte, 4*Q6_KBytes)
	QuantizeQ6K(b, x)
	y := make([]float32, len(x))
	generic.DequantQ6K(y, b)
	var maxErr float64
	for i := range x {
		maxErr = max(maxErr, math.Abs(float64(x[i]-y[i])))
	}
	if maxErr > 0.1 {
		t.Errorf("max error %g", maxErr)
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
