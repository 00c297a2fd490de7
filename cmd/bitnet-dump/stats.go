package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/loader"
	"github.com/bitnet-go/bitnet/runtime"
)

// MatrixStats describes one BitLinear weight matrix.
type MatrixStats struct {
	Name       string
	Format     runtime.Format
	Rows, Cols int
	Bytes      uint64
	// Share of -1, 0 and +1 weights: of the stored ternary values, or, for
	// a float matrix, after the paper's absmean quantization
	// RoundClip(W/mean|W|, -1, 1).
	Neg, Zero, Pos float64
	Ternary        bool // stored as ternary values (I2_S, TQ1_0, TQ2_0)
	// Hist counts W/mean|W| of a float matrix in the bins
	// (-∞,-1.5) [-1.5,-0.5) [-0.5,0.5) [0.5,1.5) [1.5,∞).
	Hist [5]int64
}

func (s MatrixStats) bitsPerParam() float64 {
	return 8 * float64(s.Bytes) / float64(s.Rows*s.Cols)
}

func matrixStats(name string, m *runtime.Matrix, bytes uint64) MatrixStats {
	s := MatrixStats{Name: name, Format: m.Format, Rows: m.Rows, Cols: m.Cols, Bytes: bytes}
	s.Ternary = m.Format == runtime.I2S || m.Format == runtime.TQ1_0 || m.Format == runtime.TQ2_0
	row := make([]float32, m.Cols)
	var neg, zero, pos int64
	if s.Ternary {
		for r := 0; r < m.Rows; r++ {
			m.RowF32(row, r)
			for _, v := range row {
				switch {
				case v < 0:
					neg++
				case v > 0:
					pos++
				default:
					zero++
				}
			}
		}
	} else {
		var sum float64
		for r := 0; r < m.Rows; r++ {
			m.RowF32(row, r)
			for _, v := range row {
				sum += math.Abs(float64(v))
			}
		}
		gamma := sum / float64(m.Rows*m.Cols)
		for r := 0; r < m.Rows; r++ {
			m.RowF32(row, r)
			for _, v := range row {
				x := float64(v) / (gamma + 1e-5)
				switch {
				case x < -1.5:
					s.Hist[0]++
				case x < -0.5:
					s.Hist[1]++
				case x < 0.5:
					s.Hist[2]++
				case x < 1.5:
					s.Hist[3]++
				default:
					s.Hist[4]++
				}
				switch q := math.Max(-1, math.Min(1, math.RoundToEven(x))); {
				case q < 0:
					neg++
				case q > 0:
					pos++
				default:
					zero++
				}
			}
		}
	}
	n := float64(m.Rows * m.Cols)
	s.Neg, s.Zero, s.Pos = float64(neg)/n, float64(zero)/n, float64(pos)/n
	return s
}

// printStats prints the BitNet checks of a model file: per BitLinear matrix
// its format, bits per parameter and ternary shares (a weight histogram for
// float matrices), the totals, and whether any BitLinear has a bias.
func printStats(w io.Writer, f *gguf.File) error {
	m, err := loader.FromFile(f)
	if err != nil {
		return err
	}
	names := []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}
	fmt.Fprintf(w, "%-24s %-6s %11s %7s %7s %7s %7s  %s\n", "matrix", "format", "shape", "bits/w", "-1", "0", "+1", "histogram of W/mean|W| (<-1.5, -1, 0, 1, >1.5)")
	var params, bytes uint64
	var tneg, tzero, tpos float64
	for i, l := range m.Layers {
		for j, mat := range []*runtime.Matrix{l.Wq, l.Wk, l.Wv, l.Wo, l.Wgate, l.Wup, l.Wdown} {
			if mat == nil {
				continue
			}
			name := fmt.Sprintf("blk.%d.%s.weight", i, names[j])
			var size uint64
			if t, ok := f.Tensor(name); ok {
				size = t.Size
			}
			s := matrixStats(name, mat, size)
			hist := "(ternary)"
			if !s.Ternary {
				n := float64(s.Rows * s.Cols)
				var parts []string
				for _, c := range s.Hist {
					parts = append(parts, fmt.Sprintf("%.3f", float64(c)/n))
				}
				hist = strings.Join(parts, " ")
			}
			fmt.Fprintf(w, "%-24s %-6s %5d×%-5d %7.3f %7.4f %7.4f %7.4f  %s\n", s.Name, s.Format, s.Rows, s.Cols, s.bitsPerParam(), s.Neg, s.Zero, s.Pos, hist)
			k := float64(s.Rows * s.Cols)
			params += uint64(s.Rows * s.Cols)
			bytes += s.Bytes
			tneg += s.Neg * k
			tzero += s.Zero * k
			tpos += s.Pos * k
		}
	}
	var all, allBytes uint64
	for _, t := range f.Tensors {
		all += t.Elements()
		allBytes += t.Size
	}
	p := float64(params)
	fmt.Fprintf(w, "BitLinear: %d parameters, %.3f bits each; shares -1 %.4f, 0 %.4f, +1 %.4f\n", params, 8*float64(bytes)/p, tneg/p, tzero/p, tpos/p)
	fmt.Fprintf(w, "all tensors: %d parameters, %.3f bits each (embedding, norms and head included)\n", all, 8*float64(allBytes)/float64(all))
	var tensorNames []string
	for _, t := range f.Tensors {
		tensorNames = append(tensorNames, t.Name)
	}
	biases := biasTensors(tensorNames)
	if len(biases) == 0 {
		fmt.Fprintln(w, "no-bias check: ok (no bias tensor in any block)")
	} else {
		fmt.Fprintf(w, "no-bias check: FAILED, %d bias tensors: %s\n", len(biases), strings.Join(biases, " "))
	}
	return nil
}

// biasTensors lists the bias tensors of the blocks (BitNet has none).
func biasTensors(names []string) []string {
	var b []string
	for _, n := range names {
		if strings.HasPrefix(n, "blk.") && strings.HasSuffix(n, ".bias") {
			b = append(b, n)
		}
	}
	sort.Strings(b)
	return b
}
