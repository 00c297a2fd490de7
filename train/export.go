package train

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/bitnet-go/bitnet/asm/ref"
	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/internal/atomicfile"
)

// Format is a GGUF export format.
type Format string

const (
	FormatF32  Format = "f32"   // ternarized weights {−γ, 0, γ} as F32 (the fork's f32 GGUF)
	FormatI2S  Format = "i2_s"  // the fork's I2_S: 2-bit codes, x86 layout, per-tensor γ
	FormatTQ2  Format = "tq2_0" // upstream TQ2_0: 2-bit codes, f16 scale per 256 values
	exportArch        = "bitnet-b1.58"
)

// llama.cpp file types (general.file_type).
var fileTypes = map[Format]uint32{FormatF32: 0, FormatTQ2: 37, FormatI2S: 40}

// ExportOptions control Export.
type ExportOptions struct {
	Name string // general.name
	// Vocab, when set, is the GGUF whose tokenizer.* keys (and the
	// quantization version) are copied; its token count must equal the
	// model's vocabulary. Without it the file has no tokenizer.
	Vocab *gguf.File
}

// Export writes m as a GGUF file of the bitnet-b1.58 architecture (the
// 2B4T graph) in format f. The BitLinear weights are ternarized with the
// training quantizer (clamp(round(W/(γ+1e-6)), −1, 1), γ = mean|W|), so the
// exported model computes what training computed; the fork's converter
// divides by γ without the 1e-6 and differs on weights exactly at a rounding
// boundary (63 of 3.1M codes in the reference run). token_embd is F32 in the
// F32 file and F16 otherwise; norms are F32. Keys, key order and tensor order
// follow the fork's converter output (formats.md §3), with the tokenizer
// keys copied from opt.Vocab.
func Export(path string, m *Model, f Format, opt ExportOptions) error {
	w, err := exportWriter(m, f, opt)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, atomicfile.Mode, func(out io.Writer) error {
		_, err := w.WriteTo(out)
		return err
	})
}

// CanExport reports why a model of shape c cannot be stored in format f:
// the I2_S kernels need rows (input dimensions) that are multiples of 128,
// TQ2_0 multiples of 256.
func CanExport(c Config, f Format) error {
	block := map[Format]int{FormatF32: 1, FormatI2S: ref.I2SBlock, FormatTQ2: ref.QK_K}[f]
	if block == 0 {
		return fmt.Errorf("export: unknown format %q (want f32, i2_s or tq2_0)", f)
	}
	for _, in := range []int{c.Dim, c.QDim(), c.FFN} {
		if in%block != 0 {
			return fmt.Errorf("export: %s needs input dimensions that are multiples of %d; this model has %d", f, block, in)
		}
	}
	return nil
}

