package convert

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bitnet-go/bitnet/asm"
	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/internal/atomicfile"
	"github.com/bitnet-go/bitnet/layout"
	"github.com/bitnet-go/bitnet/safetensors"
)

// ExportOptions control ExportHF.
type ExportOptions struct {
	// Warnings, when set, receives a line for each ternary scale that
	// cannot be reproduced exactly by a re-conversion (see ExportHF).
	Warnings io.Writer
}

// ExportHF writes a GGUF model of the 2B4T graph (arch bitnet-b1.58 or
// bitnet-25, as this converter, bitnet-train or the fork write it) as a
// Hugging Face checkpoint that transformers' BitNetForCausalLM loads:
// config.json, model.safetensors, tokenizer.json and tokenizer_config.json
// in outDir. A GGUF of the ternary llama graph (arch llama with ternary
// matrices: HF1BitLLM, Falcon3-1.58bit conversions) becomes a
// LlamaForCausalLM checkpoint with the same quantization_config, the
// q/k rows put back in Hugging Face's order (the converter permutes them
// for llama.cpp's rotary layout). A GGUF of the 1bitLLM graph (arch bitnet,
// SiLU, SentencePiece) becomes a BitnetForCausalLM checkpoint as
// 1bitLLM/bitnet_b1_58-* ship them: fp16 latent weights chosen so that the
// reference pipeline's ternarization gives back the same codes and fp16
// scale (latentFor checks it with the converter's own ternarize; export
// fails where no such weights exist), and a tokenizer.model.
//
// The ternary matrices are written in transformers' packed form
// (quantization_config bitnet/bitlinear/offline: uint8 [out/4, in] codes
// and a one-element weight_scale, W = (code−1)/weight_scale), from I2_S,
// TQ1_0/TQ2_0 with one scale per tensor, or F32/F16/BF16 ternary values
// {−γ, 0, γ}. weight_scale is F32 and chosen so that 1/weight_scale is γ
// exactly in float32 (for γ that came from a reciprocal, as every
// converter-made γ does); converting the export back with this package
// gives the same GGUF bytes (HF → GGUF → HF → GGUF is byte-identical for
// I2_S). Embeddings and norms are stored as BF16 when every value is a
// BF16 value, else F16 when every value is an F16 value, else F32.
func ExportHF(inPath, outDir string, o ExportOptions) error {
	f, err := gguf.Open(inPath)
	if err != nil {
		return err
	}
	defer f.Close()
	arch, err := f.GetString(layout.KeyArchitecture)
	if err != nil {
		return err
	}
	llama, bitnet1 := arch == layout.ArchLlama, arch == layout.ArchBitNet
	if arch != layout.ArchBitNetB158 && arch != layout.ArchBitNet25 && !llama && !bitnet1 {
		return fmt.Errorf("%s: arch %q: export supports the 2B4T graph (bitnet-b1.58, bitnet-25), which transformers' BitNetForCausalLM implements, the ternary llama graph (LlamaForCausalLM with quantization_config bitnet) and the 1bitLLM graph (bitnet: BitnetForCausalLM)", inPath, arch)
	}
	hp := func(key string) (int, error) {
		v, err := f.GetUint(layout.Key(arch, key))
		if err != nil {
			return 0, err
		}
		if v == 0 || v > 1<<31 {
			return 0, fmt.Errorf("%s = %d is out of range", layout.Key(arch, key), v)
		}
		return int(v), nil
	}
	var dims = map[string]int{}
	for _, k := range []string{layout.EmbeddingLength, layout.BlockCount, layout.FeedForwardLength, layout.HeadCount, layout.ContextLength} {
		if dims[k], err = hp(k); err != nil {
			return err
		}
	}
	kvHeads := dims[layout.HeadCount]
	_, hasKV := f.Get(layout.Key(arch, layout.HeadCountKV))
	if hasKV {
		if kvHeads, err = hp(layout.HeadCountKV); err != nil {
			return err
		}
	}
	eps, err := f.GetFloat(layout.Key(arch, layout.RMSEps))
	if err != nil {
		return err
	}
	ropeBase := 10000.0
	if _, ok := f.Get(layout.Key(arch, layout.RopeFreqBase)); ok {
		if ropeBase, err = f.GetFloat(layout.Key(arch, layout.RopeFreqBase)); err != nil {
			return err
		}
	}
	tok, err := exportTokenizer(f, bitnet1)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}

	// Tensors: map back to HF names; decide the dtype of the others.
	type exportTensor struct {
		ti      *gguf.TensorInfo
		hf      string
		ternary bool
		block   int
	}
	var ts []exportTensor
	hasOutput := false
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		hf, block, ternary, err := hfName(ti.Name, dims[layout.BlockCount], arch)
		if err != nil {
			return fmt.Errorf("%s: %w", inPath, err)
		}
		if ti.Name == layout.Output {
			hasOutput = true
		}
		ts = append(ts, exportTensor{ti, hf, ternary, block})
	}
	bf16OK, f16OK := true, true
	for _, t := range ts {
		if t.ternary {
			continue
		}
		if err := forRows(f, t.ti, func(v []float32) error {
			for _, x := range v {
				if bf16OK && asm.BF16ToF32(asm.F32ToBF16(x)) != x {
					bf16OK = false
				}
				if f16OK && asm.RoundF16(x) != x {
					f16OK = false
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	plainType := safetensors.F32
	switch {
	case bf16OK:
		plainType = safetensors.BF16
	case f16OK:
		plainType = safetensors.F16
	}

	w := &safetensors.Writer{Metadata: map[string]string{"format": "pt"}}
	for _, t := range ts {
		t := t
		rows, cols := 1, int(t.ti.Dims[0])
		if len(t.ti.Dims) == 2 {
			rows = int(t.ti.Dims[1])
		}
		if !t.ternary {
			shape := []int64{int64(cols)}
			if len(t.ti.Dims) == 2 {
				shape = []int64{int64(rows), int64(cols)}
			}
			w.Add(t.hf, plainType, shape, func(out io.Writer) error {
				return forRows(f, t.ti, func(v []float32) error {
					b := make([]byte, len(v)*plainType.Size())
					for i, x := range v {
						switch plainType {
						case safetensors.BF16:
							binary.LittleEndian.PutUint16(b[2*i:], asm.F32ToBF16(x))
						case safetensors.F16:
							binary.LittleEndian.PutUint16(b[2*i:], asm.F32ToF16(x))
						default:
							binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
						}
					}
					_, err := out.Write(b)
					return err
				})
			})
			continue
		}
		if rows%4 != 0 {
			return fmt.Errorf("%s: %d rows cannot be packed four to a byte", t.ti.Name, rows)
		}
		codes, gamma, err := ternaryCodes(f, t.ti)
		if err != nil {
			return err
		}
		if llama && (t.ti.Name == layout.Block(t.block, layout.AttnQ) || t.ti.Name == layout.Block(t.block, layout.AttnK)) {
			heads := dims[layout.HeadCount]
			if t.ti.Name == layout.Block(t.block, layout.AttnK) {
				heads = kvHeads
			}
			if codes, err = unpermuteRows(codes, rows, cols, heads); err != nil {
				return fmt.Errorf("%s: %w", t.ti.Name, err)
			}
		}
		if bitnet1 {
			neg, err := negativeZeros(f, t.ti)
			if err != nil {
				return err
			}
			lat, ok := latentFor(codes, gamma, neg)
			if !ok {
				return fmt.Errorf("%s: no fp16 latent weights re-ternarize to scale %g", t.ti.Name, gamma)
			}
			b := make([]byte, 2*len(lat))
			for i, x := range lat {
				binary.LittleEndian.PutUint16(b[2*i:], asm.F32ToF16(x))
			}
			w.AddBytes(t.hf, safetensors.F16, []int64{int64(rows), int64(cols)}, b)
			continue
		}
		ws, exact := weightScaleFor(gamma)
		if !exact && o.Warnings != nil {
			fmt.Fprintf(o.Warnings, "%s: scale %g is not the reciprocal of any float32; a re-conversion's scale differs by an ulp\n", t.ti.Name, gamma)
		}
		packed := packHF(codes, rows, cols)
		w.AddBytes(t.hf, safetensors.U8, []int64{int64(rows / 4), int64(cols)}, packed)
		var sb [4]byte
		binary.LittleEndian.PutUint32(sb[:], math.Float32bits(ws))
		w.AddBytes(strings.TrimSuffix(t.hf, "weight")+"weight_scale", safetensors.F32, []int64{1}, sb[:])
	}

	num := func(x float64) json.Number { return json.Number(strconv.FormatFloat(x, 'g', -1, 32)) }
	cfg := map[string]any{
		"architectures":           []string{"BitNetForCausalLM"},
		"model_type":              "bitnet",
		"hidden_act":              "relu2",
		"hidden_size":             dims[layout.EmbeddingLength],
		"intermediate_size":       dims[layout.FeedForwardLength],
		"num_hidden_layers":       dims[layout.BlockCount],
		"num_attention_heads":     dims[layout.HeadCount],
		"num_key_value_heads":     kvHeads,
		"max_position_embeddings": dims[layout.ContextLength],
		"rms_norm_eps":            num(eps),
		"rope_theta":              num(ropeBase),
		"vocab_size":              len(tok.tokens),
		"tie_word_embeddings":     !hasOutput,
		"attention_bias":          false,
		"torch_dtype":             "bfloat16",
		"quantization_config":     map[string]any{"quant_method": "bitnet", "linear_class": "bitlinear", "quantization_mode": "offline"},
	}
	if llama {
		if err := llamaConfig(f, cfg, hasKV); err != nil {
			return fmt.Errorf("%s: %w", inPath, err)
		}
	}
	if bitnet1 {
		if err := bitnetConfig(f, cfg); err != nil {
			return fmt.Errorf("%s: %w", inPath, err)
		}
	}
	for typ, id := range tok.ids {
		cfg[typ+"_token_id"] = id
	}
	files := []struct {
		name string
		v    any
	}{{"config.json", cfg}, {"tokenizer.json", nil}, {"tokenizer_config.json", nil}}
	if tok.spm {
		files[1].name, files[2].v = "tokenizer.model", tok.spmConfig()
	} else {
		files[1].v, files[2].v = tok.tokenizerJSON(), tok.config(dims[layout.ContextLength])
	}
	for _, fl := range files {
		var b bytes.Buffer
		if fl.name == "tokenizer.model" {
			b.Write(tok.spmModel())
		} else {
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false) // keep <|begin_of_text|> readable
			enc.SetIndent("", "  ")
			if err := enc.Encode(fl.v); err != nil {
				return err
			}
		}
		if err := atomicfile.WriteFile(filepath.Join(outDir, fl.name), atomicfile.Mode, func(w io.Writer) error {
			_, err := w.Write(b.Bytes())
			return err
		}); err != nil {
			return err
		}
	}
	return atomicfile.WriteFile(filepath.Join(outDir, "model.safetensors"), atomicfile.Mode, func(out io.Writer) error {
		_, err := w.WriteTo(out)
		return err
	})
}

// hfName maps a GGUF tensor name of the 2B4T graph to transformers'
// BitNet name (of the llama graph, to its Llama name), with its block (−1
// outside blocks).
func hfName(name string, layers int, arch string) (string, int, bool, error) {
	llama := arch == layout.ArchLlama
	switch name {
	case layout.TokenEmbd:
		return "model.embed_tokens.weight", -1, false, nil
	case layout.Output:
		return "lm_head.weight", -1, false, nil
	case layout.OutputNorm:
		return "model.norm.weight", -1, false, nil
	}
	hf := map[string]string{
		layout.AttnNorm: "input_layernorm", layout.FFNNorm: "post_attention_layernorm",
		layout.AttnQ: "self_attn.q_proj", layout.AttnK: "self_attn.k_proj", layout.AttnV: "self_attn.v_proj",
		layout.AttnOutput: "self_attn.o_proj", layout.AttnSubNorm: "self_attn.attn_sub_norm",
		layout.FFNGate: "mlp.gate_proj", layout.FFNUp: "mlp.up_proj", layout.FFNDown: "mlp.down_proj",
		layout.FFNSubNorm: "mlp.ffn_sub_norm",
	}
	switch arch {
	case layout.ArchLlama:
		delete(hf, layout.AttnSubNorm)
		delete(hf, layout.FFNSubNorm)
	case layout.ArchBitNet: // 1bitLLM's names
		hf[layout.AttnSubNorm], hf[layout.FFNSubNorm] = "self_attn.inner_attn_ln", "mlp.ffn_layernorm"
	}
	for b := 0; b < layers; b++ {
		for g, h := range hf {
			if name == layout.Block(b, g) {
				return fmt.Sprintf("model.layers.%d.%s.weight", b, h), b, layout.IsTernary(g), nil
			}
		}
	}
	model := "BitNet"
	if llama {
		model = "Llama"
	}
	return "", -1, false, fmt.Errorf("tensor %q has no place in transformers' %s model", name, model)
}

// llamaConfig turns cfg (written for BitNetForCausalLM) into the config of a
// ternary LlamaForCausalLM checkpoint as HF1BitLLM and Falcon3-1.58bit ship
// it, keeping what the llama converter reads back: the head dimension, the
// KV head count only where the GGUF has it, a linear rope scaling.
func llamaConfig(f *gguf.File, cfg map[string]any, hasKV bool) error {
	k := func(s string) string { return layout.Key(layout.ArchLlama, s) }
	cfg["architectures"] = []string{"LlamaForCausalLM"}
	cfg["model_type"] = "llama"
	cfg["hidden_act"] = "silu"
	cfg["mlp_bias"] = false
	if !hasKV {
		delete(cfg, "num_key_value_heads")
	}
	if v, ok := f.Get(k(layout.RopeDimensionCount)); ok {
		hd, err := v.Uint()
		if err != nil || hd == 0 || hd > 1<<20 {
			return fmt.Errorf("%s: bad value", k(layout.RopeDimensionCount))
		}
		cfg["head_dim"] = hd
	}
	if st, err := f.GetString(k(layout.RopeScalingType)); err == nil && st != "none" {
		fac, err := f.GetFloat(k(layout.RopeScalingFactor))
		if st != "linear" || err != nil {
			return fmt.Errorf("rope scaling %q: export writes linear scaling only", st)
		}
		cfg["rope_scaling"] = map[string]any{"type": "linear", "factor": json.Number(strconv.FormatFloat(fac, 'g', -1, 32))}
	}
	for _, key := range []string{layout.KeyLength, layout.ValueLength, layout.ExpertCount} {
		if _, ok := f.Get(k(key)); ok {
			return fmt.Errorf("%s: export does not carry this key", k(key))
		}
	}
	return nil
}

// unpermuteRows undoes the converter's q/k row permutation for llama.cpp's
// rotary layout (permutedSource): GGUF row h·per+2i+j is Hugging Face row
// h·per+j·per/2+i.
func unpermuteRows(codes []int8, rows, cols, heads int) ([]int8, error) {
	if heads <= 0 || rows%heads != 0 || (rows/heads)%2 != 0 {
		return nil, fmt.Errorf("%d rows cannot be split into %d heads of even size", rows, heads)
	}
	per := rows / heads
	half := per / 2
	out := make([]int8, len(codes))
	for r := 0; r < rows; r++ {
		h, kk := r/per, r%per
		i, j := kk/2, kk%2
		hr := h*per + j*half + i
		copy(out[hr*cols:(hr+1)*cols], codes[r*cols:(r+1)*cols])
	}
	return out, nil
}

// forRows decodes a non-ternary tensor to float32, a chunk of rows at a
// time.
func forRows(f *gguf.File, ti *gguf.TensorInfo, fn func([]float32) error) error {
	data, err := f.TensorData(ti)
	if err != nil {
		return err
	}
	cols := int(ti.Dims[0])
	rows := int(ti.Elements()) / cols
	rowBytes := int(ti.Size) / rows
	cr := chunkRows(rows, cols)
	v := make([]float32, cr*cols)
	for r0 := 0; r0 < rows; r0 += cr {
		n := min(cr, rows-r0)
		b := data[r0*rowBytes : (r0+n)*rowBytes]
		out := v[:n*cols]
		switch ti.Type {
		case gguf.F32:
			for i := range out {
				out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			}
		case gguf.F16:
			for i := range out {
				out[i] = asm.F16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
			}
		case gguf.BF16:
			for i := range out {
				out[i] = asm.BF16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
			}
		case gguf.Q8_0:
			asm.DequantQ8_0(out, b)
		case gguf.Q6_K:
			asm.DequantQ6K(out, b)
		default:
			return fmt.Errorf("tensor %s: cannot export type %s", ti.Name, ti.Type)
		}
		if err := fn(out); err != nil {
			return err
		}
	}
	return nil
}

// ternaryCodes reads a ternary matrix as codes −1/0/+1 and its scale γ.
func ternaryCodes(f *gguf.File, ti *gguf.TensorInfo) ([]int8, float32, error) {
	n := int(ti.Elements())
	data, err := f.TensorData(ti)
	if err != nil {
		return nil, 0, err
	}
	codes := make([]int8, n)
	switch ti.Type {
	case gguf.I2_S:
		layout.UnpackI2S(codes, data)
		g, err := layout.I2SScale(data, n)
		return codes, g, err
	case gguf.F32, gguf.F16, gguf.BF16, gguf.TQ1_0, gguf.TQ2_0:
	default:
		return nil, 0, fmt.Errorf("tensor %s: type %s is not a ternary format", ti.Name, ti.Type)
	}
	var gamma float32
	i := 0
	err = func() error {
		if ti.Type == gguf.TQ1_0 || ti.Type == gguf.TQ2_0 {
			v := make([]float32, n)
			asm.DequantTQ(v, data, ti.Type == gguf.TQ1_0)
			return setCodes(v, codes, &gamma, &i, ti.Name)
		}
		return forRows(f, ti, func(v []float32) error { return setCodes(v, codes, &gamma, &i, ti.Name) })
	}()
	return codes, gamma, err
}

func setCodes(v []float32, codes []int8, gamma *float32, i *int, name string) error {
	for _, x := range v {
		a := float32(math.Abs(float64(x)))
		switch {
		case a == 0:
			codes[*i] = 0
		case *gamma == 0 || a == *gamma:
			*gamma = a
			codes[*i] = 1
			if x < 0 {
				codes[*i] = -1
			}
		default:
			return fmt.Errorf("tensor %s is not ternary: values ±%g and ±%g (one scale per tensor is needed)", name, *gamma, a)
		}
		*i++
	}
	return nil
}

// weightScaleFor finds a float32 w with 1/w == gamma in float32 (so the
// re-conversion's (code−1)/w and I2_S scale max|w| are gamma again).
func weightScaleFor(gamma float32) (float32, bool) {
	if gamma == 0 {
		return 1, true
	}
	w0 := 1 / gamma
	up, down := w0, w0
	for d := 0; d < 8; d++ {
		if 1/up == gamma {
			return up, true
		}
		if 1/down == gamma {
			return down, true
		}
		up = math.Nextafter32(up, float32(math.Inf(1)))
		down = math.Nextafter32(down, 0)
	}
	return w0, false
}

// packHF packs codes of a rows × cols matrix as transformers'
// pack_weights: byte [r][j] holds rows i·rows/4 + r in bits 2i, as code+1.
func packHF(codes []int8, rows, cols int) []byte {
	p := rows / 4
	out := make([]byte, p*cols)
	for r := 0; r < rows; r++ {
		i, pr := r/p, r%p
		for j := 0; j < cols; j++ {
			out[pr*cols+j] |= byte(codes[r*cols+j]+1) << (2 * i)
		}
	}
	return out
}

// exportedTokenizer is a GGUF's byte-level BPE vocabulary as
// tokenizer.json / tokenizer_config.json content.
type exportedTokenizer struct {
	spm          bool // SentencePiece (tokenizer.model), else byte-level BPE
	tokens       []string
	scores       []float32 // SentencePiece only
	types        []int32
	merges       []string
	pre          string
	ids          map[string]uint32
	addBOS       bool
	addEOS       bool // SentencePiece only
	chatTemplate string
	// SentencePiece: the pieces of tokenizer.model (the rest are the
	// converter's fillers) and the normalizer's dummy prefix.
	spmPieces      int
	addSpacePrefix bool
}

func exportTokenizer(f *gguf.File, spm bool) (*exportedTokenizer, error) {
	model, err := f.GetString(layout.KeyTokenizerModel)
	if err != nil {
		return nil, fmt.Errorf("the GGUF has no tokenizer (%w)", err)
	}
	if want := map[bool]string{false: layout.TokenizerBPE, true: layout.TokenizerSPM}[spm]; model != want {
		return nil, fmt.Errorf("tokenizer model %q: this graph's export writes %q tokenizers only", model, want)
	}
	t := &exportedTokenizer{ids: map[string]uint32{}, spm: spm}
	if t.tokens, err = gguf.GetArray[string](f, layout.KeyTokens); err != nil {
		return nil, err
	}
	if t.types, err = gguf.GetArray[int32](f, layout.KeyTokenTypes); err != nil {
		return nil, err
	}
	if len(t.types) != len(t.tokens) {
		return nil, errors.New("token_type and tokens differ in length")
	}
	if _, ok := f.Get(layout.KeyMerges); ok {
		if t.merges, err = gguf.GetArray[string](f, layout.KeyMerges); err != nil {
			return nil, err
		}
	}
	t.pre, _ = f.GetString(layout.KeyTokenizerPre)
	switch t.pre {
	case "", "llama-bpe", "gpt-2", "default":
	default:
		return nil, fmt.Errorf("pre-tokenizer %q: export knows llama-bpe and gpt-2 only", t.pre)
	}
	for _, typ := range specialTypes {
		if v, ok := f.Get(layout.SpecialTokenKey(typ)); ok {
			id, err := v.Uint()
			if err != nil || id >= uint64(len(t.tokens)) {
				return nil, fmt.Errorf("%s: bad token id", layout.SpecialTokenKey(typ))
			}
			t.ids[typ] = uint32(id)
		}
	}
	t.addBOS, _ = f.GetBool(layout.AddTokenKey("bos"))
	t.chatTemplate, _ = f.GetString(layout.KeyChatTemplate)
	if spm {
		if t.scores, err = gguf.GetArray[float32](f, layout.KeyScores); err != nil {
			return nil, err
		}
		if len(t.scores) != len(t.tokens) {
			return nil, errors.New("scores and tokens differ in length")
		}
		for i, ty := range t.types {
			if ty < layout.TokenNormal || ty > layout.TokenByte || ty == layout.TokenUserDefined {
				return nil, fmt.Errorf("token %d (%q) has type %d, which tokenizer.model cannot carry", i, t.tokens[i], ty)
			}
		}
		t.addEOS, _ = f.GetBool(layout.AddTokenKey("eos"))
		t.addSpacePrefix = true
		if v, err := f.GetBool(layout.KeyAddSpacePrefix); err == nil {
			t.addSpacePrefix = v
		}
		t.spmPieces = spmPieces(t.tokens, t.scores, t.types)
		return t, nil
	}
	// The base vocabulary must come first: tokenizers lists added tokens
	// after it (and the converter requires it).
	seenAdded := false
	for i, ty := range t.types {
		added := ty == layout.TokenControl || ty == layout.TokenUserDefined
		if added {
			seenAdded = true
		} else if seenAdded {
			return nil, fmt.Errorf("token %d (%q) is a normal token after added tokens; tokenizer.json cannot keep this order", i, t.tokens[i])
		}
	}
	return t, nil
}

func (t *exportedTokenizer) tokenizerJSON() map[string]any {
	vocab := map[string]int{}
	var added []map[string]any
	for i, s := range t.tokens {
		if t.types[i] == layout.TokenControl || t.types[i] == layout.TokenUserDefined {
			added = append(added, map[string]any{"id": i, "content": s, "single_word": false, "lstrip": false,
				"rstrip": false, "normalized": false, "special": t.types[i] == layout.TokenControl})
			continue
		}
		vocab[s] = i
	}
	var pre any = map[string]any{"type": "Sequence", "pretokenizers": []any{
		map[string]any{"type": "Split", "pattern": map[string]any{"Regex": llama3Pattern}, "behavior": "Isolated", "invert": false},
		map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
	}}
	if t.pre == "gpt-2" {
		pre = map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}
	}
	var post any
	if bos, ok := t.ids["bos"]; ok && t.addBOS {
		b := t.tokens[bos]
		post = map[string]any{"type": "TemplateProcessing",
			"single":         []any{map[string]any{"SpecialToken": map[string]any{"id": b, "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}},
			"pair":           []any{map[string]any{"SpecialToken": map[string]any{"id": b, "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}, map[string]any{"SpecialToken": map[string]any{"id": b, "type_id": 1}}, map[string]any{"Sequence": map[string]any{"id": "B", "type_id": 1}}},
			"special_tokens": map[string]any{b: map[string]any{"id": b, "ids": []uint32{bos}, "tokens": []string{b}}},
		}
	}
	merges := t.merges
	if merges == nil {
		merges = []string{}
	}
	return map[string]any{
		"version": "1.0", "truncation": nil, "padding": nil, "added_tokens": added, "normalizer": nil,
		"pre_tokenizer": pre, "post_processor": post,
		"decoder": map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": nil,
			"end_of_word_suffix": nil, "fuse_unk": false, "byte_fallback": false, "ignore_merges": t.pre != "gpt-2",
			"vocab": vocab, "merges": merges},
	}
}

func (t *exportedTokenizer) config(ctx int) map[string]any {
	c := map[string]any{
		"tokenizer_class":              "PreTrainedTokenizerFast",
		"clean_up_tokenization_spaces": true,
		"model_max_length":             ctx,
		"model_input_names":            []string{"input_ids", "attention_mask"},
	}
	dec := map[string]any{}
	for i, ty := range t.types {
		if ty == layout.TokenControl || ty == layout.TokenUserDefined {
			dec[strconv.Itoa(i)] = map[string]any{"content": t.tokens[i], "lstrip": false, "normalized": false,
				"rstrip": false, "single_word": false, "special": ty == layout.TokenControl}
		}
	}
	c["added_tokens_decoder"] = dec
	for typ, id := range t.ids {
		c[typ+"_token"] = t.tokens[id]
	}
	if t.chatTemplate != "" {
		c["chat_template"] = t.chatTemplate
	}
	return c
}
