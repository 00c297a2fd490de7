package convert

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"github.com/bitnet-go/bitnet/asm"
	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/layout"
)

// The 1bitLLM graph (arch bitnet) goes back to a BitnetForCausalLM
// checkpoint of fp16 latent weights with a SentencePiece tokenizer.model,
// as 1bitLLM/bitnet_b1_58-* ship them.

// latentFor returns fp16 latent weights (as float32 values) that the
// reference pipeline (ternarize with the fp16 cast, then llama-quantize's
// max|W_q| scale) turns back into codes and the scale gamma: every non-zero
// code becomes ±a, every zero 0, with a the fp16 value near gamma/frac (frac
// the share of non-zero codes) for which the converter's own ternarize
// reproduces ±gamma exactly. It reports false when no a nearby does.
//
// negZero, when not nil, marks the zeros stored as −0 (torch keeps the
// sign of a small negative weight through round and clamp, and an F32/F16
// file holds it); their latent weight is −0, which ternarizes to −0 again.
func latentFor(codes []int8, gamma float32, negZero []bool) ([]float32, bool) {
	nz := 0
	for _, c := range codes {
		if c != 0 {
			nz++
		}
	}
	w := make([]float32, len(codes))
	setZeros := func() {
		for i, neg := range negZero {
			if neg {
				w[i] = float32(math.Copysign(0, -1))
			}
		}
	}
	if nz == 0 {
		setZeros()
		return w, gamma == 0
	}
	h0 := asm.F32ToF16(asm.RoundF16(gamma * float32(len(codes)) / float32(nz)))
	try := make([]float32, len(codes))
	for d := 0; d <= 16; d++ {
		for _, h := range []uint16{h0 + uint16(d), h0 - uint16(d)} {
			a := asm.F16ToF32(h)
			if !(a > 0) || math.IsInf(float64(a), 0) {
				continue
			}
			for i, c := range codes {
				w[i] = float32(c) * a
			}
			setZeros()
			copy(try, w)
			ternarize(try, true)
			ok := true
			for i, c := range codes {
				if try[i] != float32(c)*gamma || (c == 0 && math.Signbit(float64(try[i])) != (negZero != nil && negZero[i])) {
					ok = false
					break
				}
			}
			if ok {
				return w, true
			}
		}
	}
	return nil, false
}

// bitnetConfig turns cfg into the config.json of a 1bitLLM checkpoint.
func bitnetConfig(f *gguf.File, cfg map[string]any) error {
	k := func(s string) string { return layout.Key(layout.ArchBitNet, s) }
	if act, err := f.GetString(k(layout.HiddenActivation)); err == nil && act != "silu" {
		return fmt.Errorf("%s = %s: the 1bitLLM graph runs SiLU", k(layout.HiddenActivation), act)
	}
	if st, err := f.GetString(k(layout.RopeScalingType)); err == nil && st != "none" {
		if fac, err := f.GetFloat(k(layout.RopeScalingFactor)); st != "linear" || err != nil || fac != 1 {
			return fmt.Errorf("rope scaling %q: the 1bitLLM converter writes linear 1.0 only", st)
		}
	}
	if _, ok := f.Tensor(layout.Output); ok {
		return fmt.Errorf("tensor %s: 1bitLLM checkpoints tie the output to the embeddings", layout.Output)
	}
	cfg["architectures"] = []string{"BitnetForCausalLM"}
	cfg["model_type"] = "llama"
	cfg["hidden_act"] = "silu"
	cfg["torch_dtype"] = "float16"
	cfg["weight_bits"] = 1
	cfg["input_bits"] = 8
	cfg["tie_word_embeddings"] = true
	delete(cfg, "quantization_config")
	return nil
}

