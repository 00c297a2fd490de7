package loader_test

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/internal/testutil"
	"github.com/bitnet-go/bitnet/loader"
)

var bundledModel = filepath.Join(testutil.RepoRoot(), "testdata", "tinystories-bitnet-i2_s.gguf")

func TestLoadBundled(t *testing.T) {
	m, err := loader.Load(bundledModel)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := m.Config
	if c.Arch != "bitnet-b1.58" || c.Dim != 256 || c.Layers != 4 || c.Heads != 4 || c.KVHeads != 2 ||
		c.HeadDim != 64 || c.FFN != 768 || c.Vocab != 4096 || c.RopeBase != 500000 || c.NormEps != 1e-5 {
		t.Fatalf("config %+v", c)
	}
	if m.Output != m.Embed {
		t.Error("output head is not tied to token_embd")
	}
	if s := m.Layers[0].Wq.Scale; !(s > 0) {
		t.Errorf("I2_S scale of blk.0.attn_q = %v", s)
	}
}

// rewrite copies the bundled model, letting edit change the metadata and
// tensors, and returns the new file's path.
func rewrite(t *testing.T, edit func(w *gguf.Writer)) string {
	t.Helper()
	return testutil.RewriteGGUF(t, bundledModel, edit)
}

func dropTensor(w *gguf.Writer, name string) {
	for i, t := range w.Tensors {
		if t.Name == name {
			w.Tensors = append(w.Tensors[:i], w.Tensors[i+1:]...)
			return
		}
	}
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name string
		edit func(w *gguf.Writer)
		want string
	}{
		{"unchanged", func(w *gguf.Writer) {}, ""},
		{"unknown arch", func(w *gguf.Writer) { w.Set("general.architecture", gguf.String("bitnet-3")) }, `unknown architecture "bitnet-3"`},
		{"missing tensor", func(w *gguf.Writer) { dropTensor(w, "blk.2.ffn_up.weight") }, `"blk.2.ffn_up.weight" is missing`},
		{"missing norm", func(w *gguf.Writer) { dropTensor(w, "output_norm.weight") }, `"output_norm.weight" is missing`},
		{"missing key", func(w *gguf.Writer) {
			for i, kv := range w.KVs {
				if kv.Key == "bitnet-b1.58.block_count" {
					w.KVs = append(w.KVs[:i], w.KVs[i+1:]...)
					break
				}
			}
		}, `"bitnet-b1.58.block_count" is missing`},
		{"wrong shape", func(w *gguf.Writer) {
			// A 768-row gate claims 512 rows (the data is cut to match).
			for i := range w.Tensors {
				if w.Tensors[i].Name == "blk.1.ffn_gate.weight" {
					w.Tensors[i].Dims = []uint64{256, 512}
					w.Tensors[i].Data = w.Tensors[i].Data[:256*512/4+32]
				}
			}
		}, `"blk.1.ffn_gate.weight" has shape [256 512], want [256 768]`},
		{"heads not dividing", func(w *gguf.Writer) { w.Set("bitnet-b1.58.attention.head_count_kv", gguf.Uint32(3)) }, "not a multiple"},
		{"wrong type", func(w *gguf.Writer) { w.Set("bitnet-b1.58.block_count", gguf.String("four")) }, `"bitnet-b1.58.block_count"`},
		// Issue 10: a missing or non-string architecture used to be reported
		// as an unknown tensor type (the I2_S ids were read as upstream's).
		{"no architecture", func(w *gguf.Writer) { dropKey(w, "general.architecture") }, `architecture: gguf: metadata key "general.architecture" is missing`},
		{"numeric architecture", func(w *gguf.Writer) { w.Set("general.architecture", gguf.Uint32(7)) }, `"general.architecture": uint32 is not a string`},
		// Issue 10: these produced garbage logits.
		{"nan rope base", func(w *gguf.Writer) { w.Set("bitnet-b1.58.rope.freq_base", gguf.Float32(float32(math.NaN()))) }, `"bitnet-b1.58.rope.freq_base" = NaN`},
		{"inf rope base", func(w *gguf.Writer) { w.Set("bitnet-b1.58.rope.freq_base", gguf.Float32(float32(math.Inf(1)))) }, `"bitnet-b1.58.rope.freq_base" = +Inf`},
		{"negative rope base", func(w *gguf.Writer) { w.Set("bitnet-b1.58.rope.freq_base", gguf.Float32(-10000)) }, `"bitnet-b1.58.rope.freq_base" = -10000`},
		{"zero rope base", func(w *gguf.Writer) { w.Set("bitnet-b1.58.rope.freq_base", gguf.Float32(0)) }, `"bitnet-b1.58.rope.freq_base" = 0`},
		{"f64 rope base beyond f32", func(w *gguf.Writer) {
			w.Set("bitnet-b1.58.rope.freq_base", gguf.Value{Type: gguf.TypeFloat64, V: 1e300})
		}, `"bitnet-b1.58.rope.freq_base" = 1e+300`},
		{"nan epsilon", func(w *gguf.Writer) {
			w.Set("bitnet-b1.58.attention.layer_norm_rms_epsilon", gguf.Float32(float32(math.NaN())))
		}, `"bitnet-b1.58.attention.layer_norm_rms_epsilon" = NaN`},
		{"negative epsilon", func(w *gguf.Writer) {
			w.Set("bitnet-b1.58.attention.layer_norm_rms_epsilon", gguf.Float32(-1e-5))
		}, `"bitnet-b1.58.attention.layer_norm_rms_epsilon" = -1e-05`},
		{"zero epsilon", func(w *gguf.Writer) { w.Set("bitnet-b1.58.attention.layer_norm_rms_epsilon", gguf.Float32(0)) }, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkLoad(t, rewrite(t, c.edit), c.want)
		})
	}
}

// checkLoad loads the model file p: without error when want is empty, else
// with an error containing want.
func checkLoad(t *testing.T, p, want string) {
	t.Helper()
	m, err := loader.Load(p)
	if err == nil {
		m.Close()
	}
	switch {
	case want == "" && err != nil:
		t.Fatal(err)
	case want != "" && err == nil:
		t.Fatalf("no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error %q does not contain %q", err, want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := loader.Load(filepath.Join(t.TempDir(), "nope.gguf"))
	if err == nil || !strings.Contains(err.Error(), "nope.gguf") {
		t.Fatalf("error %v does not name the file", err)
	}
}

func TestLoadForgedBlockCount(t *testing.T) {
	p := rewrite(t, func(w *gguf.Writer) { w.Set("bitnet-b1.58.block_count", gguf.Uint32(1<<24)) })
	_, err := loader.Load(p)
	if err == nil || !strings.Contains(err.Error(), "block_count is 16777216") {
		t.Fatalf("error %v", err)
	}
}
