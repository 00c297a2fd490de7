package convert

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/bitnet-go/bitnet/asm"
	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/internal/atomicfile"
	"github.com/bitnet-go/bitnet/layout"
	"github.com/bitnet-go/bitnet/quant"
	"github.com/bitnet-go/bitnet/runtime"
)

// RequantizeOptions says what Requantize changes; the zero value copies the
// file.
type RequantizeOptions struct {
	// Type is the format of the ternary matrices (attn_q/k/v/output,
	// ffn_gate/up/down): "i2_s", "tq1_0", "tq2_0", or "" to keep each one's.
	Type string
	// Head and Embd are the formats of output.weight and token_embd.weight:
	// "f32", "f16", "q8_0", "q6_k", or "" to keep.
	Head, Embd string
	// Arch renames general.architecture (and its "<arch>." keys) to another
	// name of the same graph: bitnet-b1.58 ↔ bitnet-25 ↔ bitnet (upstream's
	// name; its relu2 activation is then declared in bitnet.hidden_activation).
	// "" keeps the name.
	Arch string
	// Progress, when not nil, receives a line per tensor, every lossy step
	// and, at the end, which engines load the result.
	Progress io.Writer
}

// Requantize rewrites the GGUF model at inPath into outPath with the
// ternary matrices, the head and the embedding in other formats (docs/FORMATS.md
// §4 lists the rules):
//
//   - I2_S ↔ TQ1_0 ↔ TQ2_0 keeps every ternary code. Scales are exact
//     between TQ1_0 and TQ2_0 (both f16 per 256 values). I2_S → TQ stores the
//     tensor scale γ as f16 in every block with a non-zero code (0 in blocks
//     of zeros), as llama-quantize would from the dequantized values: exact
//     when γ is an f16 value, else rounded (relative error ≤ 2⁻¹¹) and
//     reported. TQ → I2_S needs one scale for the tensor: it is exact when
//     every block with a non-zero code has the same scale, and refused
//     (naming the tensor and two blocks) otherwise.
//   - F32/F16/BF16 matrices become ternary only when they already are
//     (every value 0 or ±max|w|, as converters write {−γ, 0, γ}); others are
//     refused rather than rounded.
//   - The head and the embedding are dequantized and quantized with ggml's
//     reference quantizers (f16 rounding to nearest even, quantize_row_q8_0_ref,
//     quantize_row_q6_K_ref); a tensor already in the target type is copied.
//
// The output is written tensor by tensor (memory stays bounded by a few
// rows) to a temporary file that replaces outPath only when complete.
func Requantize(inPath, outPath string, o RequantizeOptions) error {
	tt, err := parseTernaryType(o.Type)
	if err != nil {
		return err
	}
	head, err := parseDenseType("Head", o.Head)
	if err != nil {
		return err
	}
	embd, err := parseDenseType("Embd", o.Embd)
	if err != nil {
		return err
	}
	if err := atomicfile.CheckDestination(outPath); err != nil {
		return err
	}
	if si, err := os.Stat(inPath); err == nil {
		if so, err := os.Stat(outPath); err == nil && os.SameFile(si, so) {
			return fmt.Errorf("requantize: %s is the input file; write to another path", outPath)
		}
	}
	f, err := gguf.Open(inPath)
	if err != nil {
		return err
	}
	defer f.Close()
	arch, err := f.GetString(layout.KeyArchitecture)
	if err != nil {
		return fmt.Errorf("%s: %w", inPath, err)
	}
	r := &requantizer{f: f, progress: o.Progress}
	w := &gguf.Writer{}
	newArch, drop, err := r.archKVs(w, arch, o.Arch)
	if err != nil {
		return fmt.Errorf("%s: %w", inPath, err)
	}
	if tt != 0 || head != 0 || embd != 0 {
		// As llama-quantize does (in this order).
		w.Set(layout.KeyQuantizationVersion, gguf.Uint32(layout.QuantizationVersion))
	}
	if tt != 0 {
		w.Set(layout.KeyFileType, gguf.Uint32(fileTypes[tt]))
	}
	if _, ok := f.Tensor(layout.Output); !ok && head != 0 {
		return fmt.Errorf("%s: Head %s: the file has no %s (its head is %s: set Embd)", inPath, o.Head, layout.Output, layout.TokenEmbd)
	}
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		if drop[ti.Name] {
			r.logf("  %-28s dropped (not read by the %s graph)", ti.Name, newArch)
			continue
		}
		wt, err := r.plan(ti, tt, head, embd)
		if err != nil {
			return fmt.Errorf("%s: %w", inPath, err)
		}
		w.Tensors = append(w.Tensors, wt)
	}
	out, err := atomicfile.Create(outPath, atomicfile.Mode)
	if err != nil {
		return err
	}
	defer out.Abort()
	if _, err := w.WriteTo(out); err != nil {
		return fmt.Errorf("writing %s: %w", outPath, err)
	}
	if err := out.Commit(); err != nil {
		return err
	}
	r.logf("%s: %s", outPath, engines(newArch, w.Tensors))
	return nil
}

