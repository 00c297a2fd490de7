// Package convert converts Hugging Face BitNet b1.58 checkpoints into GGUF
// files that bitnet.cpp (the llama.cpp BitNet fork) and this project load,
// reproducing what the fork's own conversion pipeline writes — the same
// metadata keys in the same order, the same tensors in the same order, and
// the same bytes — without Python, torch or a second copy of the model in
// memory.
//
// Three checkpoint families are recognised from config.json:
//
//   - BitNetForCausalLM with BF16 master weights
//     (microsoft/bitnet-b1.58-2B-4T-bf16): the path of the fork's README,
//     utils/preprocess-huggingface-bitnet.py (absmean ternarization in
//     float32) then utils/convert-ms-to-gguf-bitnet.py; arch bitnet-25 (or
//     bitnet-b1.58 with Options.Arch), relu², sub-norms. A checkpoint of
//     this class with transformers' packed uint8 weights
//     (microsoft/bitnet-b1.58-2B-4T) is unpacked instead of ternarized;
//     its weight_scale multiplies the codes when quantization_config's
//     linear_class is "autobitlinear" (AutoBitLinear) and divides them
//     otherwise (BitLinear, as for the Llama family).
//   - BitnetForCausalLM with fp16 latent weights (1bitLLM/bitnet_b1_58-large,
//     -3B, -xl): utils/convert-hf-to-gguf-bitnet.py's BitnetModel; arch
//     bitnet, SentencePiece tokenizer.model.
//   - LlamaForCausalLM with quantization_config.quant_method "bitnet"
//     (HF1BitLLM/Llama3-8B-1.58-100B-tokens, tiiuae/Falcon3-*-1.58bit):
//     LlamaModel of the same script, which unpacks transformers' packed
//     ternary weights and permutes q/k for llama.cpp's rope; arch llama.
//
// The ternary matrices are written as I2_S (what llama-quantize … I2_S
// makes of the reference's F32 file: codes by sign, per-tensor scale
// max|w|, 32-byte tail), TQ1_0/TQ2_0 (upstream's ternary block formats),
// or unquantized F16/BF16/F32 ternarized values. Token embeddings and the
// output matrix default to what the reference writes (F16 next to I2_S).
//
// Known differences from the reference, each deliberate and tested:
//
//   - The 28 padding bytes of the I2_S tail are zero; llama-quantize leaves
//     whatever its work buffer held there (no reader uses them).
//   - The llama family's added tokens are written as their text; the
//     fork's converter writes "<|begin_of_text|>" + text for every added
//     token of a Llama-3 tokenizer (decode(encode(tok)) with a BOS
//     post-processor).
//   - BPE pre-tokenizers are recognised from tokenizer.json's structure,
//     not from a hash of token ids, so cut or extended vocabularies work.
//   - Rope scalings the GGUF cannot carry, unknown tensors, missing tensors
//     and shapes that disagree with config.json are errors, never a
//     silently different model.
//
// Conversion streams: tensors are read from the safetensors files and
// encoded chunk by chunk while the GGUF is written; only one ternary
// matrix at a time is held whole (its mean |W| needs the whole tensor).
// Output goes through internal/atomicfile.
package convert
