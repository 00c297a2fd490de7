package train

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/layout"
)

func TestAbsmeanStats(t *testing.T) {
	// mean|W| = 1 exactly; W/γ is W up to the 1e-6: one value below the
	// histogram, one above, three codes −1, six 0, three +1.
	w := []float32{-3.25, -1.25, -0.625, -0.25, 0, 0.25, 0.375, 1, 1.5, 0.125, 3.25, -0.125}
	s := AbsmeanStats("blk.0.attn_q.weight", 3, 4, w)
	var codes [3]int64
	var n int64
	for _, v := range w {
		x := float64(v) / (float64(s.Gamma) + 1e-6)
		codes[int(max(-1, min(1, math.RoundToEven(x))))+1]++
		n++
	}
	if s.Neg != float64(codes[0])/12 || s.Zero != float64(codes[1])/12 || s.Pos != float64(codes[2])/12 {
		t.Errorf("shares %v %v %v, codes %v", s.Neg, s.Zero, s.Pos, codes)
	}
	if codes != [3]int64{3, 6, 3} || s.Gamma != 1 {
		t.Errorf("γ = %v, codes %v", s.Gamma, codes)
	}
	var total int64
	for _, h := range s.Hist {
		total += h
	}
	if len(s.Hist) != HistBins || total+s.Under+s.Over != n || s.Under != 1 || s.Over != 1 {
		t.Errorf("histogram %v under %d over %d", s.Hist, s.Under, s.Over)
	}
	// The middle four bins are the zeros; CountBelow adds whole bins.
	if z := s.CountBelow(0.5) - s.CountBelow(-0.5); z != codes[1] {
		t.Errorf("bins of [-0.5, 0.5) hold %d weights, %d round to 0", z, codes[1])
	}
	if got := []int64{s.CountBelow(HistMin), s.CountBelow(-1.5), s.CountBelow(HistMax), s.CountBelow(math.Inf(1)), s.CountBelow(math.NaN())}; !slices.Equal(got, []int64{1, 1, 11, 12, 1}) {
		t.Errorf("CountBelow: %v", got)
	}
}

func TestBiasCheck(t *testing.T) {
	if got := BiasTensors([]string{"blk.0.attn_q.bias", "token_embd.weight", "blk.1.ffn_up.weight", "output.bias"}); !slices.Equal(got, []string{"blk.0.attn_q.bias", "output.bias"}) {
		t.Errorf("BiasTensors: %q", got)
	}
	// A file with a BitLinear bias fails the export check, naming it.
	w := &gguf.Writer{}
	w.Set(layout.KeyArchitecture, gguf.String(exportArch))
	w.AddTensor("blk.0.attn_q.weight", gguf.F32, layout.Dims(2, 4), make([]byte, 32))
	w.AddTensor("blk.0.attn_q.bias", gguf.F32, []uint64{2}, make([]byte, 8))
	path := filepath.Join(t.TempDir(), "bias.gguf")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	es, err := exportStats(path, FormatF32)
	if err == nil || !strings.Contains(err.Error(), "blk.0.attn_q.bias") {
		t.Fatalf("export check of a file with a bias: %v", err)
	}
	if es.Params != 10 || es.Bytes != 40 || es.TernaryParams != 8 || es.BitsPerParam != 32 || es.BitsPerTernary != 32 {
		t.Errorf("stats %+v", es)
	}
}

