// Command bitnet-synth writes a random-weight BitNet b1.58 GGUF file of a
// given shape — by default exactly the shape of the official 2B4T file
// (arch bitnet-b1.58, hidden 2560, 30 layers, 20 heads / 5 KV heads, FFN
// 6912, vocabulary 128256, F16 token_embd, I2_S matrices, F32 norms) — for
// benchmarks and load tests without downloading the real model.
//
//	bitnet-synth -o synth-2b4t.gguf
//	bitnet-synth -o small.gguf -dim 512 -layers 4 -ffn 1536 -heads 8 -kv-heads 2
//
// The tokenizer keys come from a vocabulary GGUF (-vocab); by default the
// Llama-3 vocabulary without a pre key from ../shared/testdata/tokenizers.
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/bitnet-go/bitnet/asm/ref"
	"github.com/bitnet-go/bitnet/gguf"
)

const defaultVocab = "../shared/testdata/tokenizers/ggml-vocab-bitnet-2b4t-nopre.gguf"

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "bitnet-synth: %v\n", err)
		os.Exit(1)
	}
}

type shape struct {
	dim, layers, heads, kvHeads, ffn, ctx int
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("bitnet-synth", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "output GGUF `file` (required)")
	vocab := fs.String("vocab", "", "GGUF `file` whose tokenizer.* keys the model gets (default "+defaultVocab+")")
	arch := fs.String("arch", "bitnet-b1.58", "architecture: bitnet-b1.58, bitnet-25 or bitnet")
	var s shape
	fs.IntVar(&s.dim, "dim", 2560, "hidden size")
	fs.IntVar(&s.layers, "layers", 30, "number of layers")
	fs.IntVar(&s.heads, "heads", 20, "attention heads")
	fs.IntVar(&s.kvHeads, "kv-heads", 5, "key/value heads")
	fs.IntVar(&s.ffn, "ffn", 6912, "FFN size")
	fs.IntVar(&s.ctx, "ctx", 4096, "training context length written to the metadata")
	seed := fs.Uint64("seed", 1, "random seed")
	fmts := addFormatFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *out == "" {
		return errors.New("no output file: give -o FILE")
	}
	switch *arch {
	case "bitnet-b1.58", "bitnet-25", "bitnet":
	default:
		return fmt.Errorf("unknown architecture %q", *arch)
	}
	if s.dim%128 != 0 || s.ffn%128 != 0 || s.heads <= 0 || s.kvHeads <= 0 || s.heads%s.kvHeads != 0 || s.dim%s.heads != 0 || s.layers <= 0 {
		return fmt.Errorf("bad shape %+v: dim and ffn must be multiples of 128 (I2_S rows), heads a multiple of kv-heads and a divisor of dim", s)
	}
	if err := fmts.resolve(fs, arch, s); err != nil {
		return err
	}
	if *vocab == "" {
		*vocab = defaultVocab
		if _, err := os.Stat(*vocab); err != nil {
			return fmt.Errorf("no vocabulary: give -vocab FILE (a GGUF with tokenizer.* keys); the default %s is missing", defaultVocab)
		}
	}
	vf, err := gguf.Open(*vocab)
	if err != nil {
		return err
	}
	defer vf.Close()
	w, err := build(*arch, s, vf, *seed, fmts)
	if err != nil {
		return err
	}
	if err := w.WriteFile(*out); err != nil {
		return err
	}
	st, _ := os.Stat(*out)
	fmt.Fprintf(stderr, "wrote %s: %s, %s matrices, %s head, %d layers, dim %d, ffn %d, %d/%d heads, %.2f GiB\n", *out, *arch, fmts.typ, fmts.head, s.layers, s.dim, s.ffn, s.heads, s.kvHeads, float64(st.Size())/(1<<30))
	return nil
}

