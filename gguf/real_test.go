package gguf_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/internal/testutil"
)

// Facts about the shared golden models (../shared/testdata/README.md and a
// dump of the files).
var realModels = []struct {
	rel       string
	arch      string
	fileType  uint64 // general.file_type, 0 where the key is absent
	embdType  gguf.Type
	ternary   gguf.Type // type of the attention/FFN weights
	nTernary  int       // 7 weights × 4 layers
	vocab     int
	hasFtype  bool
	firstName string
	dialect   gguf.Dialect // the fork's I2_S files by their ids; TQ files by their (upstream) arch name
}{
	{"golden/b158-s/ggml-model-i2_s.gguf", "bitnet-25", 40, gguf.F16, gguf.I2_S, 28, 4096, true, "token_embd.weight", gguf.DialectFork},
	{"golden/b158-s/ggml-model-f32.gguf", "bitnet-25", 0, gguf.F32, gguf.F32, 0, 4096, true, "token_embd.weight", gguf.DialectFork},
	{"golden/trained-s/ggml-model-i2_s.gguf", "bitnet-25", 40, gguf.F16, gguf.I2_S, 28, 4096, true, "token_embd.weight", gguf.DialectFork},
	{"golden/bitnet-s/ggml-model-i2_s.gguf", "bitnet", 40, gguf.F16, gguf.I2_S, 28, 32000, true, "token_embd.weight", gguf.DialectFork},
	{"golden/llama-s/ggml-model-i2_s.gguf", "llama", 40, gguf.F16, gguf.I2_S, 28, 4096, true, "output.weight", gguf.DialectFork},
	{"golden/bitnet-s/ggml-model-tq1_0.gguf", "bitnet", 0, gguf.Q6_K, gguf.TQ1_0, 28, 32000, false, "output_norm.weight", gguf.DialectUpstream},
	{"golden/bitnet-s/ggml-model-tq2_0.gguf", "bitnet", 0, gguf.Q6_K, gguf.TQ2_0, 28, 32000, false, "output_norm.weight", gguf.DialectUpstream},
}

var ternaryNames = []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}

func TestRealModels(t *testing.T) {
	for _, m := range realModels {
		t.Run(m.rel, func(t *testing.T) {
			path := testutil.Shared(t, m.rel, "that gguf reads the golden model, its known facts and a lossless rewrite")
			f, err := gguf.Open(path)
			must(t, err, "Open")
			defer f.Close()

			equal(t, f.Version, uint32(3), "version")
			arch, err := f.GetString("general.architecture")
			must(t, err)
			equal(t, arch, m.arch, "architecture")
			equal(t, f.Dialect, m.dialect, "dialect")
			equal(t, f.Alignment, uint64(32), "alignment")
			equal(t, f.DataOffset%32, uint64(0), "data offset alignment")
			if m.hasFtype {
				ft, err := f.GetUint("general.file_type")
				must(t, err)
				equal(t, ft, m.fileType, "general.file_type")
			}
			nl, err := f.GetUint(arch + ".block_count")
			must(t, err)
			equal(t, nl, uint64(4), "block_count")
			dim, err := f.GetUint(arch + ".embedding_length")
			must(t, err)
			equal(t, dim, uint64(256), "embedding_length")
			eps, err := f.GetFloat(arch + ".attention.layer_norm_rms_epsilon")
			must(t, err)
			check(t, math.Abs(eps-1e-5) < 1e-9, "rms epsilon %v", eps)
			tokens, err := gguf.GetArray[string](f, "tokenizer.ggml.tokens")
			must(t, err)
			equal(t, len(tokens), m.vocab, "token count")

			wantTensors := 46 // 4 layers × 11 + token_embd + output_norm
			if arch == "llama" {
				wantTensors = 39 // 4 layers × 9 (no sub-norms) + token_embd + output + output_norm
			}
			equal(t, len(f.Tensors), wantTensors, "tensor count")
			equal(t, f.Tensors[0].Name, m.firstName, "first tensor")
			embd, ok := f.Tensor("token_embd.weight")
			check(t, ok, "no token_embd.weight")
			equal(t, embd.Type, m.embdType, "token_embd type")
			check(t, len(embd.Dims) == 2 && embd.Dims[0] == 256 && embd.Dims[1] == uint64(m.vocab), "token_embd dims %v", embd.Dims)

			nTernary := 0
			for i := range f.Tensors {
				ti := &f.Tensors[i]
				equal(t, ti.Offset%32, uint64(0), ti.Name+" offset alignment")
				sz, err := gguf.TensorSize(ti.Type, ti.Dims)
				must(t, err)
				equal(t, ti.Size, sz, ti.Name+" size")
				isTernary := false
				for _, n := range ternaryNames {
					isTernary = isTernary || strings.HasSuffix(ti.Name, "."+n+".weight")
				}
				if isTernary && m.ternary != gguf.F32 {
					nTernary++
					equal(t, ti.Type, m.ternary, ti.Name+" type")
				}
				if strings.HasSuffix(ti.Name, "norm.weight") {
					equal(t, ti.Type, gguf.F32, ti.Name+" type")
				}
				data, err := f.TensorData(ti)
				must(t, err)
				equal(t, uint64(len(data)), ti.Size, ti.Name+" data length")
				if ti.Type == gguf.I2_S {
					equal(t, ti.RawType, uint32(36), ti.Name+" raw id")
					n := ti.Elements()
					equal(t, ti.Size, n/4+32, ti.Name+" I2_S size n/4+32")
					// The first 4 bytes of the 32-byte tail are the f32 scale.
					scale := math.Float32frombits(binary.LittleEndian.Uint32(data[n/4:]))
					check(t, scale > 0 && !math.IsInf(float64(scale), 0), "%s: I2_S scale %v", ti.Name, scale)
				}
			}
			equal(t, nTernary, m.nTernary, "ternary weight count")

			// Rewriting with the same KVs and tensors reads back identically.
			orig, err := os.ReadFile(path)
			must(t, err)
			out := encode(t, rewrite(t, f))
			g, err := gguf.Parse(out)
			must(t, err, "re-parse")
			if d := diffFiles(f, g); d != "" {
				t.Fatal(d)
			}
			for i := range f.Tensors {
				equal(t, g.Tensors[i].Offset, f.Tensors[i].Offset, f.Tensors[i].Name+" rewritten offset")
			}
			equal(t, g.DataOffset, f.DataOffset, "rewritten data offset")
			// Our writer uses the llama.cpp layout, so the rewrite is the
			// original file (up to padding after the last tensor).
			check(t, len(out) <= len(orig) && bytes.Equal(out, orig[:len(out)]), "rewrite differs from the original file")
			check(t, !bytes.ContainsFunc(orig[len(out):], func(r rune) bool { return r != 0 }), "original has non-zero bytes after the last tensor")
		})
	}
}

