package runtime

import (
	"encoding/binary"
	"fmt"
	"slices"
	"unsafe"

	"github.com/bitnet-go/bitnet/asm"
)

// Format is the storage format of a weight matrix.
type Format int

const (
	F32 Format = iota
	F16
	BF16
	Q8_0
	Q4_K
	Q6_K
	TQ1_0
	TQ2_0
	I2S
	I8Row // int8 weights with one f32 scale per row (the optional int8 head)
)

var formatNames = [...]string{"f32", "f16", "bf16", "q8_0", "q4_K", "q6_K", "tq1_0", "tq2_0", "i2_s", "i8row"}

func (f Format) String() string { return formatNames[f] }

// RowBytes is the number of bytes of one row of cols elements.
func (f Format) RowBytes(cols int) int {
	switch f {
	case F32:
		return cols * 4
	case F16, BF16:
		return cols * 2
	case Q8_0:
		return cols / asm.Q8_0Block * asm.Q8_0BlockBytes
	case Q4_K:
		return cols / asm.QK_K * asm.Q4_KBlockBytes
	case Q6_K:
		return cols / asm.QK_K * asm.Q6_KBlockBytes
	case TQ1_0:
		return cols / asm.QK_K * asm.TQ1_0BlockBytes
	case TQ2_0:
		return cols / asm.QK_K * asm.TQ2_0BlockBytes
	case I2S:
		return cols / 4
	case I8Row:
		return cols
	}
	panic("unknown format")
}

// BlockCols is the row-length granularity of the format.
func (f Format) BlockCols() int {
	switch f {
	case Q8_0:
		return asm.Q8_0Block
	case Q4_K, Q6_K, TQ1_0, TQ2_0:
		return asm.QK_K
	case I2S:
		return asm.I2SBlock
	}
	return 1
}

// Matrix is a weight matrix of Rows × Cols stored row-major in Data (which
// usually aliases the mmapped model file). Scale is the per-tensor scale γ
// of I2_S matrices.
//
// MatMul follows the reference numerics of each format:
//   - I2_S: per-token int8 activations (asm.QuantizeI8), the integer code dot,
//     then (dot − Σq)/s·γ, as the BitNet fork does;
//   - TQ1_0, TQ2_0, Q4_K, Q6_K: Q8_K activations (one scale per 256 values),
//     as upstream ggml does;
//   - Q8_0: Q8_0 activations;
//   - F16, BF16: activations rounded to F16 / BF16, f32 accumulation;
//   - F32: a plain f32 dot.
type Matrix struct {
	Format     Format
	Rows, Cols int
	Data       []byte
	Scale      float32
	RowScales  []float32 // I8Row: the scale of each row
}

// NewMatrix checks that data holds a rows × cols matrix of the format.
func NewMatrix(f Format, rows, cols int, data []byte) (*Matrix, error) {
	if cols%f.BlockCols() != 0 {
		return nil, fmt.Errorf("%s matrix with %d columns: not a multiple of %d", f, cols, f.BlockCols())
	}
	need := rows * f.RowBytes(cols)
	if f == I2S {
		need += 4 // the scale after the packed codes
	}
	if len(data) < need {
		return nil, fmt.Errorf("%s matrix %d×%d needs %d bytes, have %d", f, rows, cols, need, len(data))
	}
	m := &Matrix{Format: f, Rows: rows, Cols: cols, Data: data}
	if f == I2S {
		m.Scale = asm.I2SScale(data, rows*cols)
	}
	return m, nil
}

func (m *Matrix) row(r int) []byte {
	rb := m.Format.RowBytes(m.Cols)
	return m.Data[r*rb : (r+1)*rb]
}

// f32s views b as float32s (b comes from an aligned mmap or allocation).
func f32s(b []byte) []float32 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4)
}

func u16s(b []byte) []uint16 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(&b[0])), len(b)/2)
}

// RowF32 dequantizes row r into dst (len Cols): the embedding lookup.
func (m *Matrix) RowF32(dst []float32, r int) {
	b := m.row(r)
	switch m.Format {
	case F32:
		copy(dst, f32s(b))
	case F16:
		asm.F16ToF32s(dst, u16s(b))
	case BF16:
		for i := range dst {
			dst[i] = asm.BF16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case Q8_0:
		asm.DequantQ8_0(dst, b)
	case Q4_K:
		asm.DequantQ4K(dst, b)
	case Q6_K:
		asm.DequantQ6K(dst, b)
	case TQ1_0, TQ2_0:
		asm.DequantTQ(dst, b, m.Format == TQ1_0)
	case I2S:
		for k := range dst {
			dst[k] = float32(int(asm.I2SCode(b, k))-1) * m.Scale
		}
	case I8Row:
		for k, v := range i8s(b) {
			dst[k] = float32(v) * m.RowScales[r]
		}
	}
}

func i8s(b []byte) []int8 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*int8)(unsafe.Pointer(&b[0])), len(b))
}

