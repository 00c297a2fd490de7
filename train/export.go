package train

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/bitnet-go/bitnet/asm"
	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/internal/atomicfile"
	"github.com/bitnet-go/bitnet/layout"
	"github.com/bitnet-go/bitnet/quant"
)

// Format is a GGUF export format.
type Format string

const (
	FormatF32  Format = "f32"   // ternarized weights {−γ, 0, γ} as F32 (the fork's f32 GGUF)
	FormatI2S  Format = "i2_s"  // the fork's I2_S: 2-bit codes, x86 layout, per-tensor γ
	FormatTQ2  Format = "tq2_0" // upstream TQ2_0: 2-bit codes, f16 scale per 256 values
	exportArch        = layout.ArchBitNetB158
)

// llama.cpp file types (general.file_type).
var fileTypes = map[Format]uint32{FormatF32: layout.FileTypeF32, FormatTQ2: layout.FileTypeTQ2_0, FormatI2S: layout.FileTypeI2_S}

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
	block := map[Format]int{FormatF32: 1, FormatI2S: layout.I2SBlock, FormatTQ2: quant.QK_K}[f]
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
	k := func(suffix string) string { return layout.Key(exportArch, suffix) }
	addBOS := layout.AddTokenKey("bos")
	w := &gguf.Writer{}
	w.Set(layout.KeyArchitecture, gguf.String(exportArch))
	w.Set(layout.KeyName, gguf.String(name))
	w.Set(k(layout.VocabSize), gguf.Uint32(uint32(c.Vocab)))
	w.Set(k(layout.ContextLength), gguf.Uint32(uint32(c.Ctx)))
	w.Set(k(layout.EmbeddingLength), gguf.Uint32(uint32(c.Dim)))
	w.Set(k(layout.BlockCount), gguf.Uint32(uint32(c.Layers)))
	w.Set(k(layout.FeedForwardLength), gguf.Uint32(uint32(c.FFN)))
	w.Set(k(layout.RopeDimensionCount), gguf.Uint32(uint32(c.HeadDim())))
	w.Set(k(layout.HeadCount), gguf.Uint32(uint32(c.Heads)))
	w.Set(k(layout.HeadCountKV), gguf.Uint32(uint32(c.KVHeads)))
	if opt.Vocab != nil {
		if v, ok := opt.Vocab.Get(addBOS); ok {
			w.Set(addBOS, v)
		}
	}
	w.Set(k(layout.RMSEps), gguf.Float32(c.NormEps))
	w.Set(k(layout.RopeFreqBase), gguf.Float32(c.RopeBase))
	w.Set(layout.KeyFileType, gguf.Uint32(ft))
	qv := gguf.Uint32(layout.QuantizationVersion)
	if opt.Vocab != nil {
		toks, ok := opt.Vocab.Get(layout.KeyTokens)
		if !ok {
			return nil, fmt.Errorf("export: the vocabulary file has no %s", layout.KeyTokens)
		}
		if arr, err := toks.Array(); err != nil || arr.Len() != c.Vocab {
			return nil, fmt.Errorf("export: the vocabulary file has %d tokens, the model %d", arr.Len(), c.Vocab)
		}
		for _, kv := range opt.Vocab.KVs {
			if layout.IsTokenizerKey(kv.Key) && kv.Key != addBOS {
				w.Set(kv.Key, kv.Value)
			}
		}
		if v, ok := opt.Vocab.Get(layout.KeyQuantizationVersion); ok {
			qv = v
		}
	}
	w.Set(layout.KeyQuantizationVersion, qv)

	l := m.lay
	emb := l.view(m.W, l.Embed)
	dims := func(t tensor) []uint64 {
		if t.Rows == 1 {
			return []uint64{uint64(t.Cols)}
		}
		return layout.Dims(t.Rows, t.Cols)
	}
	if f == FormatF32 {
		w.AddTensor(layout.TokenEmbd, gguf.F32, dims(l.Tensors[l.Embed]), f32Bytes(emb))
	} else {
		w.AddTensor(layout.TokenEmbd, gguf.F16, dims(l.Tensors[l.Embed]), f16Bytes(emb))
	}
	norm := func(i int) {
		t := l.Tensors[i]
		w.AddTensor(t.Name, gguf.F32, dims(t), f32Bytes(l.view(m.W, i)))
	}
	var packErr error
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
			b, err := packI2S(codes, gamma)
			if err != nil && packErr == nil {
				packErr = fmt.Errorf("export: %s: %w", t.Name, err)
			}
			w.AddTensor(t.Name, layout.I2SType, dims(t), b)
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
	if packErr != nil {
		return nil, packErr
	}
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
		binary.LittleEndian.PutUint16(b[2*i:], asm.F32ToF16(x))
	}
	return b
}

// packI2S packs ternary codes (−1, 0, +1 as floats) of a whole tensor into
// the fork's I2_S bytes: the codes and the tail holding the scale γ
// (layout.PackI2S, layout.I2STail). CanExport has checked the block size.
func packI2S(codes []float32, gamma float32) ([]byte, error) {
	t := make([]int8, len(codes))
	for i, c := range codes {
		t[i] = int8(c)
	}
	n := len(codes) / 4
	b := make([]byte, layout.I2SSize(len(codes)))
	if err := layout.PackI2S(b[:n], t); err != nil {
		return nil, err
	}
	tail := layout.I2STail(gamma)
	copy(b[n:], tail[:])
	return b, nil
}

// packTQ2 quantizes the ternarized tensor codes·γ to TQ2_0 with upstream's
// quantizer (quant.QuantizeTQ2: per block of 256, d = max|x|, code =
// round(x/d)+1).
func packTQ2(codes []float32, gamma float32) []byte {
	x := make([]float32, len(codes))
	for i, c := range codes {
		x[i] = c * gamma
	}
	b := make([]byte, len(codes)/quant.QK_K*quant.TQ2_0Bytes)
	quant.QuantizeTQ2(b, x)
	return b
}