// Target types of the options.
var ternaryTypes = map[string]gguf.Type{"i2_s": gguf.I2_S, "tq1_0": gguf.TQ1_0, "tq2_0": gguf.TQ2_0}

var denseTypes = map[string]gguf.Type{"f32": gguf.F32, "f16": gguf.F16, "q8_0": gguf.Q8_0, "q6_k": gguf.Q6_K}

func parseTernaryType(s string) (gguf.Type, error) {
	if s == "" {
		return 0, nil
	}
	if t, ok := ternaryTypes[strings.ToLower(s)]; ok {
		return t, nil
	}
	return 0, fmt.Errorf("requantize: type %q is not a ternary format (want i2_s, tq1_0 or tq2_0)", s)
}

func parseDenseType(what, s string) (gguf.Type, error) {
	if s == "" {
		return 0, nil
	}
	if t, ok := denseTypes[strings.ToLower(s)]; ok {
		return t, nil
	}
	return 0, fmt.Errorf("requantize: %s type %q is not supported (want f32, f16, q8_0 or q6_k)", what, s)
}

// isProjection reports whether name is one of the ternary matrices of a block.
func isProjection(name string) bool { return layout.TernaryBlockWeight(name) }

type requantizer struct {
	f        *gguf.File
	progress io.Writer
}

func (r *requantizer) logf(format string, args ...any) {
	if r.progress != nil {
		fmt.Fprintf(r.progress, format+"\n", args...)
	}
}

// hiddenAct is the bitnet arch's activation key (upstream's conversions of
// BitNetForCausalLM declare relu2 there).
var hiddenAct = layout.Key(layout.ArchBitNet, layout.HiddenActivation)

// sameGraph lists the architecture names that run one graph: a rename
// between them keeps the model's meaning.
var sameGraph = map[string]string{layout.ArchBitNetB158: "2b4t", layout.ArchBitNet25: "2b4t", layout.ArchBitNet: "2b4t-or-1bitllm"}