// spmModel writes the tokenizer as a SentencePiece ModelProto
// (sentencepiece_model.proto): the pieces (piece 1, score 2, type 3), a
// TrainerSpec (model_type 3 = BPE, vocab_size 4, byte_fallback 35, unk/bos/
// eos/pad ids 40–43) and a NormalizerSpec (name 1 "identity",
// add_dummy_prefix 3, remove_extra_whitespaces 4, escape_whitespaces 5).
// The converter's "[PAD<i>]" fillers past the model's pieces are left out
// (config.json's vocab_size brings them back).
func (t *exportedTokenizer) spmModel() []byte {
	var out []byte
	tag := func(b []byte, field, wire int) []byte { return binary.AppendUvarint(b, uint64(field<<3|wire)) }
	bytesField := func(b []byte, field int, v []byte) []byte {
		b = tag(b, field, 2)
		b = binary.AppendUvarint(b, uint64(len(v)))
		return append(b, v...)
	}
	varint := func(b []byte, field int, v uint64) []byte { return binary.AppendUvarint(tag(b, field, 0), v) }
	hasByte := false
	for i := 0; i < t.spmPieces; i++ {
		var p []byte
		p = bytesField(p, 1, []byte(t.tokens[i]))
		p = binary.LittleEndian.AppendUint32(tag(p, 2, 5), math.Float32bits(t.scores[i]))
		p = varint(p, 3, uint64(t.types[i])) // llama.cpp's token types are SentencePiece's
		out = bytesField(out, 1, p)
		hasByte = hasByte || t.types[i] == layout.TokenByte
	}
	var ts []byte
	ts = varint(ts, 3, 2)
	ts = varint(ts, 4, uint64(t.spmPieces))
	if hasByte {
		ts = varint(ts, 35, 1)
	}
	for i, typ := range []string{"unk", "bos", "eos", "pad"} {
		id := int64(-1)
		if v, ok := t.ids[typ]; ok && int(v) < t.spmPieces {
			id = int64(v)
		}
		ts = varint(ts, 40+i, uint64(id)) // int32: −1 as a 10-byte varint
	}
	out = bytesField(out, 2, ts)
	var ns []byte
	ns = bytesField(ns, 1, []byte("identity"))
	ns = varint(ns, 3, b2u(t.addSpacePrefix))
	ns = varint(ns, 4, 0)
	ns = varint(ns, 5, 1)
	return bytesField(out, 3, ns)
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// spmConfig is tokenizer_config.json for a LlamaTokenizer.
func (t *exportedTokenizer) spmConfig() map[string]any {
	c := map[string]any{
		"tokenizer_class":              "LlamaTokenizer",
		"add_bos_token":                t.addBOS,
		"add_eos_token":                t.addEOS,
		"clean_up_tokenization_spaces": false,
		"legacy":                       false,
	}
	for typ, id := range t.ids {
		if typ == "pad" && int(id) >= t.spmPieces {
			continue // a filler id: config.json's pad_token_id carries it
		}
		c[typ+"_token"] = t.tokens[id]
	}
	if t.chatTemplate != "" {
		c["chat_template"] = t.chatTemplate
	}
	return c
}

// spmPieces counts the pieces before the converter's trailing "[PAD<i>]"
// fillers (UNUSED, score −1000, numbered from 1).
func spmPieces(tokens []string, scores []float32, types []int32) int {
	n := len(tokens)
	for n > 0 && types[n-1] == layout.TokenUnused && scores[n-1] == -1000 {
		n--
	}
	// The fillers are [PAD1]…[PADk] in order after the pieces.
	for j := n; j < len(tokens); j++ {
		if tokens[j] != "[PAD"+strconv.Itoa(j-n+1)+"]" {
			return len(tokens)
		}
	}
	return n
}

// negativeZeros marks the −0 values of a float tensor (nil for other types
// or when there are none).
func negativeZeros(f *gguf.File, ti *gguf.TensorInfo) ([]bool, error) {
	switch ti.Type {
	case gguf.F32, gguf.F16, gguf.BF16:
	default:
		return nil, nil
	}
	var neg []bool
	i := 0
	err := forRows(f, ti, func(v []float32) error {
		for _, x := range v {
			if x == 0 && math.Signbit(float64(x)) {
				if neg == nil {
					neg = make([]bool, ti.Elements())
				}
				neg[i] = true
			}
			i++
		}
		return nil
	})
	return neg, err
}
