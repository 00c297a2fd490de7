// Command synthhf writes a random BitNetForCausalLM checkpoint laid out
// like microsoft/bitnet-b1.58-2B-4T-bf16 (BF16 master weights, by default
// the full 2B4T shape: 4.8 GB), for measuring bitnet-convert's memory and
// time without downloading the model:
//
//	go run ./convert/internal/synthhf -o /tmp/synth-2b4t
//	/usr/bin/time -v bitnet-convert /tmp/synth-2b4t -o /tmp/synth-2b4t.gguf
//
// The tokenizer is the Llama-3 vocabulary of
// ../shared/testdata/tokenizers/ggml-vocab-llama-bpe.gguf written as a
// tokenizer.json (128000 BPE tokens + 256 specials). Weights are uniform
// in ±0.1, generated and written tensor by tensor.
package main

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/layout"
	"github.com/bitnet-go/bitnet/safetensors"
)

func main() {
	out := flag.String("o", "", "output directory (required)")
	vocabPath := flag.String("vocab", "../shared/testdata/tokenizers/ggml-vocab-llama-bpe.gguf", "vocabulary GGUF")
	dim := flag.Int("dim", 2560, "hidden size")
	layers := flag.Int("layers", 30, "layers")
	heads := flag.Int("heads", 20, "attention heads")
	kvHeads := flag.Int("kv-heads", 5, "key/value heads")
	ffn := flag.Int("ffn", 6912, "FFN size")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "synthhf: give -o DIR")
		os.Exit(2)
	}
	if err := run(*out, *vocabPath, *dim, *layers, *heads, *kvHeads, *ffn); err != nil {
		fmt.Fprintln(os.Stderr, "synthhf:", err)
		os.Exit(1)
	}
}

func run(out, vocabPath string, dim, layers, heads, kvHeads, ffn int) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	vf, err := gguf.Open(vocabPath)
	if err != nil {
		return err
	}
	defer vf.Close()
	tokens, err := gguf.GetArray[string](vf, layout.KeyTokens)
	if err != nil {
		return err
	}
	types, err := gguf.GetArray[int32](vf, layout.KeyTokenTypes)
	if err != nil {
		return err
	}
	merges, err := gguf.GetArray[string](vf, layout.KeyMerges)
	if err != nil {
		return err
	}
	vocab := map[string]int{}
	var added []map[string]any
	for i, t := range tokens {
		if types[i] == 3 { // control
			added = append(added, map[string]any{"id": i, "content": t, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true})
		} else {
			vocab[t] = i
		}
	}
	tj := map[string]any{
		"version": "1.0", "truncation": nil, "padding": nil, "added_tokens": added, "normalizer": nil,
		"pre_tokenizer": map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "pattern": map[string]any{"Regex": `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`}, "behavior": "Isolated", "invert": false},
			map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
		}},
		"post_processor": nil,
		"decoder":        map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
		"model":          map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil, "byte_fallback": false, "ignore_merges": true, "vocab": vocab, "merges": merges},
	}
	if err := writeJSON(filepath.Join(out, "tokenizer.json"), tj); err != nil {
		return err
	}
	bos, eos := 128000, 128001
	if err := writeJSON(filepath.Join(out, "tokenizer_config.json"), map[string]any{
		"bos_token": tokens[bos], "eos_token": tokens[eos], "pad_token": tokens[eos], "model_max_length": 4096,
		"tokenizer_class": "PreTrainedTokenizerFast",
	}); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(out, "config.json"), map[string]any{
		"architectures": []string{"BitNetForCausalLM"}, "model_type": "bitnet", "hidden_act": "relu2",
		"hidden_size": dim, "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kvHeads,
		"intermediate_size": ffn, "vocab_size": len(tokens), "max_position_embeddings": 4096,
		"rope_theta": 500000.0, "rms_norm_eps": 1e-5, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
		"bos_token_id": bos, "eos_token_id": eos,
	}); err != nil {
		return err
	}
	w := &safetensors.Writer{Metadata: map[string]string{"format": "pt"}}
	seed := uint64(1)
	add := func(name string, shape ...int64) {
		n := int64(1)
		for _, d := range shape {
			n *= d
		}
		seed++
		s := seed
		w.Add(name, safetensors.BF16, shape, func(o io.Writer) error { return randomBF16(o, n, s) })
	}
	kv := int64(dim / heads * kvHeads)
	add("model.embed_tokens.weight", int64(len(tokens)), int64(dim))
	add("model.norm.weight", int64(dim))
	for l := 0; l < layers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		add(p+"input_layernorm.weight", int64(dim))
		add(p+"post_attention_layernorm.weight", int64(dim))
		add(p+"self_attn.q_proj.weight", int64(dim), int64(dim))
		add(p+"self_attn.k_proj.weight", kv, int64(dim))
		add(p+"self_attn.v_proj.weight", kv, int64(dim))
		add(p+"self_attn.o_proj.weight", int64(dim), int64(dim))
		add(p+"self_attn.attn_sub_norm.weight", int64(dim))
		add(p+"mlp.gate_proj.weight", int64(ffn), int64(dim))
		add(p+"mlp.up_proj.weight", int64(ffn), int64(dim))
		add(p+"mlp.down_proj.weight", int64(dim), int64(ffn))
		add(p+"mlp.ffn_sub_norm.weight", int64(ffn))
	}
	f, err := os.Create(filepath.Join(out, "model.safetensors"))
	if err != nil {
		return err
	}
	if _, err := w.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// randomBF16 writes n BF16 values uniform in ±0.1 (xorshift64*).
func randomBF16(o io.Writer, n int64, seed uint64) error {
	buf := make([]byte, 1<<20)
	x := seed*0x9E3779B97F4A7C15 | 1
	for n > 0 {
		k := min(n, int64(len(buf)/2))
		for i := int64(0); i < k; i++ {
			x ^= x >> 12
			x ^= x << 25
			x ^= x >> 27
			u := float32((x*2685821657736338717)>>40) / (1 << 24) // [0, 1)
			binary.LittleEndian.PutUint16(buf[2*i:], uint16(math.Float32bits((u-0.5)*0.2)>>16))
		}
		if _, err := o.Write(buf[:2*k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