// archKVs copies the metadata into w, renaming the architecture when asked.
// It returns the new name and the tensors the new graph does not read.
func (r *requantizer) archKVs(w *gguf.Writer, arch, to string) (string, map[string]bool, error) {
	f := r.f
	if to == "" || to == arch {
		w.KVs = append(w.KVs, f.KVs...)
		return arch, nil, nil
	}
	if sameGraph[arch] == "" || sameGraph[to] == "" {
		return "", nil, fmt.Errorf("requantize: cannot rename architecture %q to %q: only bitnet-b1.58, bitnet-25 and bitnet share a graph", arch, to)
	}
	drop := map[string]bool{}
	switch {
	case arch == layout.ArchBitNet:
		// 1bitLLM files run SiLU; only a file that declares relu2 is a 2B4T.
		act, _ := f.GetString(hiddenAct)
		if act != "relu2" && act != "relu_squared" {
			return "", nil, fmt.Errorf("requantize: a bitnet file without %s = relu2 runs SiLU, which %s cannot express", hiddenAct, to)
		}
		for _, t := range f.Tensors {
			if strings.HasSuffix(t.Name, layout.ScaleSuffix) {
				return "", nil, fmt.Errorf("requantize: tensor %q: the %s graph has no %s tensors", t.Name, to, layout.ScaleSuffix)
			}
		}
	case to == layout.ArchBitNet:
		// Upstream's bitnet graph has no output.weight (neither graph
		// reads it) and refuses files with tensors it does not create.
		if _, ok := f.Tensor(layout.Output); ok {
			drop[layout.Output] = true
		}
	}
	for _, kv := range f.KVs {
		switch {
		case kv.Key == layout.KeyArchitecture:
			kv.Value = gguf.String(to)
		case kv.Key == hiddenAct:
			continue // set below for bitnet, dropped otherwise
		case strings.HasPrefix(kv.Key, layout.Key(arch, "")):
			kv.Key = layout.Key(to, strings.TrimPrefix(kv.Key, layout.Key(arch, "")))
		}
		w.KVs = append(w.KVs, kv)
	}
	if to == layout.ArchBitNet {
		w.Set(hiddenAct, gguf.String("relu2"))
		r.logf("architecture %s → bitnet, with bitnet.hidden_activation = relu2 (upstream llama.cpp runs SiLU where its activation table lacks relu2)", arch)
	} else {
		r.logf("architecture %s → %s", arch, to)
	}
	return to, drop, nil
}

// plan decides what becomes of one tensor and returns the writer entry that
// produces it.
func (r *requantizer) plan(ti *gguf.TensorInfo, tt, head, embd gguf.Type) (gguf.WriterTensor, error) {
	data, err := r.f.TensorData(ti)
	if err != nil {
		return gguf.WriterTensor{}, err
	}
	wt := gguf.WriterTensor{Name: ti.Name, Type: ti.Type, Dims: ti.Dims}
	copyData := func(w io.Writer) error { _, err := w.Write(data); return err }
	target := gguf.Type(0)
	switch {
	case isProjection(ti.Name) && tt != 0:
		target = tt
	case ti.Name == layout.Output && head != 0:
		target = head
	case ti.Name == layout.TokenEmbd && embd != 0:
		target = embd
	}
	if target == 0 || target == ti.Type {
		r.logf("  %-28s %s", ti.Name, ti.Type)
		wt.WriteData = copyData
		return wt, nil
	}
	if len(ti.Dims) != 2 {
		return wt, fmt.Errorf("tensor %q has dims %v, want a matrix", ti.Name, ti.Dims)
	}
	cols, rows := int(ti.Dims[0]), int(ti.Dims[1])
	wt.Type = target
	if _, err := gguf.TensorSize(target, ti.Dims); err != nil {
		return wt, fmt.Errorf("tensor %q: %s: %v", ti.Name, target, err)
	}
	if tt != 0 && target == tt {
		src, err := r.ternarySource(ti, data, rows, cols)
		if err != nil {
			return wt, err
		}
		if target != gguf.I2_S && cols%asm.QK_K != 0 {
			return wt, fmt.Errorf("tensor %q: rows of %d values are not a whole number of %s blocks (256)", ti.Name, cols, target)
		}
		if target == gguf.I2_S && cols%asm.I2SBlock != 0 {
			return wt, fmt.Errorf("tensor %q: rows of %d values are not a whole number of I2_S blocks (128)", ti.Name, cols)
		}
		note, write, err := src.writer(target)
		if err != nil {
			return wt, fmt.Errorf("tensor %q: %w", ti.Name, err)
		}
		r.logf("  %-28s %s → %s%s", ti.Name, ti.Type, target, note)
		wt.WriteData = write
		return wt, nil
	}
	fm, ok := runtimeFormats[ti.Type]
	if !ok || fm == runtime.I2S {
		return wt, fmt.Errorf("tensor %q: cannot convert type %s to %s", ti.Name, ti.Type, target)
	}
	m, err := runtime.NewMatrix(fm, rows, cols, data)
	if err != nil {
		return wt, fmt.Errorf("tensor %q: %w", ti.Name, err)
	}
	r.logf("  %-28s %s → %s", ti.Name, ti.Type, target)
	wt.WriteData = func(w io.Writer) error { return writeDense(w, m, target) }
	return wt, nil
}