// TestRunWeightStats trains a tiny I2_S-exportable model for 5 steps with
// weight statistics every 2 steps, and checks the records against the
// exported codes, ternary.svg and the export's bits per parameter.
func TestRunWeightStats(t *testing.T) {
	dir := t.TempDir()
	tr, va := writeCorpus(t, dir)
	rc := quickRun(filepath.Join(dir, "run"), tr, va)
	rc.Model = Config{Vocab: 258, Dim: 128, Layers: 1, Heads: 2, KVHeads: 1, FFN: 128, Ctx: 16, NormEps: 1e-5, RopeBase: 10000}
	rc.Options.Steps, rc.Options.Schedule.Steps, rc.Options.Batch, rc.Options.Micro = 5, 5, 2, 2
	rc.LogEvery, rc.ValEvery, rc.StatsEvery, rc.ValWindows = 1, 4, 2, 2
	rc.Formats = []Format{FormatI2S, FormatF32}
	res, err := Run(context.Background(), rc)
	if err != nil {
		t.Fatal(err)
	}
	metrics := filepath.Join(rc.OutDir, MetricsFile)
	ws, err := ReadWeightStats(metrics)
	if err != nil {
		t.Fatal(err)
	}
	if ms, err := ReadMetrics(metrics); err != nil || len(ms) != 6 { // steps 1-5 and the final line
		t.Fatalf("metrics lines: %d, %v", len(ms), err)
	}
	var steps []int
	for _, r := range ws {
		steps = append(steps, r.Step)
		if r.Kind != WeightStatsKind || len(r.Matrices) != 7 || r.HistMin != HistMin || r.HistMax != HistMax {
			t.Fatalf("record %+v", r)
		}
		for _, m := range r.Matrices {
			if s := m.Neg + m.Zero + m.Pos; math.Abs(s-1) > 1e-12 {
				t.Errorf("step %d %s: shares sum to %v", r.Step, m.Name, s)
			}
			n := m.Under + m.Over
			for _, h := range m.Hist {
				n += h
			}
			if len(m.Hist) != HistBins || n != int64(m.Rows*m.Cols) {
				t.Errorf("step %d %s: histogram counts %d weights of %d×%d", r.Step, m.Name, n, m.Rows, m.Cols)
			}
		}
	}
	if !slices.Equal(steps, []int{2, 4, 5}) {
		t.Fatalf("weight statistics at steps %v, want 2 4 5", steps)
	}

	// The last record describes the exported model: count its I2_S codes.
	f, err := gguf.Open(res.Exports[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	last := ws[len(ws)-1]
	for _, m := range last.Matrices {
		ti, ok := f.Tensor(m.Name)
		if !ok {
			t.Fatalf("%s is not in the export", m.Name)
		}
		data, err := f.TensorData(ti)
		if err != nil {
			t.Fatal(err)
		}
		n := m.Rows * m.Cols
		codes := make([]int8, n)
		layout.UnpackI2S(codes, data[:n/4])
		var count [3]int
		for _, c := range codes {
			count[c+1]++
		}
		scale, err := layout.I2SScale(data, n)
		if err != nil {
			t.Fatal(err)
		}
		got := [3]int{int(math.Round(m.Neg * float64(n))), int(math.Round(m.Zero * float64(n))), int(math.Round(m.Pos * float64(n)))}
		if got != count || scale != m.Gamma {
			t.Errorf("%s: record codes %v γ %v, export codes %v γ %v", m.Name, got, m.Gamma, count, scale)
		}
	}

	// ternary.svg is well-formed XML with a line per matrix and share.
	b, err := os.ReadFile(filepath.Join(rc.OutDir, WeightsPlotFile))
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(strings.NewReader(string(b)))
	polylines, rects := 0, 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("ternary.svg: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			polylines += b2i(se.Name.Local == "polyline")
			rects += b2i(se.Name.Local == "rect")
		}
	}
	// 3 share lines and a histogram line per matrix; a bar per bin, the
	// background and three frames.
	if polylines != 4*7 || rects != HistBins+4 {
		t.Errorf("ternary.svg: %d polylines, %d rects", polylines, rects)
	}

	// Bits per parameter: the I2_S file's tensor bytes, counted from the
	// shape: an F16 embedding, F32 norms, and 2 bits per ternary weight plus
	// the 32-byte scale block of each matrix.
	c := rc.Model
	var ternary, bitlinear int
	for _, rows := range [][2]int{{c.QDim(), c.Dim}, {c.KVDim(), c.Dim}, {c.KVDim(), c.Dim}, {c.Dim, c.QDim()}, {c.FFN, c.Dim}, {c.FFN, c.Dim}, {c.Dim, c.FFN}} {
		ternary += rows[0] * rows[1] / 4
		ternary += layout.I2STailBytes
		bitlinear += rows[0] * rows[1]
	}
	norms := 3*c.Dim + c.QDim() + c.FFN // attn, ffn, output norms; the two sub-norms
	wantBytes := uint64(2*c.Vocab*c.Dim + 4*norms + ternary)
	es := res.ExportStats[0]
	if es.Format != FormatI2S || es.Bytes != wantBytes || es.Params != uint64(c.Vocab*c.Dim+norms+bitlinear) ||
		es.TernaryParams != uint64(bitlinear) || es.BitsPerParam != 8*float64(wantBytes)/float64(es.Params) ||
		es.BitsPerTernary != 8*float64(ternary)/float64(bitlinear) || len(es.Biases) != 0 {
		t.Errorf("I2_S export stats %+v, want %d tensor bytes", es, wantBytes)
	}
	fi, err := os.Stat(res.Exports[0])
	if err != nil {
		t.Fatal(err)
	}
	if data := uint64(fi.Size()) - f.DataOffset; data < es.Bytes || data > es.Bytes+f.Alignment*uint64(len(f.Tensors)) {
		t.Errorf("data section of %d bytes for %d tensor bytes", data, es.Bytes)
	}
	if f32 := res.ExportStats[1]; f32.BitsPerTernary != 32 || f32.Format != FormatF32 {
		t.Errorf("F32 export stats %+v", f32)
	}
	// summary.json states them.
	var sum struct {
		Result RunResult `json:"result"`
	}
	sb, err := os.ReadFile(filepath.Join(rc.OutDir, SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(sb, &sum); err != nil || len(sum.Result.ExportStats) != 2 || sum.Result.ExportStats[0].BitsPerParam != es.BitsPerParam {
		t.Errorf("summary.json export stats %+v, %v", sum.Result.ExportStats, err)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// A resumed run keeps the weight statistics up to its checkpoint.
func TestTruncateKeepsWeightStats(t *testing.T) {
	path := filepath.Join(t.TempDir(), MetricsFile)
	lines := `{"step":1,"train_loss":5}
{"kind":"weights","step":1,"matrices":[]}
{"step":2,"train_loss":4}
{"kind":"weights","step":2,"matrices":[]}
{"kind":"other","step":2}
{"step":2,"train_loss":4,"final":true}
`
	if err := os.WriteFile(path, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := truncateMetrics(path, 1)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	ms, err := ReadMetrics(path)
	if err != nil || len(ms) != 1 || ms[0].Step != 1 {
		t.Errorf("metrics after truncation: %+v, %v", ms, err)
	}
	ws, err := ReadWeightStats(path)
	if err != nil || len(ws) != 1 || ws[0].Step != 1 {
		t.Errorf("weight statistics after truncation: %+v, %v", ws, err)
	}
}

// A negative StatsEvery writes no weight statistics and no ternary.svg.
func TestRunWithoutWeightStats(t *testing.T) {
	dir := t.TempDir()
	tr, va := writeCorpus(t, dir)
	rc := quickRun(filepath.Join(dir, "run"), tr, va)
	rc.Options.Steps, rc.Options.Schedule.Steps, rc.StatsEvery = 2, 2, -1
	if _, err := Run(context.Background(), rc); err != nil {
		t.Fatal(err)
	}
	ws, err := ReadWeightStats(filepath.Join(rc.OutDir, MetricsFile))
	if err != nil || len(ws) != 0 {
		t.Errorf("%d weight statistics records, %v", len(ws), err)
	}
	if _, err := os.Stat(filepath.Join(rc.OutDir, WeightsPlotFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ternary.svg: %v", err)
	}
}

// ternary.svg is drawn from a file anyone can edit: degenerate records
// draw a picture (well-formed, in bounded time), never a panic or a hang.
func TestDrawWeightsDegenerate(t *testing.T) {
	m := MatrixStats{Name: "blk.0.attn_q.weight", Rows: 0, Cols: 4, Neg: 1e300, Zero: -1e300, Hist: []int64{5, 1 << 60}, Under: -3}
	for _, r := range []WeightStats{
		{Step: 1},
		{Step: 2, HistMin: -3, HistMax: 3, Matrices: []MatrixStats{m}},
		{Step: -5, HistMin: 3, HistMax: 3, Matrices: []MatrixStats{m}},
		{Step: 1 << 40, HistMin: -1e308, HistMax: 1e308, Matrices: []MatrixStats{m, {Name: "x", Rows: 2, Cols: 2, Hist: []int64{4}}}},
	} {
		var b strings.Builder
		if err := drawWeightsSVG(&b, []WeightStats{r}); err != nil {
			t.Fatal(err)
		}
		d := xml.NewDecoder(strings.NewReader(b.String()))
		for {
			_, err := d.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("step %d: %v", r.Step, err)
			}
		}
		if b.Len() > 1<<20 {
			t.Errorf("step %d: %d bytes of SVG", r.Step, b.Len())
		}
	}
}