func TestRealTokenizers(t *testing.T) {
	for _, c := range []struct {
		name           string
		model, arch    string
		tokens, merges int
		pre            string
	}{
		{"ggml-vocab-llama-spm.gguf", "llama", "llama", 32000, 0, "default"},
		{"ggml-vocab-gpt-2.gguf", "gpt2", "gpt2", 50257, 50000, "gpt-2"},
		{"ggml-vocab-llama-bpe.gguf", "gpt2", "llama", 128256, 280147, "llama-bpe"},
		{"ggml-vocab-bitnet-2b4t-nopre.gguf", "gpt2", "llama", 128256, 280147, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := testutil.Shared(t, "tokenizers/"+c.name, "that gguf reads the vocabulary-only GGUF and rewrites it losslessly")
			f, err := gguf.Open(path)
			must(t, err, "Open")
			defer f.Close()
			equal(t, len(f.Tensors), 0, "tensors")
			equal(t, f.Dialect, gguf.DialectUpstream, "dialect")
			arch, err := f.GetString("general.architecture")
			must(t, err)
			equal(t, arch, c.arch, "architecture")
			model, err := f.GetString("tokenizer.ggml.model")
			must(t, err)
			equal(t, model, c.model, "tokenizer model")
			pre, err := f.GetString("tokenizer.ggml.pre")
			if c.pre == "" {
				errContains(t, err, "missing")
			} else {
				must(t, err)
				equal(t, pre, c.pre, "pre")
			}
			tokens, err := gguf.GetArray[string](f, "tokenizer.ggml.tokens")
			must(t, err)
			equal(t, len(tokens), c.tokens, "tokens")
			types, err := gguf.GetArray[int32](f, "tokenizer.ggml.token_type")
			must(t, err)
			equal(t, len(types), c.tokens, "token types")
			if c.merges > 0 {
				merges, err := gguf.GetArray[string](f, "tokenizer.ggml.merges")
				must(t, err)
				equal(t, len(merges), c.merges, "merges")
				check(t, strings.Count(merges[0], " ") == 1, "merge %q is not a pair", merges[0])
			}
			if c.model == "llama" {
				scores, err := gguf.GetArray[float32](f, "tokenizer.ggml.scores")
				must(t, err)
				equal(t, len(scores), c.tokens, "scores")
			}

			orig, err := os.ReadFile(path)
			must(t, err)
			out := encode(t, rewrite(t, f))
			g, err := gguf.Parse(out)
			must(t, err, "re-parse")
			if d := diffFiles(f, g); d != "" {
				t.Fatal(d)
			}
			// Metadata bytes are identical; the writer always pads the
			// (empty) data section, which some of these files omit.
			equal(t, g.DataOffset, f.DataOffset, "data offset")
			n := min(len(out), len(orig))
			check(t, bytes.Equal(out[:n], orig[:n]), "rewrite differs from the original file")
		})
	}
}