var runtimeFormats = map[gguf.Type]runtime.Format{
	gguf.F32: runtime.F32, gguf.F16: runtime.F16, gguf.BF16: runtime.BF16, gguf.Q8_0: runtime.Q8_0,
	gguf.Q4_K: runtime.Q4_K, gguf.Q6_K: runtime.Q6_K, gguf.TQ1_0: runtime.TQ1_0, gguf.TQ2_0: runtime.TQ2_0,
	gguf.I2_S: runtime.I2S,
}

// writeDense dequantizes m row by row and writes each row in type t.
func writeDense(w io.Writer, m *runtime.Matrix, t gguf.Type) error {
	row := make([]float32, m.Cols)
	sz, err := gguf.TensorSize(t, []uint64{uint64(m.Cols)})
	if err != nil {
		return err
	}
	out := make([]byte, sz)
	for r := 0; r < m.Rows; r++ {
		m.RowF32(row, r)
		switch t {
		case gguf.F32:
			for i, v := range row {
				binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
			}
		case gguf.F16:
			for i, v := range row {
				binary.LittleEndian.PutUint16(out[2*i:], asm.F32ToF16(v))
			}
		case gguf.Q8_0:
			asm.QuantizeQ8_0(out, row)
		case gguf.Q6_K:
			quant.QuantizeQ6K(out, row)
		default:
			return fmt.Errorf("no quantizer for %s", t)
		}
		if _, err := w.Write(out); err != nil {
			return err
		}
	}
	return nil
}

// ternarySource reads the ternary codes (0, 1, 2 for −1, 0, +1) and scales of
// a matrix in any of the formats requantization converts from.
type ternarySource struct {
	name       string
	typ        gguf.Type
	data       []byte
	rows, cols int
	gamma      float32 // I2_S and float sources: the tensor scale
}

func (r *requantizer) ternarySource(ti *gguf.TensorInfo, data []byte, rows, cols int) (*ternarySource, error) {
	s := &ternarySource{name: ti.Name, typ: ti.Type, data: data, rows: rows, cols: cols}
	switch ti.Type {
	case gguf.I2_S:
		if cols%asm.I2SBlock != 0 {
			return nil, fmt.Errorf("tensor %q: I2_S rows of %d values are not a whole number of 128-value blocks", ti.Name, cols)
		}
		s.gamma = asm.I2SScale(data, rows*cols)
		// Code 3 is unused; the fork's kernels would read it as +2.
		for i, b := range data[:rows*cols/4] {
			if b&0xAA&(b<<1) != 0 {
				return nil, fmt.Errorf("tensor %q: byte %d holds the unused I2_S code 3: not ternary", ti.Name, i)
			}
		}
	case gguf.TQ1_0, gguf.TQ2_0:
		if cols%asm.QK_K != 0 {
			return nil, fmt.Errorf("tensor %q: %s rows of %d values", ti.Name, ti.Type, cols)
		}
	case gguf.F32, gguf.F16, gguf.BF16:
		// Exactly ternary: every value 0 or ±γ, γ = max|w|.
		m, err := runtime.NewMatrix(runtimeFormats[ti.Type], rows, cols, data)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", ti.Name, err)
		}
		row := make([]float32, cols)
		for pass := 0; pass < 2; pass++ {
			for rr := 0; rr < rows; rr++ {
				m.RowF32(row, rr)
				for k, v := range row {
					a := abs32(v)
					if pass == 0 {
						s.gamma = max(s.gamma, a)
					} else if a != 0 && a != s.gamma {
						return nil, fmt.Errorf("tensor %q is not ternary: value %g at row %d, column %d is neither 0 nor ±%g (quantize real-valued weights from the Hugging Face checkpoint instead)", ti.Name, v, rr, k, s.gamma)
					}
				}
			}
		}
		if math.IsNaN(float64(s.gamma)) || math.IsInf(float64(s.gamma), 0) {
			return nil, fmt.Errorf("tensor %q: scale %g is not finite", ti.Name, s.gamma)
		}
	default:
		return nil, fmt.Errorf("tensor %q has type %s: requantize converts I2_S, TQ1_0, TQ2_0 and exactly ternary F32/F16/BF16 matrices", ti.Name, ti.Type)
	}
	return s, nil
}

