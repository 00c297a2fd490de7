package train

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/layout"
)

// The weight statistics the paper's checklist asks for: per BitLinear
// matrix, the shares of the ternary codes and a histogram of the latent
// weights (written to metrics.jsonl every RunConfig.StatsEvery steps), and
// per GGUF file, the bits per parameter and the no-bias check (stated for
// every export). bitnet-dump --stats prints the same for any file.

// WeightStatsKind is the "kind" of the weight-statistics records of
// metrics.jsonl. The metrics lines have no "kind"; ReadMetrics skips the
// records that have one.
const WeightStatsKind = "weights"

// The histogram of W/(γ+1e-6): HistBins bins of width HistWidth from
// HistMin to HistMax, plus the counts below and above. The quantizer's
// thresholds ±0.5 and ±1.5 are bin edges, so the middle four bins hold the
// weights that round to 0.
const (
	HistBins  = 24
	HistMin   = -3.0
	HistMax   = 3.0
	HistWidth = (HistMax - HistMin) / HistBins
)

// MatrixStats are the statistics of one BitLinear weight matrix under the
// training quantizer (γ = mean|W|, W_q = clamp(round(W/(γ+1e-6)), −1, 1)).
type MatrixStats struct {
	Name  string  `json:"name"` // GGUF tensor name
	Rows  int     `json:"rows"`
	Cols  int     `json:"cols"`
	Gamma float32 `json:"gamma"` // mean|W|
	// Shares of the codes −1, 0 and +1.
	Neg  float64 `json:"neg"`
	Zero float64 `json:"zero"`
	Pos  float64 `json:"pos"`
	// Hist counts W/(γ+1e-6) in HistBins bins from HistMin; Under and Over
	// count the values below HistMin and at or above HistMax.
	Hist  []int64 `json:"hist"`
	Under int64   `json:"under"`
	Over  int64   `json:"over"`
}

// WeightStats is one weight-statistics record of metrics.jsonl: the
// statistics of every BitLinear matrix after a step.
type WeightStats struct {
	Kind      string        `json:"kind"` // WeightStatsKind
	Step      int           `json:"step"`
	HistMin   float64       `json:"hist_min"` // the histograms' range (HistMin, HistMax)
	HistMax   float64       `json:"hist_max"`
	Matrices  []MatrixStats `json:"matrices"` // in the model's order: per block q, k, v, o, gate, up, down
	NegShare  float64       `json:"neg"`      // shares over all BitLinear weights
	ZeroShare float64       `json:"zero"`
	PosShare  float64       `json:"pos"`
}

// AbsmeanStats returns the statistics of one weight matrix w (rows × cols,
// row-major) under the training quantizer (ternarize).
func AbsmeanStats(name string, rows, cols int, w []float32) MatrixStats {
	s := MatrixStats{Name: name, Rows: rows, Cols: cols, Hist: make([]int64, HistBins)}
	if len(w) == 0 {
		return s
	}
	var codes [3]int
	s.Gamma = ternarize(nil, nil, w, &codes)
	n := float64(len(w))
	s.Neg, s.Zero, s.Pos = float64(codes[0])/n, float64(codes[1])/n, float64(codes[2])/n
	den := s.Gamma + 1e-6 // the divisor ternarize rounds by
	for _, v := range w {
		x := float64(v / den)
		switch {
		case x < HistMin:
			s.Under++
		case x >= HistMax:
			s.Over++
		default:
			s.Hist[min(int((x-HistMin)/HistWidth), HistBins-1)]++
		}
	}
	return s
}

// CountBelow is the number of weights with W/(γ+1e-6) < x, for x a bin
// edge (HistMin + k·HistWidth); between edges it counts the whole bins
// below x.
func (s MatrixStats) CountBelow(x float64) int64 {
	c := s.Under
	if !(x > HistMin) { // NaN too
		return c
	}
	k := len(s.Hist)
	if x <= HistMax {
		k = min(k, int((x-HistMin)/HistWidth+1e-9))
	}
	for _, h := range s.Hist[:k] {
		c += h
	}
	if x > HistMax {
		c += s.Over
	}
	return c
}

