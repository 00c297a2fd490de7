package main

import (
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/loader"
	"github.com/bitnet-go/bitnet/runtime"
	"github.com/bitnet-go/bitnet/train"
)

// MatrixStats describes one BitLinear weight matrix.
type MatrixStats struct {
	Name       string
	Format     runtime.Format
	Rows, Cols int
	Bytes      uint64
	// Share of -1, 0 and +1 weights: of the stored ternary values, or, for
	// a float matrix, after the trainer's absmean quantization
	// clamp(round(W/(mean|W|+1e-6)), -1, 1).
	Neg, Zero, Pos float64
	Ternary        bool // stored as ternary values (I2_S, TQ1_0, TQ2_0)
	// Hist counts W/(mean|W|+1e-6) of a float matrix in the bins
	// (-∞,-1.5) [-1.5,-0.5) [-0.5,0.5) [0.5,1.5) [1.5,∞).
	Hist [5]int64
}

func (s MatrixStats) bitsPerParam() float64 {
	return 8 * float64(s.Bytes) / float64(s.Rows*s.Cols)
}

func matrixStats(name string, m *runtime.Matrix, bytes uint64) MatrixStats {
	s := MatrixStats{Name: name, Format: m.Format, Rows: m.Rows, Cols: m.Cols, Bytes: bytes}
	s.Ternary = m.Format == runtime.I2S || m.Format == runtime.TQ1_0 || m.Format == runtime.TQ2_0
	n := m.Rows * m.Cols
	if !s.Ternary {
		// The trainer's quantizer and histogram (train.AbsmeanStats).
		w := make([]float32, n)
		for r := 0; r < m.Rows; r++ {
			m.RowF32(w[r*m.Cols:(r+1)*m.Cols], r)
		}
		ts := train.AbsmeanStats(name, m.Rows, m.Cols, w)
		s.Neg, s.Zero, s.Pos = ts.Neg, ts.Zero, ts.Pos
		prev := int64(0)
		for i, edge := range []float64{-1.5, -0.5, 0.5, 1.5, math.Inf(1)} {
			c := ts.CountBelow(edge)
			s.Hist[i], prev = c-prev, c
		}
		return s
	}
	row := make([]float32, m.Cols)
	var neg, zero, pos int64
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
	s.Neg, s.Zero, s.Pos = float64(neg)/float64(n), float64(zero)/float64(n), float64(pos)/float64(n)
	return s
}

// printStats prints the BitNet checks of a model file: per BitLinear matrix
// its format, bits per parameter and ternary shares (a weight histogram for
// float matrices), the totals, and whether any BitLinear has a bias.
func printStats(w io.Writer, f *gguf.File) error {
	fs := train.GGUFStats(f)
	noBias := func() {
		if err := fs.CheckNoBias(); err != nil {
			fmt.Fprintf(w, "no-bias check: FAILED, %v\n", err)
		} else {
			fmt.Fprintln(w, "no-bias check: ok (no bias tensor)")
		}
	}
	m, err := loader.FromFile(f)
	if err != nil {
		if len(fs.Biases) > 0 { // the loader refuses biases: still report the check
			noBias()
		}
		return err
	}
	names := []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}
	fmt.Fprintf(w, "%-24s %-6s %11s %7s %7s %7s %7s  %s\n", "matrix", "format", "shape", "bits/w", "-1", "0", "+1", "histogram of W/mean|W| (<-1.5, -1, 0, 1, >1.5)")
	var params float64
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
			params += k
			tneg += s.Neg * k
			tzero += s.Zero * k
			tpos += s.Pos * k
		}
	}
	fmt.Fprintf(w, "BitLinear: %d parameters, %.3f bits each; shares -1 %.4f, 0 %.4f, +1 %.4f\n", fs.TernaryParams, fs.BitsPerTernary(), tneg/params, tzero/params, tpos/params)
	fmt.Fprintf(w, "all tensors: %d parameters, %.3f bits each (embedding, norms and head included)\n", fs.Params, fs.BitsPerParam())
	noBias()
	return nil
}
