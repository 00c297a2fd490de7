package train

import (
	"github.com/bitnet-go/bitnet/internal/atomicfile"

	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"
)

// Metrics is one line of metrics.jsonl.
type Metrics struct {
	Step      int      `json:"step"`
	Tokens    int64    `json:"tokens"`
	Epoch     float64  `json:"epoch"`
	TrainLoss float64  `json:"train_loss"`         // mean over the steps since the previous line
	ValLoss   *float64 `json:"val_loss,omitempty"` // nats/token, fake-quantized forward
	ValPPL    *float64 `json:"val_ppl,omitempty"`
	ValTokens int      `json:"val_tokens,omitempty"`
	LR        float64  `json:"lr"`
	WD        float64  `json:"wd"`
	GradNorm  float64  `json:"grad_norm"`
	WNeg      float64  `json:"w_neg"`  // share of ternary weights at −1
	WZero     float64  `json:"w_zero"` // … at 0
	WPos      float64  `json:"w_pos"`  // … at +1
	TokPerSec float64  `json:"tok_per_s"`
	Elapsed   float64  `json:"elapsed_s"` // training wall time so far
	Final     bool     `json:"final,omitempty"`
}

// ReadMetrics reads the metrics lines of a metrics.jsonl file (the
// records with a "kind", such as the weight statistics, are skipped).
func ReadMetrics(path string) ([]Metrics, error) {
	ms, _, err := readMetricsFile(path)
	return ms, err
}

// ReadWeightStats reads the weight-statistics records of a metrics.jsonl
// file.
func ReadWeightStats(path string) ([]WeightStats, error) {
	_, ws, err := readMetricsFile(path)
	return ws, err
}

// recordHead holds the fields every line of metrics.jsonl is sorted by.
type recordHead struct {
	Kind  string `json:"kind"` // "" for a metrics line
	Step  int    `json:"step"`
	Final bool   `json:"final"`
}

// readLines calls fn with each non-blank line of a metrics.jsonl file and
// its head.
func readLines(path string, fn func(line []byte, h recordHead) error) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for i, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var h recordHead
		if err := json.Unmarshal(line, &h); err != nil {
			return fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		if err := fn(line, h); err != nil {
			return fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
	}
	return nil
}

// readMetricsFile reads the metrics lines and the weight statistics of a
// metrics.jsonl file; records of other kinds are skipped.
func readMetricsFile(path string) ([]Metrics, []WeightStats, error) {
	var ms []Metrics
	var ws []WeightStats
	err := readLines(path, func(line []byte, h recordHead) error {
		switch h.Kind {
		case "":
			var m Metrics
			if err := json.Unmarshal(line, &m); err != nil {
				return err
			}
			ms = append(ms, m)
		case WeightStatsKind:
			var w WeightStats
			if err := json.Unmarshal(line, &w); err != nil {
				return err
			}
			ws = append(ws, w)
		}
		return nil
	})
	return ms, ws, err
}

