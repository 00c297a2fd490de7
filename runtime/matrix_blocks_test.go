package runtime

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bitnet-go/bitnet/asm/generic"
)

// TestMatMulBlockFormats multiplies random block-format matrices with
// several tokens on two threads (rows not a multiple of the tile) and
// checks every output bit for bit against the references' dot products of
// the activations quantized as ggml quantizes them.
func TestMatMulBlockFormats(t *testing.T) {
	const rows, cols, n = 70, 512, 3
	rng := rand.New(rand.NewPCG(11, 12))
	x := make([]float32, n*cols)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	p := NewPool(2)
	defer p.Close()
	for _, c := range []struct {
		f     Format
		f16at []int
	}{{Q4_K, []int{0, 2}}, {Q6_K, []int{208}}, {TQ1_0, []int{52}}, {TQ2_0, []int{64}}, {Q8_0, []int{0}}} {
		t.Run(c.f.String(), func(t *testing.T) {
			bs := c.f.RowBytes(cols) / (cols / c.f.BlockCols())
			data := make([]byte, rows*c.f.RowBytes(cols))
			for i := range data {
				data[i] = byte(rng.Uint32())
			}
			for b := 0; b < len(data)/bs; b++ {
				for _, off := range c.f16at {
					binary.LittleEndian.PutUint16(data[b*bs+off:], generic.F32ToF16(float32(0.01+0.1*rng.Float64())))
				}
			}
			m, err := NewMatrix(c.f, rows, cols, data)
			if err != nil {
				t.Fatal(err)
			}
			y := make([]float32, n*rows)
			m.MatMul(y, x, n, p, &Scratch{})
			for tok := 0; tok < n; tok++ {
				xt := x[tok*cols : (tok+1)*cols]
				q8k := make([]generic.BlockQ8K, cols/generic.QK_K)
				generic.QuantizeQ8K(q8k, xt)
				q80 := make([]byte, Q8_0.RowBytes(cols))
				generic.QuantizeQ8_0Act(q80, xt)
				for r := 0; r < rows; r++ {
					w := m.row(r)
					var want float32
					switch c.f {
					case Q4_K:
						want = generic.DotQ4K(w, q8k)
					case Q6_K:
						want = generic.DotQ6K(w, q8k)
					case TQ1_0, TQ2_0:
						want = generic.DotTQ(w, q8k, c.f == TQ1_0)
					case Q8_0:
						want = generic.DotQ8_0(w, q80, cols)
					}
					if got := y[tok*rows+r]; math.Float32bits(got) != math.Float32bits(want) {
						t.Fatalf("token %d row %d: %v, want %v", tok, r, got, want)
					}
				}
			}
		})
	}
}
