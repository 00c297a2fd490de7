package loader_test

import (
	"encoding/binary"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitnet-go/bitnet/asm/generic"
	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/internal/testutil"
	"github.com/bitnet-go/bitnet/layout"
	"github.com/bitnet-go/bitnet/runtime"
)

// convertF32 re-encodes F32 tensor data in another format.
func convertF32(t *testing.T, data []byte, typ gguf.Type) []byte {
	x := make([]float32, len(data)/4)
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
	}
	switch typ {
	case gguf.F16, gguf.BF16:
		out := make([]byte, 2*len(x))
		for i, v := range x {
			h := generic.F32ToF16(v)
			if typ == gguf.BF16 {
				h = generic.F32ToBF16(v)
			}
			binary.LittleEndian.PutUint16(out[2*i:], h)
		}
		return out
	case gguf.Q8_0:
		out := make([]byte, len(x)/generic.Q8_0Block*generic.Q8_0BlockBytes)
		generic.QuantizeQ8_0(out, x)
		return out
	}
	t.Fatalf("no conversion to %s", typ)
	return nil
}

// TestWeightFormats converts the F32 golden model's tensors to F16, BF16 and
// Q8_0 and checks that the logits stay close to the reference engine's F32
// logits: this exercises the embedding lookup and the matmul of every
// format on a real graph.
func TestWeightFormats(t *testing.T) {
	for _, name := range []string{"b158-s", "llama-s"} {
		t.Run(name, func(t *testing.T) { testWeightFormats(t, name) })
	}
}

// testWeightFormats runs TestWeightFormats on one F32 golden set (the llama
// graph: non-ternary llama files load when their formats are ones the
// runtime multiplies).
func testWeightFormats(t *testing.T, setDir string) {
	set := goldenSet{setDir, "f32", false}
	dir, g := readGolden(t, set)
	src := testutil.ModelFile(t, dir, g.ModelFile, g.ModelSHA)
	cases := []struct {
		name      string
		typ       gguf.Type
		all       bool // every 2-D tensor, not only token_embd
		meanLimit float64
	}{
		{"f16 everywhere", gguf.F16, true, 0.005},
		{"bf16 everywhere", gguf.BF16, true, 0.03},
		{"q8_0 everywhere", gguf.Q8_0, true, 0.08},
		{"q8_0 token_embd", gguf.Q8_0, false, 0.05},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := testutil.RewriteGGUF(t, src, func(w *gguf.Writer) {
				for i := range w.Tensors {
					wt := &w.Tensors[i]
					if len(wt.Dims) == 2 && (c.all || wt.Name == layout.TokenEmbd) && !strings.HasSuffix(wt.Name, "norm.weight") {
						wt.Data, wt.Type = convertF32(t, wt.Data, c.typ), c.typ
					}
				}
			})
			m, pool := loadModel(t, p, 2)
			V := m.Vocab
			var sum float64
			var n int
			for _, run := range g.Runs {
				gold := readF32(t, filepath.Join(dir, run.PromptLogits), V)
				st, _ := runtime.NewState(m.Model, 128, 128, pool)
				logits, err := st.Forward(run.PromptTokens, true)
				if err != nil {
					t.Fatal(err)
				}
				for r := range gold {
					s := compareRow(gold[r], logits[r*V:(r+1)*V])
					if !s.top1Same && s.margin > 0.5 {
						t.Errorf("%s row %d: top-1 differs with golden margin %.2f", run.PromptID, r, s.margin)
					}
					sum += s.meanDiff
					n++
				}
			}
			mean := sum / float64(n)
			t.Logf("mean |diff| against the F32 golden logits: %.4g", mean)
			if mean > c.meanLimit {
				t.Errorf("mean |diff| %.4g > %g", mean, c.meanLimit)
			}
		})
	}
}
