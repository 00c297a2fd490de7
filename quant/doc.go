// Package quant is the one production home of the block-format quantizers
// the tools write (bitnet-convert, its --requantize, the trainer's export and
// bitnet-synth): ggml's TQ1_0 and TQ2_0 (packing ternary codes with a block
// scale, or quantizing floats as quantize_row_tq1_0_ref and
// quantize_row_tq2_0_ref do) and Q6_K (quantize_row_q6_K_ref, as
// llama-quantize uses it without an importance matrix).
//
// What lives elsewhere, and why:
//   - The fork's I2_S encoding (codes, 32-byte tail, the quantizer's sign
//     rule) is part of the BitNet GGUF layout and is owned by package layout,
//     which imports only gguf.
//   - Q8_0 quantization is asm.QuantizeQ8_0: the runtime uses the same
//     function for its activations, so it stays with the kernels.
//   - Decoding (dequantization, dot products) is the runtime's and asm's;
//     asm/ref is their test oracle. This package takes only asm's block
//     constants and its f16 rounding, so that what it writes and what the
//     runtime reads agree on one definition of those.
package quant

import (
	"github.com/bitnet-go/bitnet/asm"
)

// Block sizes of the formats written here.
const (
	QK_K       = asm.QK_K            // values per TQ1_0, TQ2_0 and Q6_K block
	TQ1_0Bytes = asm.TQ1_0BlockBytes // bytes per TQ1_0 block
	TQ2_0Bytes = asm.TQ2_0BlockBytes // bytes per TQ2_0 block
	Q6_KBytes  = asm.Q6_KBlockBytes  // bytes per Q6_K block
)
