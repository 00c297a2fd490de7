package train

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"

	"github.com/bitnet-go/bitnet/internal/atomicfile"
	"github.com/bitnet-go/bitnet/layout"
)

// PlotRun redraws the pictures of run directory dir from its
// metrics.jsonl: loss.svg, and ternary.svg when the file holds weight
// statistics (per BitLinear matrix the share of 0 codes and the shares of
// −1 and +1 against steps, and the histogram of W/γ at the last record).
// It returns the paths written.
func PlotRun(dir string) ([]string, error) {
	metrics := filepath.Join(dir, MetricsFile)
	ms, ws, err := readMetricsFile(metrics)
	if err != nil {
		return nil, err
	}
	lossPath := filepath.Join(dir, PlotFile)
	if err := atomicfile.WriteFile(lossPath, atomicfile.Mode, func(w io.Writer) error { return drawSVG(w, ms) }); err != nil {
		return nil, err
	}
	written := []string{lossPath}
	if len(ws) > 0 {
		p := filepath.Join(dir, WeightsPlotFile)
		if err := atomicfile.WriteFile(p, atomicfile.Mode, func(w io.Writer) error { return drawWeightsSVG(w, ws) }); err != nil {
			return written, err
		}
		written = append(written, p)
	}
	return written, nil
}

// matrixColors colour the lines of each kind of BitLinear matrix.
var matrixColors = map[string]string{
	layout.AttnQ: "#1f77b4", layout.AttnK: "#ff7f0e", layout.AttnV: "#2ca02c", layout.AttnOutput: "#d62728",
	layout.FFNGate: "#9467bd", layout.FFNUp: "#8c564b", layout.FFNDown: "#e377c2",
}

// matrixKind is the kind of a BitLinear tensor name: attn_q in
// blk.0.attn_q.weight.
func matrixKind(name string) string {
	parts := strings.Split(name, ".")
	if len(parts) == 4 {
		return parts[2]
	}
	return name
}

// panel is one plot area of an SVG: data (x0..x1, y0..y1) mapped onto the
// pixels (left, top, width, height).
type panel struct {
	left, top, width, height float64
	x0, x1, y0, y1           float64
}

func (p panel) px(x float64) float64 { return p.left + p.width*(x-p.x0)/(p.x1-p.x0) }
func (p panel) py(y float64) float64 { return p.top + p.height*(p.y1-y)/(p.y1-p.y0) }

// axes draws the frame, the grid with its labels (every xs and ys, at
// most maxGrid lines each way), a title above and the axis labels.
func (p panel) axes(b *strings.Builder, title, xlabel, ylabel string, xs, ys float64) {
	const maxGrid = 50
	decimals := min(9, max(0, int(math.Ceil(-math.Log10(ys)-1e-9))))
	for k, n := math.Ceil(p.y0/ys-1e-9), 0; k*ys <= p.y1+1e-9 && n < maxGrid; k, n = k+1, n+1 {
		y := k * ys
		fmt.Fprintf(b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#e5e5e5"/>`+"\n", p.left, p.py(y), p.left+p.width, p.py(y))
		fmt.Fprintf(b, `<text x="%.0f" y="%.1f" text-anchor="end">%.*f</text>`+"\n", p.left-6, p.py(y)+4, decimals, y+0)
	}
	for k, n := math.Ceil(p.x0/xs-1e-9), 0; k*xs <= p.x1+1e-9 && n < maxGrid; k, n = k+1, n+1 {
		x := k*xs + 0 // no "-0"
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#f0f0f0"/>`+"\n", p.px(x), p.top, p.px(x), p.top+p.height)
		fmt.Fprintf(b, `<text x="%.1f" y="%.0f" text-anchor="middle">%g</text>`+"\n", p.px(x), p.top+p.height+16, x)
	}
	fmt.Fprintf(b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="#333"/>`+"\n", p.left, p.top, p.width, p.height)
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f" font-weight="bold">%s</text>`+"\n", p.left, p.top-8, title)
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f" text-anchor="middle">%s</text>`+"\n", p.left+p.width/2, p.top+p.height+32, xlabel)
	fmt.Fprintf(b, `<text transform="translate(%.0f,%.0f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", p.left-52, p.top+p.height/2, ylabel)
}

// shareRange is a y range with a nice grid step around the values.
func shareRange(lo, hi float64) (y0, y1, step float64) {
	if math.IsInf(lo, 0) || hi <= lo {
		lo, hi = lo-0.05, lo+0.05
		if math.IsInf(lo, 0) {
			lo, hi = 0, 1
		}
	}
	step = niceStep((hi - lo) / 5)
	return math.Max(0, math.Floor(lo/step)*step), math.Min(1, math.Ceil(hi/step)*step), step
}

func drawWeightsSVG(out io.Writer, ws []WeightStats) error {
	const (
		W, H        = 900, 900
		left, right = 80, 40
	)
	var b strings.Builder
	svgOpen(&b, W, H)
	fmt.Fprintf(&b, `<text x="%d" y="28" font-size="16" font-weight="bold">BitNet b1.58 training: BitLinear weights (absmean ternary codes, per matrix)</text>`+"\n", left)
	// Legend: one colour per kind of matrix.
	for i, k := range layout.Ternary {
		x := left + i*112
		fmt.Fprintf(&b, `<line x1="%d" y1="48" x2="%d" y2="48" stroke="%s" stroke-width="3"/>`+"\n", x, x+20, matrixColors[k])
		fmt.Fprintf(&b, `<text x="%d" y="52">%s</text>`+"\n", x+26, k)
	}

	// One series of points per matrix, in the order of the last record.
	last := ws[len(ws)-1]
	maxStep := 1.0
	type series struct{ neg, zero, pos [][2]float64 }
	byName := map[string]*series{}
	zlo, zhi, plo, phi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, r := range ws {
		x := float64(r.Step)
		maxStep = math.Max(maxStep, x)
		for _, m := range r.Matrices {
			s := byName[m.Name]
			if s == nil {
				s = &series{}
				byName[m.Name] = s
			}
			s.neg = append(s.neg, [2]float64{x, m.Neg})
			s.zero = append(s.zero, [2]float64{x, m.Zero})
			s.pos = append(s.pos, [2]float64{x, m.Pos})
			zlo, zhi = math.Min(zlo, m.Zero), math.Max(zhi, m.Zero)
			plo, phi = math.Min(plo, math.Min(m.Neg, m.Pos)), math.Max(phi, math.Max(m.Neg, m.Pos))
		}
	}
	xs := niceStep(maxStep / 10)
	pw := float64(W - left - right)
	lines := func(p panel, pts func(*series) [][2]float64, dash string) {
		for _, m := range last.Matrices {
			s := byName[m.Name]
			style := fmt.Sprintf(`stroke="%s" stroke-width="1.2" stroke-opacity="0.8"%s`, matrixColors[matrixKind(m.Name)], dash)
			polyline(&b, pts(s), p.px, p.py, style)
			if len(ws) == 1 {
				for _, q := range pts(s) {
					fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>`+"\n", p.px(q[0]), p.py(q[1]), matrixColors[matrixKind(m.Name)])
				}
			}
		}
	}

	y0, y1, ys := shareRange(zlo, zhi)
	zp := panel{left: left, top: 90, width: pw, height: 200, x0: 0, x1: maxStep, y0: y0, y1: y1}
	zp.axes(&b, fmt.Sprintf("share of 0 codes (all BitLinear weights at step %d: %.4f)", last.Step, last.ZeroShare), "step", "share of 0", xs, ys)
	lines(zp, func(s *series) [][2]float64 { return s.zero }, "")

	y0, y1, ys = shareRange(plo, phi)
	sp := panel{left: left, top: 350, width: pw, height: 200, x0: 0, x1: maxStep, y0: y0, y1: y1}
	sp.axes(&b, fmt.Sprintf("shares of −1 (dashed) and +1 (solid) codes (at step %d: %.4f and %.4f)", last.Step, last.NegShare, last.PosShare),
		"step", "share", xs, ys)
	lines(sp, func(s *series) [][2]float64 { return s.neg }, ` stroke-dasharray="4 3"`)
	lines(sp, func(s *series) [][2]float64 { return s.pos }, "")

	drawHistogram(&b, panel{left: left, top: 610, width: pw, height: 220, x0: last.HistMin, x1: last.HistMax}, last)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(out, b.String())
	return err
}

