package loader_test

import (
	"encoding/binary"
	"encoding/json"

	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/bitnet-go/bitnet/internal/testutil"
	"github.com/bitnet-go/bitnet/loader"
	"github.com/bitnet-go/bitnet/runtime"
)

// goldenSet is one <fmt>.json of ../shared/testdata/golden.
type goldenSet struct {
	dir, name string
	quant     bool // logits come from an int8/Q8_K activation path
}

var goldenSets = []goldenSet{
	{"b158-s", "f32", false},
	{"b158-s", "i2_s", true},
	{"bitnet-s", "i2_s", true},
	{"bitnet-s", "upstream-tq1_0", true},
	{"bitnet-s", "upstream-tq2_0", true},
	{"trained-s", "i2_s", true},
	{"llama-s", "f32", false},
	{"llama-s", "i2_s", true},
}

type goldenJSON struct {
	ModelFile string `json:"model_file"`
	ModelSHA  string `json:"model_sha256"`
	Runs      []struct {
		PromptID        string  `json:"prompt_id"`
		Prompt          string  `json:"prompt"`
		PromptTokens    []int32 `json:"prompt_tokens"`
		GeneratedTokens []int32 `json:"generated_tokens"`
		PromptLogits    string  `json:"prompt_logits_file"`
		GenLogits       string  `json:"gen_logits_file"`
		GenShape        []int   `json:"gen_logits_shape"`
	} `json:"runs"`
	Perplexity struct {
		Cmd      string  `json:"cmd"`
		FinalPPL float64 `json:"final_ppl"`
	} `json:"perplexity"`
}

func readGolden(t testing.TB, set goldenSet) (string, *goldenJSON) {
	dir := testutil.Shared(t, filepath.Join("golden", set.dir), "logits of "+set.dir+"/"+set.name+" against the reference engine")
	b, err := os.ReadFile(filepath.Join(dir, set.name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var g goldenJSON
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return dir, &g
}

func readF32(t testing.TB, path string, cols int) [][]float32 {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := len(b) / 4 / cols
	rows := make([][]float32, n)
	for r := range rows {
		rows[r] = make([]float32, cols)
		for c := range rows[r] {
			rows[r][c] = math.Float32frombits(binary.LittleEndian.Uint32(b[(r*cols+c)*4:]))
		}
	}
	return rows
}

// rowStats compares one row of logits with the golden row.
type rowStats struct {
	maxDiff, meanDiff, kl float64
	top1Same              bool
	margin                float64 // golden top-1 minus top-2
}

func compareRow(gold, ours []float32) rowStats {
	var s rowStats
	for i := range gold {
		d := math.Abs(float64(gold[i] - ours[i]))
		s.maxDiff = math.Max(s.maxDiff, d)
		s.meanDiff += d
	}
	s.meanDiff /= float64(len(gold))
	pg, po := softmax64(gold), softmax64(ours)
	for i := range pg {
		if pg[i] > 0 {
			s.kl += pg[i] * (math.Log(pg[i]) - math.Log(math.Max(po[i], 1e-300)))
		}
	}
	g1, g2 := top2(gold)
	o1, _ := top2(ours)
	s.top1Same = g1 == o1
	s.margin = float64(gold[g1] - gold[g2])
	return s
}

func softmax64(x []float32) []float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, float64(v))
	}
	p := make([]float64, len(x))
	var sum float64
	for i, v := range x {
		p[i] = math.Exp(float64(v) - m)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}

func top2(x []float32) (int, int) {
	a, b := -1, -1
	for i, v := range x {
		if a < 0 || v > x[a] {
			a, b = i, a
		} else if b < 0 || v > x[b] {
			b = i
		}
	}
	return a, b
}

func argmax(x []float32) int32 { a, _ := top2(x); return int32(a) }

// loadModel loads the model file p and a pool of threads, both closed at
// the end of the test.
func loadModel(t *testing.T, p string, threads int) (*loader.Model, *runtime.Pool) {
	t.Helper()
	m, err := loader.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	pool := runtime.NewPool(threads)
	t.Cleanup(pool.Close)
	return m, pool
}