func build(arch string, s shape, vf *gguf.File, seed uint64, fmts *formats) (*gguf.Writer, error) {
	var nVocab int
	var tokKVs []gguf.KV
	for _, kv := range vf.KVs {
		if strings.HasPrefix(kv.Key, "tokenizer.") {
			tokKVs = append(tokKVs, kv)
			if kv.Key == "tokenizer.ggml.tokens" {
				a, _ := kv.Value.Array()
				nVocab = a.Len()
			}
		}
	}
	if nVocab == 0 {
		return nil, errors.New("the vocabulary file has no tokenizer.ggml.tokens")
	}
	headDim := s.dim / s.heads
	w := &gguf.Writer{}
	w.Set("general.architecture", gguf.String(arch))
	w.Set("general.name", gguf.String(fmt.Sprintf("bitnet-synth random weights, seed %d", seed)))
	p := arch + "."
	w.Set(p+"vocab_size", gguf.Uint32(uint32(nVocab)))
	w.Set(p+"context_length", gguf.Uint32(uint32(s.ctx)))
	w.Set(p+"embedding_length", gguf.Uint32(uint32(s.dim)))
	w.Set(p+"block_count", gguf.Uint32(uint32(s.layers)))
	w.Set(p+"feed_forward_length", gguf.Uint32(uint32(s.ffn)))
	w.Set(p+"rope.dimension_count", gguf.Uint32(uint32(headDim)))
	w.Set(p+"attention.head_count", gguf.Uint32(uint32(s.heads)))
	w.Set(p+"attention.head_count_kv", gguf.Uint32(uint32(s.kvHeads)))
	w.Set(p+"attention.layer_norm_rms_epsilon", gguf.Float32(1e-5))
	w.Set(p+"rope.freq_base", gguf.Float32(500000))
	w.Set("general.file_type", gguf.Uint32(fmts.fileType()))
	w.KVs = append(w.KVs, tokKVs...)
	w.Set("general.quantization_version", gguf.Uint32(2))

	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	// token_embd (the tied head): N(0, 0.05²) like a trained embedding.
	et, ed := fmts.embedding(rng.Uint64(), s.dim, nVocab, 0.05)
	w.Tensors = append(w.Tensors, gguf.WriterTensor{
		Name: "token_embd.weight", Type: et, Dims: []uint64{uint64(s.dim), uint64(nVocab)}, WriteData: ed,
	})
	ones := func(n int) []byte {
		b := make([]byte, 4*n)
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(1))
		}
		return b
	}
	qdim, kvdim := s.dim, s.kvHeads*headDim
	for l := 0; l < s.layers; l++ {
		b := fmt.Sprintf("blk.%d.", l)
		mat := func(name string, in, outDim int) {
			t, data := fmts.matrix(rng.Uint64(), in, outDim, float32(1/math.Sqrt(float64(in))))
			w.Tensors = append(w.Tensors, gguf.WriterTensor{
				Name: b + name + ".weight", Type: t, Dims: []uint64{uint64(in), uint64(outDim)}, WriteData: data,
			})
		}
		w.AddTensor(b+"attn_norm.weight", gguf.F32, []uint64{uint64(s.dim)}, ones(s.dim))
		mat("attn_q", s.dim, qdim)
		mat("attn_k", s.dim, kvdim)
		mat("attn_v", s.dim, kvdim)
		mat("attn_output", qdim, s.dim)
		w.AddTensor(b+"ffn_norm.weight", gguf.F32, []uint64{uint64(s.dim)}, ones(s.dim))
		mat("ffn_gate", s.dim, s.ffn)
		mat("ffn_up", s.dim, s.ffn)
		mat("ffn_down", s.ffn, s.dim)
		w.AddTensor(b+"attn_sub_norm.weight", gguf.F32, []uint64{uint64(qdim)}, ones(qdim))
		w.AddTensor(b+"ffn_sub_norm.weight", gguf.F32, []uint64{uint64(s.ffn)}, ones(s.ffn))
	}
	w.AddTensor("output_norm.weight", gguf.F32, []uint64{uint64(s.dim)}, ones(s.dim))
	return w, nil
}

// randomI2S streams n random ternary weights in the I2_S layout followed by
// the 32-byte tail holding the scale.
func randomI2S(seed uint64, n int, scale float32) func(io.Writer) error {
	return func(w io.Writer) error {
		rng := rand.New(rand.NewPCG(seed, 1))
		// Each byte holds 4 codes in {0, 1, 2}: any of 81 byte values.
		var valid [81]byte
		for i := range valid {
			c := i
			var b byte
			for g := 0; g < 4; g++ {
				b = b<<2 | byte(c%3)
				c /= 3
			}
			valid[i] = b
		}
		buf := make([]byte, 1<<16)
		for left := n / 4; left > 0; {
			k := min(left, len(buf))
			for i := 0; i < k; i++ {
				buf[i] = valid[rng.IntN(81)]
			}
			if _, err := w.Write(buf[:k]); err != nil {
				return err
			}
			left -= k
		}
		var tail [32]byte
		binary.LittleEndian.PutUint32(tail[:], math.Float32bits(scale))
		_, err := w.Write(tail[:])
		return err
	}
}

// randomF16 streams n normal values of standard deviation sd as binary16.
func randomF16(seed uint64, n int, sd float64) func(io.Writer) error {
	return func(w io.Writer) error {
		rng := rand.New(rand.NewPCG(seed, 2))
		buf := make([]byte, 1<<16)
		for left := n; left > 0; {
			k := min(left, len(buf)/2)
			for i := 0; i < k; i++ {
				binary.LittleEndian.PutUint16(buf[2*i:], ref.F32ToF16(float32(rng.NormFloat64()*sd)))
			}
			if _, err := w.Write(buf[:2*k]); err != nil {
				return err
			}
			left -= k
		}
		return nil
	}
}