// WeightStats returns the statistics of every BitLinear matrix of m as the
// record of step.
func (m *Model) WeightStats(step int) WeightStats {
	ws := WeightStats{Kind: WeightStatsKind, Step: step, HistMin: HistMin, HistMax: HistMax}
	var n, neg, zero, pos float64
	for i, t := range m.lay.Tensors {
		if t.Kind != kindTernary {
			continue
		}
		s := AbsmeanStats(t.Name, t.Rows, t.Cols, m.lay.view(m.W, i))
		k := float64(t.Size())
		n += k
		neg, zero, pos = neg+s.Neg*k, zero+s.Zero*k, pos+s.Pos*k
		ws.Matrices = append(ws.Matrices, s)
	}
	if n > 0 {
		ws.NegShare, ws.ZeroShare, ws.PosShare = neg/n, zero/n, pos/n
	}
	return ws
}

// FileStats are the size of a GGUF file's tensors per parameter and its
// no-bias check.
type FileStats struct {
	Params uint64 `json:"params"`       // elements of all tensors
	Bytes  uint64 `json:"tensor_bytes"` // bytes of all tensors' data
	// The BitLinear matrices (blk.N.{attn_q,…,ffn_down}.weight): their
	// elements and bytes, scales included.
	TernaryParams uint64 `json:"ternary_params"`
	TernaryBytes  uint64 `json:"ternary_bytes"`
	// Biases lists the bias tensors (BitNet has none).
	Biases []string `json:"bias_tensors,omitempty"`
}

// BitsPerParam is the tensor bits per parameter over all tensors
// (embedding, norms and head included).
func (s FileStats) BitsPerParam() float64 { return bitsPer(s.Bytes, s.Params) }

// BitsPerTernary is the bits per BitLinear weight, scales included.
func (s FileStats) BitsPerTernary() float64 { return bitsPer(s.TernaryBytes, s.TernaryParams) }

func bitsPer(bytes, n uint64) float64 {
	if n == 0 {
		return 0
	}
	return 8 * float64(bytes) / float64(n)
}

// CheckNoBias returns an error naming the bias tensors, if any.
func (s FileStats) CheckNoBias() error {
	if len(s.Biases) == 0 {
		return nil
	}
	return fmt.Errorf("%d bias tensors (BitLinear has none): %s", len(s.Biases), strings.Join(s.Biases, " "))
}

// GGUFStats counts the parameters and tensor bytes of a GGUF file, those of
// its BitLinear matrices, and its bias tensors, from the tensor table.
func GGUFStats(f *gguf.File) FileStats {
	var s FileStats
	names := make([]string, 0, len(f.Tensors))
	for i := range f.Tensors {
		t := &f.Tensors[i]
		s.Params += t.Elements()
		s.Bytes += t.Size
		if layout.TernaryBlockWeight(t.Name) {
			s.TernaryParams += t.Elements()
			s.TernaryBytes += t.Size
		}
		names = append(names, t.Name)
	}
	s.Biases = BiasTensors(names)
	return s
}

// BiasTensors lists, sorted, the names that are bias tensors (end in
// ".bias"); the loader refuses them, since BitLinear has no bias.
func BiasTensors(names []string) []string {
	var b []string
	for _, n := range names {
		if strings.HasSuffix(n, layout.BiasSuffix) {
			b = append(b, n)
		}
	}
	sort.Strings(b)
	return b
}

// ExportStats states what one export holds: FileStats of the written file.
type ExportStats struct {
	Path   string `json:"path"`
	Format Format `json:"format"`
	FileStats
	BitsPerParam   float64 `json:"bits_per_param"`
	BitsPerTernary float64 `json:"bits_per_ternary_weight"`
}

// exportStats reads back the export at path and checks that it has no
// bias tensor.
func exportStats(path string, format Format) (ExportStats, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return ExportStats{}, err
	}
	defer f.Close()
	fs := GGUFStats(f)
	es := ExportStats{Path: path, Format: format, FileStats: fs, BitsPerParam: fs.BitsPerParam(), BitsPerTernary: fs.BitsPerTernary()}
	if err := fs.CheckNoBias(); err != nil {
		return es, fmt.Errorf("export %s: no-bias check failed: %w", path, err)
	}
	if fs.TernaryParams == 0 {
		return es, errors.New("export " + path + ": no BitLinear matrix found")
	}
	return es, nil
}

// String is the sentence the run's log states for the export.
func (e ExportStats) String() string {
	return fmt.Sprintf("%s: %d tensor bytes for %d parameters = %.3f bits/parameter (embedding and norms included); BitLinear %.3f bits/weight (%d weights, scales included); no-bias check ok",
		e.Path, e.Bytes, e.Params, e.BitsPerParam, e.BitsPerTernary, e.TernaryParams)
}