// TestGoldenLogits runs every golden set teacher-forced: the prompt in one
// batch, then the golden greedy tokens one at a time through the KV cache,
// and compares every row of logits with the reference engine's.
func TestGoldenLogits(t *testing.T) {
	for _, set := range goldenSets {
		t.Run(set.dir+"/"+set.name, func(t *testing.T) {
			dir, g := readGolden(t, set)
			m, pool := loadModel(t, testutil.ModelFile(t, dir, g.ModelFile, g.ModelSHA), 2)
			V := m.Vocab
			var worst rowStats
			var row0 float64
			var sumMean, sumKL float64
			var nRows int
			for _, run := range g.Runs {
				gold := append(readF32(t, filepath.Join(dir, run.PromptLogits), V), readF32(t, filepath.Join(dir, run.GenLogits), V)[1:]...)
				st, err := runtime.NewState(m.Model, 512, 512, pool)
				if err != nil {
					t.Fatal(err)
				}
				logits, err := st.Forward(run.PromptTokens, true)
				if err != nil {
					t.Fatal(err)
				}
				var ours [][]float32
				for r := range run.PromptTokens {
					ours = append(ours, append([]float32(nil), logits[r*V:(r+1)*V]...))
				}
				for _, tok := range run.GeneratedTokens[:len(run.GeneratedTokens)-1] {
					logits, err := st.Forward([]int32{tok}, false)
					if err != nil {
						t.Fatal(err)
					}
					ours = append(ours, append([]float32(nil), logits...))
				}
				if len(ours) != len(gold) {
					t.Fatalf("%s: %d rows of logits, golden has %d", run.PromptID, len(ours), len(gold))
				}
				for r := range gold {
					s := compareRow(gold[r], ours[r])
					if r == 0 {
						row0 = math.Max(row0, s.maxDiff)
					}
					if r == 0 && s.maxDiff > 5e-3 {
						t.Errorf("%s row 0 (BOS): max |diff| %.4g > 5e-3", run.PromptID, s.maxDiff)
					}
					if set.quant {
						if !s.top1Same && s.margin > 0.1 {
							t.Errorf("%s row %d: top-1 differs with golden margin %.3f", run.PromptID, r, s.margin)
						}
					} else if s.maxDiff > 1e-2 || s.meanDiff > 1e-3 {
						t.Errorf("%s row %d: max |diff| %.4g mean %.4g (want ≤ 1e-2, 1e-3)", run.PromptID, r, s.maxDiff, s.meanDiff)
					}
					worst.maxDiff = math.Max(worst.maxDiff, s.maxDiff)
					worst.meanDiff = math.Max(worst.meanDiff, s.meanDiff)
					sumMean += s.meanDiff
					sumKL += s.kl
					nRows++
				}
			}
			meanMean, meanKL := sumMean/float64(nRows), sumKL/float64(nRows)
			if set.quant && (meanMean > 0.05 || meanKL > 5e-3) {
				t.Errorf("mean |diff| %.4g (want ≤ 0.05), mean KL %.4g (want ≤ 5e-3)", meanMean, meanKL)
			}
			t.Logf("%d rows: row 0 max |diff| %.3g, max |diff| %.4g, worst row mean %.4g, mean |diff| %.4g, mean KL %.3g", nRows, row0, worst.maxDiff, worst.meanDiff, meanMean, meanKL)
		})
	}
}

// TestGoldenGreedy runs free greedy decoding and compares the ids with the
// golden ones up to the first step whose golden top-1/top-2 margin is small.
func TestGoldenGreedy(t *testing.T) {
	for _, set := range goldenSets {
		t.Run(set.dir+"/"+set.name, func(t *testing.T) {
			dir, g := readGolden(t, set)
			m, pool := loadModel(t, testutil.ModelFile(t, dir, g.ModelFile, g.ModelSHA), 1)
			minMargin := 0.25
			if !set.quant {
				minMargin = 0.05
			}
			for _, run := range g.Runs {
				gold := append(readF32(t, filepath.Join(dir, run.PromptLogits), m.Vocab)[len(run.PromptTokens)-1:], readF32(t, filepath.Join(dir, run.GenLogits), m.Vocab)[1:]...)
				st, _ := runtime.NewState(m.Model, 512, 512, pool)
				logits, err := st.Forward(run.PromptTokens, false)
				if err != nil {
					t.Fatal(err)
				}
				matched := 0
				for i, want := range run.GeneratedTokens {
					g1, g2 := top2(gold[i])
					if float64(gold[i][g1]-gold[i][g2]) < minMargin {
						break
					}
					got := argmax(logits)
					if got != want {
						t.Errorf("%s step %d: greedy token %d, golden %d", run.PromptID, i, got, want)
						break
					}
					matched++
					if logits, err = st.Forward([]int32{got}, false); err != nil {
						t.Fatal(err)
					}
				}
				t.Logf("%s: %d of %d greedy tokens compared and equal", run.PromptID, matched, len(run.GeneratedTokens))
			}
		})
	}
}
