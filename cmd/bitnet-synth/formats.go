package main

// The -type and -head flags: which tensor types the ternary matrices and
// the token embedding (which doubles as the output head) are written in.
//
//   - i2_s: the bitnet.cpp layout (codes plus one f32 scale per tensor);
//     architecture bitnet-b1.58 by default, which only bitnet.cpp loads.
//   - tq1_0, tq2_0: upstream llama.cpp's ternary types (one f16 scale per
//     256 weights); architecture bitnet by default, the only BitNet
//     architecture upstream knows (its graph has the sub-norms and a SiLU
//     FFN, so it is not the 2B4T ReLU² graph, but has the same shape and
//     cost). bitnet.cpp also reads these types.
//   - head f16 (bitnet.cpp's converter), q6_k (llama-quantize
//     --token-embedding-type q6_k, and upstream's default for TQ files) or
//     q8_0.

import (
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/bitnet-go/bitnet/asm"
	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/layout"
)

type formats struct{ typ, head string }

func addFormatFlags(fs *flag.FlagSet) *formats {
	f := &formats{}
	fs.StringVar(&f.typ, "type", "i2_s", "ternary matrix `type`: i2_s (bitnet.cpp), tq1_0 or tq2_0 (upstream llama.cpp)")
	fs.StringVar(&f.head, "head", "f16", "token embedding / output head `type`: f16, q6_k or q8_0")
	return f
}

// resolve checks the flags against the shape and picks the architecture
// when -arch was not given.
func (f *formats) resolve(fs *flag.FlagSet, arch *string, s shape) error {
	switch f.typ {
	case "i2_s", "tq1_0", "tq2_0":
	default:
		return fmt.Errorf("unknown -type %q (want i2_s, tq1_0 or tq2_0)", f.typ)
	}
	switch f.head {
	case "f16", "q6_k", "q8_0":
	default:
		return fmt.Errorf("unknown -head %q (want f16, q6_k or q8_0)", f.head)
	}
	if f.typ != "i2_s" && (s.dim%asm.QK_K != 0 || s.ffn%asm.QK_K != 0) {
		return fmt.Errorf("-type %s needs dim and ffn that are multiples of %d (have %d, %d)", f.typ, asm.QK_K, s.dim, s.ffn)
	}
	if f.head == "q6_k" && s.dim%asm.QK_K != 0 {
		return fmt.Errorf("-head q6_k needs a dim that is a multiple of %d (have %d)", asm.QK_K, s.dim)
	}
	explicit := false
	fs.Visit(func(fl *flag.Flag) { explicit = explicit || fl.Name == "arch" })
	if f.typ != "i2_s" && !explicit {
		*arch = layout.ArchBitNet
	}
	return nil
}

// fileType is general.file_type: the llama_ftype of the matrices.
func (f *formats) fileType() uint32 {
	switch f.typ {
	case "tq1_0":
		return layout.FileTypeTQ1_0
	case "tq2_0":
		return layout.FileTypeTQ2_0
	}
	return layout.FileTypeI2_S
}

// matrix returns the type and data of a random ternary in×out matrix with
// weights ±scale and 0.
func (f *formats) matrix(seed uint64, in, out int, scale float32) (gguf.Type, func(io.Writer) error) {
	switch f.typ {
	case "tq1_0":
		return gguf.TQ1_0, randomTQ(seed, in*out, scale, true)
	case "tq2_0":
		return gguf.TQ2_0, randomTQ(seed, in*out, scale, false)
	}
	return gguf.I2_S, randomI2S(seed, in*out, scale)
}

// embedding returns the type and data of the token embedding, N(0, sd²)
// values in the -head type.
func (f *formats) embedding(seed uint64, dim, vocab int, sd float64) (gguf.Type, func(io.Writer) error) {
	switch f.head {
	case "q6_k":
		return gguf.Q6_K, randomQ6K(seed, dim*vocab, sd)
	case "q8_0":
		return gguf.Q8_0, randomQ8_0(seed, dim, vocab, sd)
	}
	return gguf.F16, randomF16(seed, dim*vocab, sd)
}

// streamBlocks writes n blocks of bs bytes, each filled by fill.
func streamBlocks(w io.Writer, n, bs int, fill func(b []byte)) error {
	per := max(1, (1<<16)/bs)
	buf := make([]byte, per*bs)
	for left := n; left > 0; {
		k := min(left, per)
		for i := 0; i < k; i++ {
			fill(buf[i*bs : (i+1)*bs])
		}
		if _, err := w.Write(buf[:k*bs]); err != nil {
			return err
		}
		left -= k
	}
	return nil
}

// randomTQ streams n random ternary weights as TQ1_0 or TQ2_0 blocks with
// scale d, packed as ggml's quantize_row_tq*_0_ref packs them.
func randomTQ(seed uint64, n int, d float32, tq1 bool) func(io.Writer) error {
	return func(w io.Writer) error {
		rng := rand.New(rand.NewPCG(seed, 3))
		dh := asm.F32ToF16(d)
		if !tq1 {
			return streamBlocks(w, n/asm.QK_K, asm.TQ2_0BlockBytes, func(b []byte) {
				for i := 0; i < 64; i++ { // 4 codes of 0..2 per byte
					c := rng.IntN(81)
					b[i] = byte(c%3 | c/3%3<<2 | c/9%3<<4 | c/27<<6)
				}
				binary.LittleEndian.PutUint16(b[64:], dh)
			})
		}
		return streamBlocks(w, n/asm.QK_K, asm.TQ1_0BlockBytes, func(b []byte) {
			for i := 0; i < 48; i++ { // 5 trits: q < 243, stored as ⌈q·256/243⌉
				b[i] = byte((rng.IntN(243)*256 + 242) / 243)
			}
			for i := 48; i < 52; i++ { // 4 trits: q < 81, times 3
				b[i] = byte((rng.IntN(81)*3*256 + 242) / 243)
			}
			binary.LittleEndian.PutUint16(b[52:], dh)
		})
	}
}

// randomQ6K streams n values as random Q6_K blocks whose values have
// roughly standard deviation sd: 6-bit quants, 8-bit sub-block scales in
// 16..63 and a block scale d = sd/(18·40).
func randomQ6K(seed uint64, n int, sd float64) func(io.Writer) error {
	return func(w io.Writer) error {
		rng := rand.New(rand.NewPCG(seed, 4))
		dh := asm.F32ToF16(float32(sd / (18 * 40)))
		return streamBlocks(w, n/asm.QK_K, asm.Q6_KBlockBytes, func(b []byte) {
			for i := 0; i < 192; i++ {
				b[i] = byte(rng.Uint32())
			}
			for i := 192; i < 208; i++ {
				b[i] = byte(16 + rng.IntN(48))
			}
			binary.LittleEndian.PutUint16(b[208:], dh)
		})
	}
}

// randomQ8_0 streams vocab rows of dim N(0, sd²) values quantized to Q8_0.
func randomQ8_0(seed uint64, dim, vocab int, sd float64) func(io.Writer) error {
	return func(w io.Writer) error {
		rng := rand.New(rand.NewPCG(seed, 5))
		x := make([]float32, dim)
		row := make([]byte, dim/asm.Q8_0Block*asm.Q8_0BlockBytes)
		for r := 0; r < vocab; r++ {
			for i := range x {
				x[i] = float32(rng.NormFloat64() * sd)
			}
			asm.QuantizeQ8_0(row, x)
			if _, err := w.Write(row); err != nil {
				return err
			}
		}
		return nil
	}
}