// block reads the codes and the f16 scale of 256-value block b of row rr of
// a TQ source, as (codes, d) with value = (code − 1)·d. A TQ2_0 code 3 (+2d)
// is not ternary.
func (s *ternarySource) tqBlock(codes *[asm.QK_K]int8, rr, b int) (uint16, error) {
	bs := asm.TQ2_0BlockBytes
	if s.typ == gguf.TQ1_0 {
		bs = asm.TQ1_0BlockBytes
	}
	rb := s.cols / asm.QK_K * bs
	blk := s.data[rr*rb+b*bs : rr*rb+(b+1)*bs]
	if s.typ == gguf.TQ1_0 {
		asm.TQ1Codes(codes, blk)
	} else {
		asm.TQ2Codes(codes, blk)
	}
	for k, c := range codes {
		if c > 2 {
			return 0, fmt.Errorf("block %d of row %d holds code %d at %d: not ternary", b, rr, c, k)
		}
	}
	return binary.LittleEndian.Uint16(blk[bs-2:]), nil
}

// rowCodes writes the codes of row rr (cols values) of an I2_S or float source.
func (s *ternarySource) rowCodes(codes []int8, rr int, row []float32, m *runtime.Matrix) {
	if s.typ == gguf.I2_S {
		rb := s.cols / 4
		r := s.data[rr*rb : (rr+1)*rb]
		for k := range codes {
			codes[k] = int8(asm.I2SCode(r, k))
		}
		return
	}
	m.RowF32(row, rr)
	for k, v := range row {
		switch {
		case v > 0:
			codes[k] = 2
		case v < 0:
			codes[k] = 0
		default:
			codes[k] = 1
		}
	}
}

