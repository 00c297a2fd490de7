// Package layout is the BitNet GGUF layout in one place: the architecture
// names, the metadata keys, the tensor names, the file types and the fork's
// I2_S tensor encoding (codes, 32-byte tail, quantizer sign rule), as
// bitnet.cpp's converters write them and its llama.cpp fork reads them
// (../shared/docs/formats.md §1–3). It imports only package gguf, so the
// loader (and loader/tokenizer), the trainer's export, bitnet-synth and the
// converter all share it; none of them spells a key, tensor or arch name.
//
// What is not here: the GGUF container itself (package gguf, which cannot
// import this one and keeps general.alignment and the dialect rule's arch
// names), the ggml block quantizers TQ1_0/TQ2_0/Q6_K (package quant), and
// the Hugging Face side of conversion (safetensors names, config.json keys:
// package convert).
package layout

import (
	"fmt"
	"strings"
)

// Architectures (general.architecture).
const (
	// ArchBitNetB158 is the 2B4T graph (relu², sub-norms) under the name of
	// the published GGUF (microsoft/bitnet-b1.58-2B-4T-gguf).
	ArchBitNetB158 = "bitnet-b1.58"
	// ArchBitNet25 is the same graph as the fork's converter at 404980ee
	// names it (convert-ms-to-gguf-bitnet.py).
	ArchBitNet25 = "bitnet-25"
	// ArchBitNet is the 1bitLLM graph (SiLU, sub-norms).
	ArchBitNet = "bitnet"
	// ArchLlama is a plain Llama graph; bitnet.cpp serves HF1BitLLM and
	// Falcon3-1.58bit under it with I2_S matrices.
	ArchLlama = "llama"
	// ArchBitNet158April is the fork's name for bitnet-b1.58 for a few
	// weeks in April 2025 (known, not run).
	ArchBitNet158April = "bitnet-1.58"
	// ArchQwen3 is the arch of bitnet.cpp's embedding models (known, not
	// run).
	ArchQwen3 = "qwen3"
)

// General keys.
const (
	KeyArchitecture        = "general.architecture"
	KeyName                = "general.name"
	KeyFileType            = "general.file_type"
	KeyQuantizationVersion = "general.quantization_version"
	KeyAlignment           = "general.alignment"
)

// QuantizationVersion is the value llama-quantize writes.
const QuantizationVersion = 2

// Suffixes of the per-architecture keys: the key is Key(arch, suffix).
const (
	VocabSize          = "vocab_size"
	ContextLength      = "context_length"
	EmbeddingLength    = "embedding_length"
	BlockCount         = "block_count"
	FeedForwardLength  = "feed_forward_length"
	RopeDimensionCount = "rope.dimension_count"
	RopeFreqBase       = "rope.freq_base"
	RopeScalingType    = "rope.scaling.type"
	RopeScalingFactor  = "rope.scaling.factor"
	HeadCount          = "attention.head_count"
	HeadCountKV        = "attention.head_count_kv"
	RMSEps             = "attention.layer_norm_rms_epsilon"
	KeyLength          = "attention.key_length"
	ValueLength        = "attention.value_length"
	ExpertCount        = "expert_count"
	HiddenActivation   = "hidden_activation" // upstream's bitnet arch: silu or relu2
)

// Key is the full name of a per-architecture key.
func Key(arch, suffix string) string { return arch + "." + suffix }

// Tokenizer keys.
const (
	KeyTokenizerModel = "tokenizer.ggml.model" // TokenizerSPM or TokenizerBPE
	KeyTokenizerPre   = "tokenizer.ggml.pre"
	KeyTokens         = "tokenizer.ggml.tokens"
	KeyScores         = "tokenizer.ggml.scores"
	KeyTokenTypes     = "tokenizer.ggml.token_type"
	KeyMerges         = "tokenizer.ggml.merges"
	KeyAddSpacePrefix = "tokenizer.ggml.add_space_prefix"
	KeyChatTemplate   = "tokenizer.chat_template"
)

// Values of tokenizer.ggml.model.
const (
	TokenizerSPM = "llama" // SentencePiece
	TokenizerBPE = "gpt2"  // byte-level BPE
)

// TokenizerPrefix starts every tokenizer key.
const TokenizerPrefix = "tokenizer."

// IsTokenizerKey reports whether key belongs to the tokenizer (tokenizer.*).
func IsTokenizerKey(key string) bool { return strings.HasPrefix(key, TokenizerPrefix) }