func exportWriter(m *Model, f Format, opt ExportOptions) (*gguf.Writer, error) {
	c := m.Config
	ft, ok := fileTypes[f]
	if !ok {
		return nil, fmt.Errorf("export: unknown format %q", f)
	}
	if err := CanExport(c, f); err != nil {
		return nil, err
	}
	name := opt.Name
	if name == "" {
		name = "bitnet-train"
	}
	a := exportArch + "."
	w := &gguf.Writer{}
	w.Set("general.architecture", gguf.String(exportArch))
	w.Set("general.name", gguf.String(name))
	w.Set(a+"vocab_size", gguf.Uint32(uint32(c.Vocab)))
	w.Set(a+"context_length", gguf.Uint32(uint32(c.Ctx)))
	w.Set(a+"embedding_length", gguf.Uint32(uint32(c.Dim)))
	w.Set(a+"block_count", gguf.Uint32(uint32(c.Layers)))
	w.Set(a+"feed_forward_length", gguf.Uint32(uint32(c.FFN)))
	w.Set(a+"rope.dimension_count", gguf.Uint32(uint32(c.HeadDim())))
	w.Set(a+"attention.head_count", gguf.Uint32(uint32(c.Heads)))
	w.Set(a+"attention.head_count_kv", gguf.Uint32(uint32(c.KVHeads)))
	if opt.Vocab != nil {
		if v, ok := opt.Vocab.Get("tokenizer.ggml.add_bos_token"); ok {
			w.Set("tokenizer.ggml.add_bos_token", v)
		}
	}
	w.Set(a+"attention.layer_norm_rms_epsilon", gguf.Float32(c.NormEps))
	w.Set(a+"rope.freq_base", gguf.Float32(c.RopeBase))
	w.Set("general.file_type", gguf.Uint32(ft))
	qv := gguf.Uint32(2)
	if opt.Vocab != nil {
		toks, ok := opt.Vocab.Get("tokenizer.ggml.tokens")
		if !ok {
			return nil, fmt.Errorf("export: the vocabulary file has no tokenizer.ggml.tokens")
		}
		if arr, err := toks.Array(); err != nil || arr.Len() != c.Vocab {
			return nil, fmt.Errorf("export: the vocabulary file has %d tokens, the model %d", arr.Len(), c.Vocab)
		}
		for _, kv := range opt.Vocab.KVs {
			if strings.HasPrefix(kv.Key, "tokenizer.") && kv.Key != "tokenizer.ggml.add_bos_token" {
				w.Set(kv.Key, kv.Value)
			}
		}
		if v, ok := opt.Vocab.Get("general.quantization_version"); ok {
			qv = v
		}
	}
	w.Set("general.quantization_version", qv)

	l := m.lay
	emb := l.view(m.W, l.Embed)
	dims := func(t tensor) []uint64 {
		if t.Rows == 1 {
			return []uint64{uint64(t.Cols)}
		}
		return []uint64{uint64(t.Cols), uint64(t.Rows)}
	}
	if f == FormatF32 {
		w.AddTensor("token_embd.weight", gguf.F32, dims(l.Tensors[l.Embed]), f32Bytes(emb))
	} else {
		w.AddTensor("token_embd.weight", gguf.F16, dims(l.Tensors[l.Embed]), f16Bytes(emb))
	}
	norm := func(i int) {
		t := l.Tensors[i]
		w.AddTensor(t.Name, gguf.F32, dims(t), f32Bytes(l.view(m.W, i)))
	}
	ternary := func(i int) {
		t := l.Tensors[i]
		codes := make([]float32, t.Size())
		gamma := ternarize(codes, nil, l.view(m.W, i), nil)
		switch f {
		case FormatF32:
			for j := range codes {
				codes[j] *= gamma
			}
			w.AddTensor(t.Name, gguf.F32, dims(t), f32Bytes(codes))
		case FormatI2S:
			w.AddTensor(t.Name, gguf.I2_S, dims(t), packI2S(codes, gamma))
		case FormatTQ2:
			w.AddTensor(t.Name, gguf.TQ2_0, dims(t), packTQ2(codes, gamma))
		}
	}
	for _, lt := range l.Layers {
		norm(lt.AttnNorm)
		ternary(lt.Q)
		ternary(lt.K)
		ternary(lt.V)
		ternary(lt.O)
		norm(lt.FFNNorm)
		ternary(lt.Gate)
		ternary(lt.Up)
		ternary(lt.Down)
		norm(lt.AttnSubNorm)
		norm(lt.FFNSubNorm)
	}
	norm(l.OutputNorm)
	return w, nil
}

func f32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func f16Bytes(v []float32) []byte {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], ref.F32ToF16(x))
	}
	return b
}

// packI2S packs ternary codes (−1, 0, +1 as floats) of a whole tensor into
// the fork's I2_S bytes: n/4 bytes of codes (ref.PackI2S) and a 32-byte tail
// whose first 4 bytes are the f32 scale γ.
func packI2S(codes []float32, gamma float32) []byte {
	t := make([]int8, len(codes))
	for i, c := range codes {
		t[i] = int8(c)
	}
	b := make([]byte, len(codes)/4+32)
	ref.PackI2S(b[:len(codes)/4], t)
	binary.LittleEndian.PutUint32(b[len(codes)/4:], math.Float32bits(gamma))
	return b
}

// packTQ2 quantizes the ternarized tensor codes·γ to TQ2_0 as upstream's
// quantize_row_tq2_0_ref does: per block of 256, d = max|x|, code =
// round(x/d)+1, d stored as f16 after the 64 bytes of codes (element
// base+m+32l of each 128-value half in bits 2l of byte m).
func packTQ2(codes []float32, gamma float32) []byte {
	nb := len(codes) / ref.QK_K
	b := make([]byte, nb*ref.TQ2_0BlockBytes)
	for i := 0; i < nb; i++ {
		blk := codes[i*ref.QK_K : (i+1)*ref.QK_K]
		var amax float32
		for _, c := range blk {
			amax = max(amax, float32(math.Abs(float64(c*gamma))))
		}
		var id float32
		if amax != 0 {
			id = 1 / amax
		}
		out := b[i*ref.TQ2_0BlockBytes : (i+1)*ref.TQ2_0BlockBytes]
		for j, c := range blk {
			q := byte(int32(math.Round(float64(c*gamma*id))) + 1)
			half, r := j/128, j%128
			l, mm := r/32, r%32
			out[half*32+mm] |= q << (2 * l)
		}
		binary.LittleEndian.PutUint16(out[64:], ref.F32ToF16(amax))
	}
	return b
}