// QuantizeRowsInt8 returns an int8 copy of m with one absmax/127 scale per
// row: the optional fast output head, half the bytes of an F16 head. Its
// logits differ from the F16 head's by the int8 rounding of the weights and
// of the activations (per-token absmax, as BitLinear does).
func QuantizeRowsInt8(m *Matrix, p *Pool) *Matrix {
	q := &Matrix{Format: I8Row, Rows: m.Rows, Cols: m.Cols, Data: make([]byte, m.Rows*m.Cols), RowScales: make([]float32, m.Rows)}
	bufs := make([][]float32, p.Threads())
	p.For(m.Rows, 64, func(w, lo, hi int) {
		if bufs[w] == nil {
			bufs[w] = make([]float32, m.Cols)
		}
		row := bufs[w]
		for r := lo; r < hi; r++ {
			m.RowF32(row, r)
			var amax float32
			for _, v := range row {
				amax = max(amax, abs32(v))
			}
			scale := amax / 127
			inv := float32(0)
			if scale != 0 {
				inv = 1 / scale
			}
			dst := i8s(q.Data[r*m.Cols : (r+1)*m.Cols])
			for k, v := range row {
				dst[k] = int8(asm.NearestInt(v * inv))
			}
			q.RowScales[r] = scale
		}
	})
	return q
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

// Scratch holds the quantized activations of a MatMul and the job the
// workers run; reused across calls so that a MatMul allocates nothing once
// the buffers have grown to size.
type Scratch struct {
	i8     []int8
	scales []float32
	sums   []int32
	raw    []int32
	q8k    []asm.BlockQ8K
	bytes  []byte
	u16    []uint16
	f32    []float32

	job   matmulJob
	jobFn func(w, lo, hi int)

	// the activations QuantizeI8 reads for a batch, split over tokens
	qx      []float32
	qcols   int
	quantFn func(w, lo, hi int)
}

// quantRun quantizes tokens [lo, hi) of s.qx to int8 (per token, so the
// result does not depend on the split).
func (s *Scratch) quantRun(_, lo, hi int) {
	c := s.qcols
	for t := lo; t < hi; t++ {
		s.scales[t], s.sums[t] = asm.QuantizeI8(s.i8[t*c:(t+1)*c], s.qx[t*c:(t+1)*c])
	}
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// maxGroup is the most matrices one MatMulGroup call multiplies.
const maxGroup = 3

// matmulJob is one MatMulGroup call, split over the concatenated rows of its
// matrices by the pool.
type matmulJob struct {
	nm     int // matrices in the group
	ms     [maxGroup]*Matrix
	ys     [maxGroup][]float32
	raws   [maxGroup][]int32 // I2S/I8Row: integer dots, n×Rows each
	starts [maxGroup + 1]int // first concatenated row of each matrix

	x  []float32
	xf []float32 // F16: the activations the weights multiply (x or its F16 rounding)
	n  int
	s  *Scratch

	// the matrix a tile works on
	m   *Matrix
	y   []float32
	raw []int32
}

// rowTile is the number of weight rows a worker multiplies with all tokens
// before moving on, so the tile stays in cache while the tokens stream by.
const rowTile = 32

// decodeGrain is the split granularity, in rows, of a one-token MatMul.
const decodeGrain = 16

// MatMul computes y[t·Rows + r] = W[r]·x[t·Cols:] for n tokens.
func (m *Matrix) MatMul(y, x []float32, n int, p *Pool, s *Scratch) {
	MatMulGroup([]*Matrix{m}, [][]float32{y}, x, n, p, s)
}

// MatMulGroup multiplies several matrices with the same input (q, k and v;
// gate and up) in one parallel loop: the input is quantized once and the
// workers meet once. Matrices of different formats or widths are multiplied
// one after the other. ys[i] receives the output of ms[i] as MatMul writes
// it.
func MatMulGroup(ms []*Matrix, ys [][]float32, x []float32, n int, p *Pool, s *Scratch) {
	matMulGroup(ms, ys, x, n, nil, p, s)
}

// matMulGroup is MatMulGroup where single[t] says whether token t follows
// the rounding rule of a one-token product (F16 weights: activations
// rounded to F16) instead of the batched one; nil means n == 1 for every
// token. Every other format computes each token's row the same way
// whatever n is, so row t equals the product of token t alone, bit for bit.
func matMulGroup(ms []*Matrix, ys [][]float32, x []float32, n int, single []bool, p *Pool, s *Scratch) {
	if len(ms) > maxGroup {
		matMulGroup(ms[maxGroup:], ys[maxGroup:], x, n, single, p, s)
		ms, ys = ms[:maxGroup], ys[:maxGroup]
	}
	for i := 1; i < len(ms); i++ {
		if ms[i].Format != ms[0].Format || ms[i].Cols != ms[0].Cols {
			for j := range ms {
				matMulGroup(ms[j:j+1], ys[j:j+1], x, n, single, p, s)
			}
			return
		}
	}
	if s.jobFn == nil {
		s.jobFn = s.job.run
	}
	j := &s.job
	*j = matmulJob{nm: len(ms), x: x, n: n, s: s}
	total := 0
	for i, m := range ms {
		j.ms[i], j.ys[i], j.starts[i] = m, ys[i], total
		total += m.Rows
	}
	j.starts[len(ms)] = total
	m0 := ms[0]
	cols := m0.Cols
	switch m0.Format {
	case I2S, I8Row:
		s.i8 = grow(s.i8, n*cols)
		s.scales = grow(s.scales, n)
		s.sums = grow(s.sums, n)
		// A batch's tokens are quantized in parallel: serial, this was
		// the largest part of a prompt step that did not scale with threads.
		if s.quantFn == nil {
			s.quantFn = s.quantRun
		}
		s.qx, s.qcols = x, cols
		if n > 1 {
			p.For(n, 1, s.quantFn)
		} else {
			s.quantRun(0, 0, 1)
		}
		s.qx = nil
		s.raw = grow(s.raw, n*total)
		off := 0
		for i, m := range ms {
			j.raws[i] = s.raw[off : off+n*m.Rows]
			off += n * m.Rows
		}
	case TQ1_0, TQ2_0, Q4_K, Q6_K:
		nb := cols / asm.QK_K
		s.q8k = grow(s.q8k, n*nb)
		for t := 0; t < n; t++ {
			asm.QuantizeQ8K(s.q8k[t*nb:(t+1)*nb], x[t*cols:(t+1)*cols])
		}
	case Q8_0:
		rb := m0.Format.RowBytes(cols)
		s.bytes = grow(s.bytes, n*rb)
		for t := 0; t < n; t++ {
			asm.QuantizeQ8_0Act(s.bytes[t*rb:(t+1)*rb], x[t*cols:(t+1)*cols])
		}
	case F16:
		// For a single token ggml converts the activations to F16 before the
		// F16 dot (vec_dot_f16); batches of several tokens go through
		// llamafile's sgemm, which multiplies the F16 weights with the f32
		// activations. Doing the same keeps both the prompt rows and the
		// decode rows within ~1e-6 of bitnet.cpp's logits. (single picks
		// the rule per token for a multi-sequence Batch.)
		j.xf = x
		if single == nil && n == 1 || single != nil && slices.Contains(single[:n], true) {
			s.f32 = grow(s.f32, n*cols)
			for t := range n {
				xt, ft := x[t*cols:(t+1)*cols], s.f32[t*cols:(t+1)*cols]
				if single == nil || single[t] {
					for i, v := range xt {
						ft[i] = asm.RoundF16(v)
					}
				} else {
					copy(ft, xt)
				}
			}
			j.xf = s.f32
		}
	case BF16:
		s.u16 = grow(s.u16, n*cols)
		for i, v := range x[:n*cols] {
			s.u16[i] = asm.F32ToBF16(v)
		}
	}
	// A decode step (one token) splits finer than the prompt tiles: tiles
	// only matter for reusing weights across tokens, and 16 rows (64 bytes
	// of output, one cache line) let 8-16 threads share q/k/v (3840 rows)
	// or Wo (2560) evenly: 240 and 160 chunks instead of 120 and 80.
	//
	// The rows are handed out by guided self-scheduling (par.ForGuided): a
	// worker that starts late or streams slower takes fewer rows instead of
	// holding the others at the end of every product. Every row is computed
	// the same way whoever takes it, so the split does not change results.
	grain := rowTile
	if n == 1 {
		grain = decodeGrain
	}
	p.ForGuided(total, grain, s.jobFn)
	*j = matmulJob{} // drop references to the caller's buffers
}

// run multiplies the concatenated rows [lo, hi) in tiles; tiles never span
// two matrices.
func (j *matmulJob) run(w, lo, hi int) {
	t := *j // a worker-local copy: tile sets the current matrix
	for i := 0; i < t.nm; i++ {
		a, b := max(lo, t.starts[i]), min(hi, t.starts[i+1])
		if a >= b {
			continue
		}
		t.m, t.y, t.raw = t.ms[i], t.ys[i], t.raws[i]
		base := t.starts[i]
		for r := a; r < b; r += rowTile {
			t.tile(w, r-base, min(b, r+rowTile)-base)
		}
	}
}

// tile multiplies rows [lo, hi) with every token.
func (j *matmulJob) tile(w, lo, hi int) {
	m, s, n, y, x := j.m, j.s, j.n, j.y, j.x
	rows, cols := m.Rows, m.Cols
	switch m.Format {
	case I2S:
		rb := cols / 4
		asm.I2SDotsN(j.raw[lo:(n-1)*rows+hi], rows, m.Data[lo*rb:hi*rb], s.i8[:n*cols], cols, n)
		for t := 0; t < n; t++ {
			asm.I2SOutputs(y[t*rows+lo:t*rows+hi], j.raw[t*rows+lo:t*rows+hi], s.sums[t], s.scales[t], m.Scale)
		}
	case I8Row:
		asmRows := i8s(m.Data[lo*cols : hi*cols])
		for t := 0; t < n; t++ {
			raw := j.raw[t*rows+lo : t*rows+hi]
			asm.I8Dots(raw, asmRows, s.i8[t*cols:(t+1)*cols])
			yt := y[t*rows+lo : t*rows+hi]
			for i, d := range raw {
				yt[i] = float32(d) / s.scales[t] * m.RowScales[lo+i]
			}
		}
	case TQ1_0, TQ2_0:
		// The ternary codes of each weight block are unpacked once for all
		// the tokens; every token's row equals its one-token product bit for
		// bit.
		nb := cols / asm.QK_K
		rb := m.Format.RowBytes(cols)
		dotsN := asm.TQ2DotsN
		if m.Format == TQ1_0 {
			dotsN = asm.TQ1DotsN
		}
		dotsN(y[lo:(n-1)*rows+hi], rows, m.Data[lo*rb:hi*rb], s.q8k[:n*nb], nb, n)
	case Q4_K, Q6_K:
		nb := cols / asm.QK_K
		rb := m.Format.RowBytes(cols)
		dots := asm.Q6KDots
		if m.Format == Q4_K {
			dots = asm.Q4KDots
		}
		for t := 0; t < n; t++ {
			dots(y[t*rows+lo:t*rows+hi], m.Data[lo*rb:hi*rb], s.q8k[t*nb:(t+1)*nb])
		}
	case Q8_0:
		rb := m.Format.RowBytes(cols)
		for t := 0; t < n; t++ {
			asm.Q8_0Dots(y[t*rows+lo:t*rows+hi], m.Data[lo*rb:hi*rb], s.bytes[t*rb:(t+1)*rb])
		}
	case F16:
		// Each weight is converted once for all the tokens; every token's
		// row equals its one-token product bit for bit.
		wAll := u16s(m.Data)
		asm.F16DotsN(y[lo:(n-1)*rows+hi], rows, wAll[lo*cols:hi*cols], j.xf[:n*cols], cols, n)
	case BF16:
		wAll := u16s(m.Data)
		for r := lo; r < hi; r++ {
			wr := wAll[r*cols : (r+1)*cols]
			for t := 0; t < n; t++ {
				y[t*rows+r] = asm.DotBF16(wr, s.u16[t*cols:(t+1)*cols])
			}
		}
	case F32:
		wAll := f32s(m.Data)
		for r := lo; r < hi; r++ {
			wr := wAll[r*cols : (r+1)*cols]
			for t := 0; t < n; t++ {
				y[t*rows+r] = asm.DotF32(wr, x[t*cols:(t+1)*cols])
			}
		}
	}
}
