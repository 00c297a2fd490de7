package runtime

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bitnet-go/bitnet/asm"
	"github.com/bitnet-go/bitnet/asm/generic"
)

// randMatrix makes a rows × cols matrix of format f with random contents
// (finite scales).
func randMatrix(t *testing.T, rng *rand.Rand, f Format, rows, cols int) *Matrix {
	t.Helper()
	rb := f.RowBytes(cols)
	data := make([]byte, rows*rb+4)
	f16 := func(b []byte, v float32) { binary.LittleEndian.PutUint16(b, generic.F32ToF16(v)) }
	switch f {
	case I2S, I8Row:
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		if f == I2S {
			// Codes 0..2 only (3 is not a ternary value), then the scale.
			for i := range data[:rows*rb] {
				b := data[i]
				for s := 0; s < 8; s += 2 {
					if (b>>s)&3 == 3 {
						b &^= 1 << s
					}
				}
				data[i] = b
			}
			binary.LittleEndian.PutUint32(data[rows*rb:], math.Float32bits(0.75))
		}
	case F16:
		for i := 0; i < rows*cols; i++ {
			f16(data[2*i:], float32(rng.NormFloat64()))
		}
	case BF16:
		for i := 0; i < rows*cols; i++ {
			binary.LittleEndian.PutUint16(data[2*i:], generic.F32ToBF16(float32(rng.NormFloat64())))
		}
	case F32:
		for i := 0; i < rows*cols; i++ {
			binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(float32(rng.NormFloat64())))
		}
	case Q8_0:
		x := make([]float32, cols)
		for r := range rows {
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			generic.QuantizeQ8_0(data[r*rb:(r+1)*rb], x)
		}
	case TQ1_0, TQ2_0:
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		bs, off := generic.TQ2_0BlockBytes, 64
		if f == TQ1_0 {
			bs, off = generic.TQ1_0BlockBytes, 52
		}
		for b := 0; b < rows*cols/generic.QK_K; b++ {
			f16(data[b*bs+off:], 0.01+rng.Float32())
		}
	default:
		t.Fatalf("no random %s matrix", f)
	}
	m, err := NewMatrix(f, rows, cols, data)
	if err != nil {
		t.Fatal(err)
	}
	if f == I8Row {
		m.RowScales = make([]float32, rows)
		for i := range m.RowScales {
			m.RowScales[i] = 0.001 + rng.Float32()/100
		}
	}
	return m
}

// TestBatchedRowsMatchSingle checks, for every kernel implementation this
// machine runs, that row t of a batched product (the GEMM a multi-sequence
// pass runs) equals the product of token t alone (the GEMV of a decode
// step) bit for bit, with the rounding rule of each row chosen by single —
// the property Batch's numerics guarantee rests on. Run it also with
// -tags purego, with GODEBUG=cpu.avx512f=off, and under qemu for arm64.
func TestBatchedRowsMatchSingle(t *testing.T) {
	defer asm.SetImpl("")
	p := NewPool(2)
	defer p.Close()
	const rows, cols, n = 67, 512, 9
	t.Logf("implementations: %v", asm.Impls())
	for _, impl := range asm.Impls() {
		if err := asm.SetImpl(impl); err != nil {
			t.Fatal(err)
		}
		for _, f := range []Format{I2S, I8Row, F16, BF16, F32, Q8_0, TQ1_0, TQ2_0} {
			rng := rand.New(rand.NewPCG(uint64(f), 7))
			m := randMatrix(t, rng, f, rows, cols)
			x := make([]float32, n*cols)
			for i := range x {
				x[i] = float32(rng.NormFloat64()) * 3
			}
			// Decode rows (single) and prompt rows mixed.
			single := []bool{true, false, false, true, true, false, true, false, false}
			var s Scratch
			y := make([]float32, n*rows)
			matMulGroup([]*Matrix{m}, [][]float32{y}, x, n, single, p, &s)
			alone := make([]float32, rows)
			pair := make([]float32, 2*rows)
			for tk := range n {
				var want []float32
				if single[tk] {
					// A one-token product.
					m.MatMul(alone, x[tk*cols:(tk+1)*cols], 1, p, &s)
					want = alone
				} else {
					// The batched rule: the token in a batch of two.
					xx := append(append([]float32(nil), x[tk*cols:(tk+1)*cols]...), x[:cols]...)
					m.MatMul(pair, xx, 2, p, &s)
					want = pair[:rows]
				}
				for r := range rows {
					if got := y[tk*rows+r]; math.Float32bits(got) != math.Float32bits(want[r]) {
						t.Fatalf("%s, %s: token %d (single %v) row %d: batched %v, alone %v", impl, f, tk, single[tk], r, got, want[r])
					}
				}
			}
			// Without a mask, a batch follows the batched rule throughout:
			// for F16 that differs from the one-token rule, which is why the
			// mask exists.
			if f == F16 {
				y2 := make([]float32, n*rows)
				m.MatMul(y2, x, n, p, &s)
				m.MatMul(alone, x[:cols], 1, p, &s)
				same := true
				for r := range rows {
					same = same && y2[r] == alone[r]
				}
				if same {
					t.Errorf("%s: F16 batched rule equals the one-token rule on random data; the test cannot tell them apart", impl)
				}
			}
		}
	}
}