// SpecialTokenKey is the id key of a special token type:
// tokenizer.ggml.<name>_token_id with llama.cpp's names (gguf-py's
// Keys.Tokenizer). The short types of Hugging Face's configs map to them:
// unk → unknown, sep → seperator (sic), pad → padding; other names (bos,
// eos, cls, mask, eot, eom, fim_*, and the long names themselves) are used
// as they are.
func SpecialTokenKey(typ string) string {
	switch typ {
	case "unk":
		typ = "unknown"
	case "sep":
		typ = "seperator"
	case "pad":
		typ = "padding"
	}
	return "tokenizer.ggml." + typ + "_token_id"
}

// AddTokenKey is the key saying whether a special token is added:
// tokenizer.ggml.add_<typ>_token.
func AddTokenKey(typ string) string { return "tokenizer.ggml.add_" + typ + "_token" }

// Token types (tokenizer.ggml.token_type), llama.cpp's and SentencePiece's
// numbering.
const (
	TokenNormal      int32 = 1
	TokenUnknown     int32 = 2
	TokenControl     int32 = 3
	TokenUserDefined int32 = 4
	TokenUnused      int32 = 5
	TokenByte        int32 = 6
)

// File types (general.file_type, llama.cpp's llama_ftype; I2_S is the
// fork's).
const (
	FileTypeF32   = 0
	FileTypeF16   = 1
	FileTypeQ8_0  = 7
	FileTypeBF16  = 32
	FileTypeTQ1_0 = 36
	FileTypeTQ2_0 = 37
	FileTypeI2_S  = 40
)

// Global tensor names.
const (
	TokenEmbd  = "token_embd.weight"
	Output     = "output.weight"
	OutputNorm = "output_norm.weight"
	RopeFreqs  = "rope_freqs.weight" // Llama-3.1 RoPE frequency factors
)

// Suffixes of tensor names: weights, the fork's one-element scales beside
// ternary matrices (1bitLLM conversions), and biases (BitLinear has none).
const (
	WeightSuffix = ".weight"
	ScaleSuffix  = ".scale"
	BiasSuffix   = ".bias"
)

// BlockPrefix starts the name of every per-block tensor.
const BlockPrefix = "blk."

// TernaryBlockWeight reports whether name is the weight of a block's
// ternary matrix (blk.<i>.<t>.weight with t in Ternary).
func TernaryBlockWeight(name string) bool {
	rest, ok := strings.CutPrefix(name, BlockPrefix)
	if !ok {
		return false
	}
	_, rest, ok = strings.Cut(rest, ".")
	if !ok {
		return false
	}
	base, ok := strings.CutSuffix(rest, WeightSuffix)
	return ok && IsTernary(base)
}

// IsBlockTensor reports whether name is blk.<i>.<base>.weight for some i.
func IsBlockTensor(name, base string) bool {
	rest, ok := strings.CutPrefix(name, BlockPrefix)
	if !ok {
		return false
	}
	_, rest, ok = strings.Cut(rest, ".")
	return ok && rest == base+WeightSuffix
}

// Names of the per-block tensors (see Block).
const (
	AttnNorm    = "attn_norm"
	AttnQ       = "attn_q"
	AttnK       = "attn_k"
	AttnV       = "attn_v"
	AttnOutput  = "attn_output"
	AttnSubNorm = "attn_sub_norm"
	FFNNorm     = "ffn_norm"
	FFNGate     = "ffn_gate"
	FFNUp       = "ffn_up"
	FFNDown     = "ffn_down"
	FFNSubNorm  = "ffn_sub_norm"
)

// Ternary lists the block matrices that are BitLinear (ternary) layers.
var Ternary = []string{AttnQ, AttnK, AttnV, AttnOutput, FFNGate, FFNUp, FFNDown}

// IsTernary reports whether a block tensor name (AttnQ, …) is ternary.
func IsTernary(name string) bool {
	for _, t := range Ternary {
		if t == name {
			return true
		}
	}
	return false
}

// Block is the weight tensor name of block i: blk.<i>.<name>.weight.
func Block(i int, name string) string { return fmt.Sprintf("blk.%d.%s.weight", i, name) }

// BlockScale is the name of the fork's optional one-element scale tensor
// beside a ternary matrix: blk.<i>.<name>.scale.
func BlockScale(i int, name string) string { return fmt.Sprintf("blk.%d.%s.scale", i, name) }

// HasSubNorms reports whether an architecture's blocks carry the BitNet
// sub-norms (attn_sub_norm, ffn_sub_norm).
func HasSubNorms(arch string) bool {
	switch arch {
	case ArchBitNetB158, ArchBitNet25, ArchBitNet:
		return true
	}
	return false
}

// Dims is the GGUF shape of a matrix of rows rows of cols elements
// (ne0 = cols first).
func Dims(rows, cols int) []uint64 {
	return []uint64{uint64(cols), uint64(rows)}
}