// drawHistogram draws the histogram of W/γ of every BitLinear weight of
// record r as bars, each kind of matrix's as a step line, and the
// quantizer's thresholds ±0.5.
func drawHistogram(b *strings.Builder, p panel, r WeightStats) {
	bins := 0
	for _, m := range r.Matrices {
		bins = max(bins, len(m.Hist))
	}
	if bins == 0 || !(r.HistMax > r.HistMin) || math.IsInf(r.HistMax-r.HistMin, 0) {
		return
	}
	width := (r.HistMax - r.HistMin) / float64(bins)
	total := make([]float64, bins)
	kinds := map[string][]float64{}
	kindN := map[string]float64{}
	var n, under, over float64
	for _, m := range r.Matrices {
		k := matrixKind(m.Name)
		if kinds[k] == nil {
			kinds[k] = make([]float64, bins)
		}
		for i, c := range m.Hist {
			total[i] += float64(c)
			kinds[k][i] += float64(c)
		}
		size := float64(m.Rows * m.Cols)
		n += size
		kindN[k] += size
		under += float64(m.Under)
		over += float64(m.Over)
	}
	if !(n > 0) {
		return
	}
	hi := 0.0
	for i := range total {
		total[i] /= n
		hi = math.Max(hi, total[i])
	}
	for k, h := range kinds {
		for i := range h {
			h[i] /= kindN[k]
			hi = math.Max(hi, h[i])
		}
	}
	if !(hi > 0) || math.IsInf(hi, 0) {
		return
	}
	ys := niceStep(hi / 5)
	p.y0, p.y1 = 0, math.Max(ys, math.Ceil(hi/ys)*ys)
	p.axes(b, fmt.Sprintf("histogram of W/γ at step %d: all BitLinear weights (bars), each kind of matrix (lines); %.0f below %g, %.0f above %g",
		r.Step, under, r.HistMin, over, r.HistMax), "W / mean|W|  (codes: −1 below −0.5, 0 between, +1 above 0.5)", "share per bin", niceStep((r.HistMax-r.HistMin)/12), ys)
	for i, v := range total {
		x := r.HistMin + float64(i)*width
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#ccc" stroke="#999"/>`+"\n",
			p.px(x), p.py(v), p.px(x+width)-p.px(x), p.py(0)-p.py(v))
	}
	for _, k := range layout.Ternary {
		h := kinds[k]
		if h == nil {
			continue
		}
		var pts [][2]float64
		for i, v := range h {
			x := r.HistMin + float64(i)*width
			pts = append(pts, [2]float64{x, v}, [2]float64{x + width, v})
		}
		polyline(b, pts, p.px, p.py, fmt.Sprintf(`stroke="%s" stroke-width="1.2"`, matrixColors[k]))
	}
	for _, t := range []float64{-0.5, 0.5} {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#333" stroke-dasharray="5 4"/>`+"\n", p.px(t), p.top, p.px(t), p.top+p.height)
	}
}