// truncateMetrics drops the records past step (written after the
// checkpoint a resumed run starts from) and the final line, and returns
// the file opened for appending.
func truncateMetrics(path string, step int) (*os.File, error) {
	var buf bytes.Buffer
	err := readLines(path, func(line []byte, h recordHead) error {
		if h.Step <= step && !h.Final {
			buf.Write(bytes.TrimSpace(line))
			buf.WriteByte('\n')
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	if err := atomicfile.WriteFile(path, atomicfile.Mode, func(w io.Writer) error { _, err := w.Write(buf.Bytes()); return err }); err != nil {
		return nil, err
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
}

// progress draws a one-line progress bar on a terminal (or prints a plain
// line every few steps elsewhere).
type progress struct {
	w        io.Writer
	tty      bool
	total    int
	lastLine time.Time
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (p *progress) update(step int, tokPerSec, loss, lr float64, eta time.Duration, force bool) {
	if p.w == nil {
		return
	}
	frac := float64(step) / float64(p.total)
	if p.tty {
		const width = 24
		full := int(frac * width)
		bar := strings.Repeat("█", full) + strings.Repeat("░", width-full)
		fmt.Fprintf(p.w, "\r\033[Kstep %d/%d %s %5.1f%% | %6.0f tok/s | loss %.4f | lr %.2e | ETA %s",
			step, p.total, bar, 100*frac, tokPerSec, loss, lr, fmtDur(eta))
		return
	}
	if force || time.Since(p.lastLine) > 30*time.Second {
		p.lastLine = time.Now()
		fmt.Fprintf(p.w, "step %d/%d (%.1f%%) | %.0f tok/s | loss %.4f | lr %.2e | ETA %s\n",
			step, p.total, 100*frac, tokPerSec, loss, lr, fmtDur(eta))
	}
}

// println prints a message on its own line (ending the bar's line first).
func (p *progress) println(format string, args ...any) {
	if p.w == nil {
		return
	}
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}

func fmtDur(d time.Duration) string {
	if d < 0 || d > 1000*time.Hour {
		return "?"
	}
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%dh%02dm%02ds", h, m, s)
	}
	return fmt.Sprintf("%dm%02ds", m, s)
}

// PlotSVG draws the loss curves of a metrics.jsonl file as an SVG: training
// loss and validation loss (nats/token) against steps, with the learning
// rate on a second axis.
func PlotSVG(metricsPath, svgPath string) error {
	ms, err := ReadMetrics(metricsPath)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(svgPath, atomicfile.Mode, func(w io.Writer) error { return drawSVG(w, ms) })
}

func drawSVG(out io.Writer, ms []Metrics) error {
	const (
		W, H                   = 900, 520
		left, right, top, bott = 70, 80, 50, 60
	)
	pw, ph := float64(W-left-right), float64(H-top-bott)
	var train, val, lr [][2]float64
	valTokens := 0
	var final *[2]float64 // the final validation over every window
	maxStep := 1.0
	lo, hi := math.Inf(1), math.Inf(-1)
	maxLR := 0.0
	for _, m := range ms {
		x := float64(m.Step)
		maxStep = math.Max(maxStep, x)
		if !m.Final && m.TrainLoss > 0 {
			train = append(train, [2]float64{x, m.TrainLoss})
			lo, hi = math.Min(lo, m.TrainLoss), math.Max(hi, m.TrainLoss)
			lr = append(lr, [2]float64{x, m.LR})
			maxLR = math.Max(maxLR, m.LR)
		}
		if m.ValLoss != nil {
			if m.Final {
				final = &[2]float64{x, *m.ValLoss}
			} else {
				val = append(val, [2]float64{x, *m.ValLoss})
				valTokens = m.ValTokens
			}
			lo, hi = math.Min(lo, *m.ValLoss), math.Max(hi, *m.ValLoss)
		}
	}
	if math.IsInf(lo, 0) {
		lo, hi = 0, 1
	}
	if hi <= lo {
		hi = lo + 1
	}
	step := niceStep((hi - lo) / 8)
	lo = math.Floor(lo/step) * step
	hi = math.Ceil(hi/step) * step
	if maxLR == 0 {
		maxLR = 1
	}
	px := func(x float64) float64 { return float64(left) + pw*x/maxStep }
	py := func(y float64) float64 { return float64(top) + ph*(hi-y)/(hi-lo) }
	pyLR := func(y float64) float64 { return float64(top) + ph*(1-y/maxLR) }
	var b strings.Builder
	svgOpen(&b, W, H)
	fmt.Fprintf(&b, `<text x="%d" y="28" font-size="16" font-weight="bold">BitNet b1.58 training: loss (nats/token)</text>`+"\n", left)
	// Grid and axes.
	for y := math.Ceil(lo/step) * step; y <= hi+1e-9; y += step {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e5e5e5"/>`+"\n", left, py(y), W-right, py(y))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%.2f</text>`+"\n", left-6, py(y)+4, y)
	}
	xs := niceStep(maxStep / 10)
	for x := 0.0; x <= maxStep+1e-9; x += xs {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#f0f0f0"/>`+"\n", px(x), top, px(x), H-bott)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%g</text>`+"\n", px(x), H-bott+18, x)
	}
	for i := 0; i <= 4; i++ {
		v := maxLR * float64(i) / 4
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" fill="#999">%.1e</text>`+"\n", W-right+6, pyLR(v)+4, v)
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#333"/>`+"\n", left, top, pw, ph)
	fmt.Fprintf(&b, `<text x="%.0f" y="%d" text-anchor="middle">step</text>`+"\n", float64(left)+pw/2, H-18)
	fmt.Fprintf(&b, `<text transform="translate(18,%.0f) rotate(-90)" text-anchor="middle">loss</text>`+"\n", float64(top)+ph/2)
	fmt.Fprintf(&b, `<text transform="translate(%d,%.0f) rotate(90)" text-anchor="middle" fill="#999">learning rate</text>`+"\n", W-12, float64(top)+ph/2)
	poly := func(pts [][2]float64, y func(float64) float64, style string) {
		polyline(&b, pts, px, y, style)
	}
	poly(lr, pyLR, `stroke="#bbb" stroke-dasharray="4 3"`)
	poly(train, py, `stroke="#1f77b4" stroke-width="1.5"`)
	poly(val, py, `stroke="#ff7f0e" stroke-width="2"`)
	for _, p := range val {
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="#ff7f0e"/>`+"\n", px(p[0]), py(p[1]))
	}
	if final != nil {
		x, y := px(final[0]), py(final[1])
		fmt.Fprintf(&b, `<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="#d62728"/>`+"\n", x, y-6, x+6, y, x, y+6, x-6, y)
	}
	// Legend.
	lx, ly := W-right-230, top+16
	legend := []struct{ color, dash, text string }{
		{"#1f77b4", "", "train loss"},
		{"#ff7f0e", "", "validation loss"},
		{"#bbb", "4 3", "learning rate (right axis)"},
	}
	if len(val) > 0 {
		legend[1].text = fmt.Sprintf("validation loss, %d tokens (last %.3f)", valTokens, val[len(val)-1][1])
	}
	if final != nil {
		legend = append(legend, struct{ color, dash, text string }{"#d62728", "", fmt.Sprintf("final validation, all windows: %.3f", final[1])})
	}
	for i, l := range legend {
		y := ly + 18*i
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2" stroke-dasharray="%s"/>`+"\n", lx, y, lx+24, y, l.color, l.dash)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", lx+30, y+4, l.text)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(out, b.String())
	return err
}

// svgOpen starts an SVG document of W × H pixels on a white background.
func svgOpen(b *strings.Builder, W, H int) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", W, H, W, H)
	fmt.Fprintf(b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
}

// polyline draws the points pts (data coordinates, mapped by px and py) as
// an open line with the given attributes; nothing for no points.
func polyline(b *strings.Builder, pts [][2]float64, px, py func(float64) float64, style string) {
	if len(pts) == 0 {
		return
	}
	b.WriteString(`<polyline fill="none" ` + style + ` points="`)
	for _, p := range pts {
		fmt.Fprintf(b, "%.1f,%.1f ", px(p[0]), py(p[1]))
	}
	b.WriteString("\"/>\n")
}

// niceStep rounds x up to 1, 2 or 5 times a power of ten.
func niceStep(x float64) float64 {
	if x <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

func newBufWriter(w io.Writer) *bufio.Writer { return bufio.NewWriter(w) }

// metricsWriter appends JSON lines.
type metricsWriter struct {
	f *os.File
	w *bufio.Writer
}

// write appends one record (a Metrics or a WeightStats).
func (m *metricsWriter) write(x any) error {
	b, err := json.Marshal(x)
	if err != nil {
		return err
	}
	m.w.Write(b)
	m.w.WriteByte('\n')
	return m.w.Flush()
}