// writer returns a note for the progress line and the function that writes
// the converted tensor.
func (s *ternarySource) writer(target gguf.Type) (string, func(io.Writer) error, error) {
	var m *runtime.Matrix
	if fm, ok := runtimeFormats[s.typ]; ok && (s.typ == gguf.F32 || s.typ == gguf.F16 || s.typ == gguf.BF16) {
		var err error
		if m, err = runtime.NewMatrix(fm, s.rows, s.cols, s.data); err != nil {
			return "", nil, err
		}
	}
	isTQ := s.typ == gguf.TQ1_0 || s.typ == gguf.TQ2_0
	nb := s.cols / asm.QK_K
	var codes [asm.QK_K]int8

	if target == gguf.I2_S {
		gamma := s.gamma
		if isTQ {
			// One scale must serve the whole tensor.
			var d uint16
			var dBlock, dRow int
			found := false
			for rr := 0; rr < s.rows; rr++ {
				for b := 0; b < nb; b++ {
					bd, err := s.tqBlock(&codes, rr, b)
					if err != nil {
						return "", nil, err
					}
					if !hasNonZero(&codes) || asm.F16ToF32(bd) == 0 {
						continue // all values 0 whatever the scale
					}
					if !found {
						d, dRow, dBlock, found = bd, rr, b, true
					} else if bd != d {
						return "", nil, fmt.Errorf("its blocks have different scales (%g in row %d block %d, %g in row %d block %d), and I2_S has one scale per tensor: keep it in TQ or requantize from the F32/HF weights", asm.F16ToF32(d), dRow, dBlock, asm.F16ToF32(bd), rr, b)
					}
				}
			}
			if found {
				gamma = asm.F16ToF32(d)
			}
			if math.IsNaN(float64(gamma)) || math.IsInf(float64(gamma), 0) {
				return "", nil, fmt.Errorf("scale %g is not finite", gamma)
			}
		}
		flip := gamma < 0 // value (c−1)·d with d < 0: store 2−c and |d|
		gamma = abs32(gamma)
		return "", func(w io.Writer) error {
			rowCodes := make([]int8, s.cols)
			vals := make([]int8, s.cols)
			row := make([]float32, s.cols)
			out := make([]byte, s.cols/4)
			for rr := 0; rr < s.rows; rr++ {
				if isTQ {
					for b := 0; b < nb; b++ {
						bd, err := s.tqBlock(&codes, rr, b)
						if err != nil {
							return err
						}
						zero := asm.F16ToF32(bd) == 0
						for k, c := range codes {
							if zero {
								c = 1
							}
							rowCodes[b*asm.QK_K+k] = c
						}
					}
				} else {
					s.rowCodes(rowCodes, rr, row, m)
				}
				for k, c := range rowCodes {
					vals[k] = c - 1
					if flip {
						vals[k] = 1 - c
					}
				}
				if err := layout.PackI2S(out, vals); err != nil {
					return err
				}
				if _, err := w.Write(out); err != nil {
					return err
				}
			}
			tail := layout.I2STail(gamma)
			_, err := w.Write(tail[:])
			return err
		}, nil
	}

	// TQ1_0 / TQ2_0 targets: one f16 scale per 256 values.
	note := ""
	if !isTQ {
		// ggml's quantizer from the values: d = max|x| of the block, which
		// is γ where the block has a non-zero value and 0 elsewhere.
		if h := asm.F32ToF16(s.gamma); asm.F16ToF32(h) != s.gamma {
			note = fmt.Sprintf(" (scale %g rounded to f16 %g, relative error %.2g)", s.gamma, asm.F16ToF32(h), math.Abs(float64(asm.F16ToF32(h)-s.gamma))/float64(s.gamma))
		}
	}
	pack, bs := quant.PackTQ2, asm.TQ2_0BlockBytes
	if target == gguf.TQ1_0 {
		pack, bs = quant.PackTQ1, asm.TQ1_0BlockBytes
	}
	dGamma := asm.F32ToF16(s.gamma)
	return note, func(w io.Writer) error {
		rowCodes := make([]int8, s.cols)
		row := make([]float32, s.cols)
		out := make([]byte, nb*bs)
		for rr := 0; rr < s.rows; rr++ {
			if !isTQ {
				s.rowCodes(rowCodes, rr, row, m)
			}
			for b := 0; b < nb; b++ {
				var d uint16
				if isTQ {
					bd, err := s.tqBlock(&codes, rr, b)
					if err != nil {
						return err
					}
					d = bd
				} else {
					copy(codes[:], rowCodes[b*asm.QK_K:(b+1)*asm.QK_K])
					if hasNonZero(&codes) {
						d = dGamma
					}
				}
				pack(out[b*bs:(b+1)*bs], &codes, d)
			}
			if _, err := w.Write(out); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

func hasNonZero(codes *[asm.QK_K]int8) bool {
	for _, c := range codes {
		if c != 1 {
			return true
		}
	}
	return false
}

// engines says which engines load a file of this architecture and these
// tensor types (docs/FORMATS.md §2).
func engines(arch string, ts []gguf.WriterTensor) string {
	fork := arch == layout.ArchBitNetB158 || arch == layout.ArchBitNet25 || arch == layout.ArchBitNet || arch == layout.ArchLlama
	upstream := arch == layout.ArchBitNet || arch == layout.ArchLlama
	for _, t := range ts {
		switch t.Type {
		case gguf.I2_S, gguf.I8_S, gguf.TL1, gguf.TL2:
			upstream = false
		}
	}
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	return fmt.Sprintf("architecture %s; loads in bitnet.cpp: %s, upstream llama.cpp: %s", arch, yes(fork), yes(upstream))
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }
