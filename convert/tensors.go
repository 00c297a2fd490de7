package convert

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/bitnet-go/bitnet/asm"
	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/layout"
	"github.com/bitnet-go/bitnet/quant"
	"github.com/bitnet-go/bitnet/safetensors"
)

// A rowSource yields the float32 values of a 2-D tensor (rows × cols) or a
// vector (rows = 1), row range by row range: exactly the values the
// reference's F32 GGUF holds.
type rowSource interface {
	shape() (rows, cols int)
	// prepare is called once before the first read (whole-tensor passes).
	prepare() error
	read(dst []float32, r0, n int) error
	// release drops what prepare kept.
	release()
}

// floatSource reads an F32/F16/BF16 tensor as it is.
type floatSource struct {
	t          *safetensors.Tensor
	rows, cols int
	buf        []byte
}

func (s *floatSource) shape() (int, int) { return s.rows, s.cols }
func (s *floatSource) prepare() error    { return nil }
func (s *floatSource) release()          { s.buf = nil }
func (s *floatSource) read(dst []float32, r0, n int) error {
	var err error
	s.buf, err = s.t.ReadFloat32(dst[:n*s.cols], int64(r0)*int64(s.cols), s.buf)
	return err
}

// packedSource unpacks a transformers BitLinear weight (integrations/
// bitnet.py pack_weights): uint8 [out/4, in], output row i·out/4 + r in bits
// 2i of packed row r as code+1, with one weight_scale; the value is
// (code−1)/weight_scale in float32, as convert-hf-to-gguf-bitnet.py
// computes it for BitLinear (y = x·codes / weight_scale), or
// (code−1)·weight_scale for AutoBitLinear's offline mode, which multiplies
// its output by weight_scale.
type packedSource struct {
	t          *safetensors.Tensor
	rows, cols int
	scale      float32
	multiply   bool
	row        []byte
}

func (s *packedSource) shape() (int, int) { return s.rows, s.cols }
func (s *packedSource) prepare() error    { return nil }
func (s *packedSource) release()          { s.row = nil }
func (s *packedSource) read(dst []float32, r0, n int) error {
	p := s.rows / 4
	if s.row == nil {
		s.row = make([]byte, s.cols)
	}
	for r := r0; r < r0+n; r++ {
		i, pr := r/p, r%p
		if _, err := s.t.ReadAt(s.row, int64(pr)*int64(s.cols)); err != nil {
			return fmt.Errorf("tensor %q: %w", s.t.Name, err)
		}
		out := dst[(r-r0)*s.cols : (r-r0+1)*s.cols]
		for j, b := range s.row {
			c := b >> (2 * i) & 3
			if c == 3 {
				return fmt.Errorf("tensor %q: packed code 3 at row %d, column %d (codes are 0, 1, 2 for −1, 0, +1)", s.t.Name, r, j)
			}
			if s.multiply {
				out[j] = float32(int(c)-1) * s.scale
			} else {
				out[j] = float32(int(c)-1) / s.scale
			}
		}
	}
	return nil
}

// permutedSource reorders the rows of q/k for llama.cpp's rotary layout
// (LlamaModel.permute): within each head, the rows of the two halves are
// interleaved.
type permutedSource struct {
	rowSource
	heads int
}

func (s *permutedSource) read(dst []float32, r0, n int) error {
	rows, cols := s.shape()
	per := rows / s.heads
	half := per / 2
	for r := r0; r < r0+n; r++ {
		h, k := r/per, r%per
		i, j := k/2, k%2
		if err := s.rowSource.read(dst[(r-r0)*cols:(r-r0+1)*cols], h*per+j*half+i, 1); err != nil {
			return err
		}
	}
	return nil
}

// latentSource ternarizes latent (full precision) weights with absmean
// quantization exactly as the reference pipeline computes it in PyTorch
// float32:
//
//	s = 1 / max(mean|W|, 1e-5)          (torchMean's summation order)
//	W_q = clamp(round(W·s), −1, 1) / s   (round half to even)
//
// and, for 1bitLLM checkpoints (f16Cast), casts W_q back to fp16 as
// BitnetModel.weight_quant does. This is the paper's absmean quantizer
// with γ = mean|W|, except that the paper (and the BitNet training notes,
// and our trainer) divide by γ + 1e-6 while the reference multiplies by
// 1/γ: codes can differ for weights exactly at a rounding boundary
// (|W|·s within about 1e-6 relative of 0.5), see TestPaperDifference.
type latentSource struct {
	src     rowSource
	f16Cast bool
	vals    []float32
}

func (s *latentSource) shape() (int, int) { return s.src.shape() }
func (s *latentSource) release()          { s.vals = nil; s.src.release() }

func (s *latentSource) prepare() error {
	rows, cols := s.src.shape()
	w := make([]float32, rows*cols)
	if err := s.src.prepare(); err != nil {
		return err
	}
	if err := s.src.read(w, 0, rows); err != nil {
		return err
	}
	s.src.release()
	ternarize(w, s.f16Cast)
	s.vals = w
	return nil
}

// ternarize replaces w by its reference ternarization (see latentSource).
func ternarize(w []float32, f16Cast bool) {
	m := max(torchMeanAbs(w), 1e-5)
	s := 1 / m
	for i, v := range w {
		q := float32(math.RoundToEven(float64(v * s)))
		q = max(-1, min(1, q)) // keeps −0 for small negatives, as torch does
		r := q / s
		if f16Cast {
			r = asm.RoundF16(r)
		}
		w[i] = r
	}
}

func (s *latentSource) read(dst []float32, r0, n int) error {
	_, cols := s.shape()
	copy(dst[:n*cols], s.vals[r0*cols:(r0+n)*cols])
	return nil
}

// chunkRows is how many rows of a tensor are converted at a time: about
// 4M values (16 MB of float32), at least one row.
func chunkRows(rows, cols int) int {
	return max(1, min(rows, (4<<20)/max(1, cols)))
}

// outputType is the GGUF type a converted tensor is stored as.
func encodedSize(t gguf.Type, rows, cols int) (uint64, error) {
	if t == gguf.I2_S {
		if cols%layout.I2SBlock != 0 {
			return 0, fmt.Errorf("I2_S needs rows that are multiples of %d elements, this tensor's are %d", layout.I2SBlock, cols)
		}
		return uint64(layout.I2SSize(rows * cols)), nil
	}
	if bs := t.BlockSize(); cols%bs != 0 {
		return 0, fmt.Errorf("%s needs rows that are multiples of %d elements, this tensor's are %d", t, bs, cols)
	}
	return gguf.TensorSize(t, []uint64{uint64(cols), uint64(rows)})
}

// encode streams src into w as type t, chunk by chunk; progress is called
// with the number of source values done so far.
func encode(w io.Writer, t gguf.Type, src rowSource, progress func(done int)) error {
	rows, cols := src.shape()
	if err := src.prepare(); err != nil {
		return err
	}
	defer src.release()
	cr := chunkRows(rows, cols)
	vals := make([]float32, cr*cols)
	var out []byte
	var codes []int8
	var i2max float64
	for r0 := 0; r0 < rows; r0 += cr {
		n := min(cr, rows-r0)
		v := vals[:n*cols]
		if err := src.read(v, r0, n); err != nil {
			return err
		}
		switch t {
		case gguf.F32:
			out = grow(out, 4*len(v))
			for i, x := range v {
				binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(x))
			}
		case gguf.F16:
			out = grow(out, 2*len(v))
			for i, x := range v {
				binary.LittleEndian.PutUint16(out[2*i:], asm.F32ToF16(x))
			}
		case gguf.BF16:
			out = grow(out, 2*len(v))
			for i, x := range v {
				binary.LittleEndian.PutUint16(out[2*i:], asm.F32ToBF16(x))
			}
		case gguf.Q8_0:
			out = grow(out, len(v)/asm.Q8_0Block*asm.Q8_0BlockBytes)
			asm.QuantizeQ8_0(out, v)
		case gguf.Q6_K:
			out = grow(out, len(v)/asm.QK_K*asm.Q6_KBlockBytes)
			quant.QuantizeQ6K(out, v)
		case gguf.TQ1_0, gguf.TQ2_0:
			bs := asm.TQ2_0BlockBytes
			if t == gguf.TQ1_0 {
				bs = asm.TQ1_0BlockBytes
			}
			out = grow(out, len(v)/asm.QK_K*bs)
			if t == gguf.TQ1_0 {
				quant.QuantizeTQ1(out, v)
			} else {
				quant.QuantizeTQ2(out, v)
			}
		case gguf.I2_S:
			// llama-quantize's quantize_i2_s: scale = max|v| over the
			// tensor (in double), codes by sign with |v| < 1e-6 as 0.
			if cap(codes) < len(v) {
				codes = make([]int8, len(v))
			}
			codes := codes[:len(v)]
			for i, x := range v {
				i2max = max(i2max, math.Abs(float64(x)))
				codes[i] = layout.I2STernary(x)
			}
			out = grow(out, len(v)/4)
			if err := layout.PackI2S(out, codes); err != nil {
				return err
			}
		default:
			return fmt.Errorf("cannot write tensors of type %s", t)
		}
		if _, err := w.Write(out); err != nil {
			return err
		}
		if progress != nil {
			progress((r0 + n) * cols)
		}
	}
	if t == gguf.I2_S {
		tail := layout.I2STail(float32(i2max))
		if _, err := w.Write(tail[:]); err != nil {
			return err
		}
	}
	return nil
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}
