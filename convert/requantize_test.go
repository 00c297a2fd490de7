package convert

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"

	"github.com/bitnet-go/bitnet/asm/generic"
	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/internal/testutil"
	"github.com/bitnet-go/bitnet/loader"
	"github.com/bitnet-go/bitnet/quant"
	"github.com/bitnet-go/bitnet/runtime"
)

func goldenSet(t *testing.T, rel string) string {
	return testutil.Shared(t, "golden/"+rel, "requantization against the reference tools' files")
}

// llamaSF32 is the gunzipped F32 file of the llama-s golden set.
func llamaSF32(t *testing.T) string {
	dir := goldenSet(t, "llama-s")
	var g struct {
		SHA string `json:"model_sha256"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "f32.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return testutil.ModelFile(t, dir, "ggml-model-f32.gguf", g.SHA)
}

func requantize(t *testing.T, in string, o RequantizeOptions) (string, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.gguf")
	var log strings.Builder
	o.Progress = &log
	if err := Requantize(in, out, o); err != nil {
		t.Fatalf("Requantize(%s, %+v): %v", filepath.Base(in), o, err)
	}
	return out, log.String()
}

func tensorBytes(t *testing.T, f *gguf.File, name string) (*gguf.TensorInfo, []byte) {
	t.Helper()
	ti, ok := f.Tensor(name)
	if !ok {
		t.Fatalf("no tensor %q", name)
	}
	b, err := f.TensorData(ti)
	if err != nil {
		t.Fatal(err)
	}
	return ti, b
}

// equalUpToTail checks that a equals the prefix of b and that the rest of b
// is zero padding (our writer does not pad after the last tensor).
func equalUpToTail(t *testing.T, what string, a, b []byte) {
	t.Helper()
	if len(a) > len(b) || !bytes.Equal(a, b[:len(a)]) {
		n := min(len(a), len(b))
		i := 0
		for i < n && a[i] == b[i] {
			i++
		}
		t.Fatalf("%s: files differ at byte %d (sizes %d, %d)", what, i, len(a), len(b))
	}
	if bytes.ContainsFunc(b[len(a):], func(r rune) bool { return r != 0 }) {
		t.Fatalf("%s: non-zero bytes after the end", what)
	}
}

// The fork's own pipeline made llama-s's I2_S file from its F32 file with
// `llama-quantize … I2_S` (F16 head and embedding): requantizing the F32 file
// gives the same file, byte for byte.
func TestRequantizeLikeLlamaQuantize(t *testing.T) {
	out, log := requantize(t, llamaSF32(t), RequantizeOptions{Type: "i2_s", Head: "f16", Embd: "f16"})
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	refPath := filepath.Join(goldenSet(t, "llama-s"), "ggml-model-i2_s.gguf")
	want, err := os.ReadFile(refPath)
	if err != nil {
		t.Fatal(err)
	}
	// The fork's C quantizer writes the scale into the first 4 bytes of an
	// I2_S tensor's 32-byte tail and leaves the other 28 unwritten (they hold
	// stale buffer bytes in this file); we write zeros there, as the fork's
	// Python writer does. Everything else is compared.
	rf := open(t, refPath)
	masked := 0
	for i := range rf.Tensors {
		ti := &rf.Tensors[i]
		if ti.Type == gguf.I2_S {
			start := int(rf.DataOffset+ti.Offset) + int(ti.Elements()/4) + 4
			clear(want[start : start+28])
			masked++
		}
	}
	if masked != 28 {
		t.Fatalf("%d I2_S tensors in the reference file", masked)
	}
	equalUpToTail(t, "F32 → I2_S against the fork's llama-quantize", got, want)
	if !strings.Contains(log, "blk.0.attn_q.weight") || !strings.Contains(log, "f32 → i2_s") || !strings.Contains(log, "loads in bitnet.cpp: yes, upstream llama.cpp: no") {
		t.Errorf("progress log:\n%s", log)
	}
}

// bitnet-s has an I2_S file (the fork) and TQ1_0/TQ2_0 files (upstream's
// llama-quantize) of the same ternary weights: our I2_S → TQ conversion
// writes the ternary tensors byte for byte as upstream did, and back.
func TestRequantizeLikeUpstream(t *testing.T) {
	dir := goldenSet(t, "bitnet-s")
	i2s := filepath.Join(dir, "ggml-model-i2_s.gguf")
	for _, typ := range []string{"tq1_0", "tq2_0"} {
		t.Run(typ, func(t *testing.T) {
			out, log := requantize(t, i2s, RequantizeOptions{Type: typ})
			ours, up := open(t, out), open(t, filepath.Join(dir, "ggml-model-"+typ+".gguf"))
			n := 0
			for i := range ours.Tensors {
				name := ours.Tensors[i].Name
				if !isProjection(name) {
					continue
				}
				_, a := tensorBytes(t, ours, name)
				_, b := tensorBytes(t, up, name)
				if !bytes.Equal(a, b) {
					t.Fatalf("%s differs from upstream's %s", name, typ)
				}
				n++
			}
			if n != 28 {
				t.Fatalf("%d ternary tensors compared", n)
			}
			if !strings.Contains(log, "rounded to f16") {
				t.Errorf("the f16 rounding of the I2_S scales is not reported:\n%s", log)
			}
			// And back: upstream's TQ file → I2_S has the fork's codes, with
			// each scale the f16 rounding of the fork's.
			back, _ := requantize(t, filepath.Join(dir, "ggml-model-"+typ+".gguf"), RequantizeOptions{Type: "i2_s"})
			bf, orig := open(t, back), open(t, i2s)
			for i := range orig.Tensors {
				name := orig.Tensors[i].Name
				if !isProjection(name) {
					continue
				}
				ti, a := tensorBytes(t, bf, name)
				_, b := tensorBytes(t, orig, name)
				nq := ti.Elements() / 4
				if !bytes.Equal(a[:nq], b[:nq]) {
					t.Fatalf("%s: codes differ from the fork's", name)
				}
				g := generic.I2SScale(b, int(ti.Elements()))
				if got := generic.I2SScale(a, int(ti.Elements())); got != generic.RoundF16(g) {
					t.Fatalf("%s: scale %g, want f16(%g) = %g", name, got, g, generic.RoundF16(g))
				}
			}
		})
	}
}

// roundScalesToF16 rewrites an I2_S file with every tensor scale rounded to
// f16, the files whose I2_S ↔ TQ conversions are exact.
func roundScalesToF16(t *testing.T, src string) string {
	f := open(t, src)
	w := &gguf.Writer{KVs: f.KVs}
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		b, _ := f.TensorData(ti)
		b = append([]byte(nil), b...)
		if ti.Type == gguf.I2_S {
			n := int(ti.Elements())
			binary.LittleEndian.PutUint32(b[n/4:], math.Float32bits(generic.RoundF16(generic.I2SScale(b, n))))
		}
		w.AddTensor(ti.Name, ti.Type, ti.Dims, b)
	}
	p := filepath.Join(t.TempDir(), "f16scales.gguf")
	if err := w.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// I2_S → TQ2_0 → I2_S (and through TQ1_0) gives back the same file where the
// scales are f16 values; TQ1_0 ↔ TQ2_0 is always exact.
func TestRequantizeRoundTrip(t *testing.T) {
	src := roundScalesToF16(t, filepath.Join(testutil.RepoRoot(), "testdata", "tinystories-bitnet-i2_s.gguf"))
	orig, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, via := range []string{"tq2_0", "tq1_0"} {
		mid, log := requantize(t, src, RequantizeOptions{Type: via})
		if strings.Contains(log, "rounded") {
			t.Errorf("f16 scales reported as rounded:\n%s", log)
		}
		other := map[string]string{"tq2_0": "tq1_0", "tq1_0": "tq2_0"}[via]
		mid2, _ := requantize(t, mid, RequantizeOptions{Type: other})
		mid3, _ := requantize(t, mid2, RequantizeOptions{Type: via})
		a, _ := os.ReadFile(mid)
		b, _ := os.ReadFile(mid3)
		if !bytes.Equal(a, b) {
			t.Errorf("%s → %s → %s changed the file", via, other, via)
		}
		back, _ := requantize(t, mid, RequantizeOptions{Type: "i2_s"})
		got, err := os.ReadFile(back)
		if err != nil {
			t.Fatal(err)
		}
		equalUpToTail(t, "i2_s → "+via+" → i2_s", got, orig)
	}
}

// The converted files load in our runtime, and their logits stay close to the
// original's.
func TestRequantizedLogits(t *testing.T) {
	dir := goldenSet(t, "llama-s")
	src := filepath.Join(dir, "ggml-model-i2_s.gguf")
	base := logits(t, src)
	// The yardstick: how far the reference engine's own I2_S logits are from
	// its F32 logits on the same rows, i.e. the effect of one int8 rounding
	// of the activations (a flip of one int8 level moves a logit by about
	// this much on this random model).
	const V = 4096
	gf, gi := readRows(t, filepath.Join(dir, "f32.p1.prompt_logits.f32")), readRows(t, filepath.Join(dir, "i2_s.p1.prompt_logits.f32"))
	var noise float64
	for i := range base {
		noise += math.Abs(float64(gf[i] - gi[i]))
	}
	noise /= float64(len(base))
	for _, c := range []struct {
		o   RequantizeOptions
		max float64 // bound on the mean |Δlogit| over the prompt rows
	}{
		// Same codes; scales rounded to f16 (≤ 2⁻¹¹ relative); activations
		// quantized per 256 values (Q8_K) instead of per token: another,
		// independent int8 rounding of the same activations. The difference
		// of two independent roundings is about √2 times one (measured:
		// 1.07×).
		{RequantizeOptions{Type: "tq2_0"}, math.Sqrt2 * noise},
		{RequantizeOptions{Type: "tq1_0"}, math.Sqrt2 * noise},
		// The F16 head and embedding in Q8_0: each weight rounded by up to
		// half of its 32-block's max/127, the same relative step as the int8
		// activations, but the head's error goes straight into every logit:
		// 2× (measured 1.4×).
		{RequantizeOptions{Head: "q8_0", Embd: "q8_0"}, 2 * noise},
		// Q6_K: 6-bit values (steps of a 16-value sub-block's max/31, about
		// 4× coarser than Q8_0's per value, on groups half the size): 3×
		// (measured 1.9×; llama.cpp's own Q6_K embeddings cost 2B4T 0.2 %
		// perplexity, formats.md §3.4).
		{RequantizeOptions{Head: "q6_k", Embd: "q6_k"}, 3 * noise},
		// F16 → F32 is exact, and an F16 × f32 product in f32 is what the
		// fork computes for batches: the same bits.
		{RequantizeOptions{Head: "f32", Embd: "f32"}, 0},
	} {
		out, _ := requantize(t, src, c.o)
		got := logits(t, out)
		var sum float64
		for i := range got {
			sum += math.Abs(float64(got[i] - base[i]))
		}
		mean := sum / float64(len(got))
		t.Logf("%+v: mean |Δlogit| %.3g (int8 noise %.3g)", c.o, mean, noise)
		if mean > c.max {
			t.Errorf("%+v: mean |Δlogit| %.3g > %.3g", c.o, mean, c.max)
		}
	}
}

// readRows reads float32 logits.
func readRows(t *testing.T, path string) []float32 {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, len(b)/4)
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return x
}

func logits(t *testing.T, path string) []float32 {
	t.Helper()
	m, err := loader.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	pool := runtime.NewPool(2)
	defer pool.Close()
	st, err := runtime.NewState(m.Model, 64, 64, pool)
	if err != nil {
		t.Fatal(err)
	}
	toks := []int32{4080, 791, 4062, 293, 654, 77, 282, 78, 87, 503, 1538, 82, 927, 279, 1208, 89}
	out, err := st.Forward(toks, true)
	if err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), out...)
}

// Renaming bitnet-b1.58 to upstream's bitnet keeps the graph: the logits are
// the same bits.
func TestRequantizeArch(t *testing.T) {
	src := filepath.Join(testutil.RepoRoot(), "testdata", "tinystories-bitnet-i2_s.gguf")
	base := logits(t, src)
	out, log := requantize(t, src, RequantizeOptions{Arch: "bitnet"})
	f := open(t, out)
	if a, _ := f.GetString("general.architecture"); a != "bitnet" {
		t.Fatalf("architecture %q", a)
	}
	if act, _ := f.GetString("bitnet.hidden_activation"); act != "relu2" {
		t.Fatalf("hidden_activation %q", act)
	}
	if _, err := f.GetUint("bitnet.block_count"); err != nil {
		t.Fatal(err)
	}
	got := logits(t, out)
	for i := range got {
		if got[i] != base[i] {
			t.Fatalf("logit %d: %g, was %g", i, got[i], base[i])
		}
	}
	if !strings.Contains(log, "upstream llama.cpp: no") { // still I2_S
		t.Errorf("log:\n%s", log)
	}
	// I2_S → TQ2_0 under the name bitnet: a file upstream llama.cpp loads.
	out2, log2 := requantize(t, src, RequantizeOptions{Arch: "bitnet", Type: "tq2_0"})
	if !strings.Contains(log2, "loads in bitnet.cpp: yes, upstream llama.cpp: yes") {
		t.Errorf("log:\n%s", log2)
	}
	// And back to the fork's name.
	back, _ := requantize(t, out, RequantizeOptions{Arch: "bitnet-b1.58"})
	g := open(t, back)
	if a, _ := g.GetString("general.architecture"); a != "bitnet-b1.58" {
		t.Fatalf("architecture %q", a)
	}
	if _, ok := g.Get("bitnet-b1.58.hidden_activation"); ok {
		t.Error("hidden_activation kept under the fork's name")
	}
	_ = out2
}

func TestRequantizeErrors(t *testing.T) {
	bundled := filepath.Join(testutil.RepoRoot(), "testdata", "tinystories-bitnet-i2_s.gguf")
	dir := t.TempDir()
	// A TQ2_0 file whose blocks have two different scales.
	mixed := func() string {
		tq, _ := requantize(t, bundled, RequantizeOptions{Type: "tq2_0"})
		f := open(t, tq)
		w := &gguf.Writer{KVs: f.KVs}
		for i := range f.Tensors {
			ti := &f.Tensors[i]
			b, _ := f.TensorData(ti)
			b = append([]byte(nil), b...)
			if ti.Name == "blk.1.ffn_up.weight" {
				binary.LittleEndian.PutUint16(b[generic.TQ2_0BlockBytes*3-2:], generic.F32ToF16(0.5))
			}
			w.AddTensor(ti.Name, ti.Type, ti.Dims, b)
		}
		p := filepath.Join(dir, "mixed.gguf")
		if err := w.WriteFile(p); err != nil {
			t.Fatal(err)
		}
		return p
	}()
	// An F32 matrix that is not ternary.
	notTernary := func() string {
		f := open(t, bundled)
		w := &gguf.Writer{KVs: f.KVs}
		for i := range f.Tensors {
			ti := &f.Tensors[i]
			b, _ := f.TensorData(ti)
			if ti.Name == "blk.0.attn_k.weight" {
				b = make([]byte, 4*ti.Elements())
				binary.LittleEndian.PutUint32(b[0:], math.Float32bits(0.5))
				binary.LittleEndian.PutUint32(b[4:], math.Float32bits(0.25))
				w.AddTensor(ti.Name, gguf.F32, ti.Dims, b)
				continue
			}
			w.AddTensor(ti.Name, ti.Type, ti.Dims, b)
		}
		p := filepath.Join(dir, "f32k.gguf")
		if err := w.WriteFile(p); err != nil {
			t.Fatal(err)
		}
		return p
	}()
	for _, c := range []struct {
		name string
		in   string
		out  string
		o    RequantizeOptions
		want string
	}{
		{"bad type", bundled, "", RequantizeOptions{Type: "q4_0"}, `type "q4_0" is not a ternary format`},
		{"bad head", bundled, "", RequantizeOptions{Head: "q4_k"}, `Head type "q4_k" is not supported`},
		{"no output.weight", bundled, "", RequantizeOptions{Head: "f16"}, "no output.weight"},
		{"scales differ", mixed, "", RequantizeOptions{Type: "i2_s"}, `"blk.1.ffn_up.weight": its blocks have different scales`},
		{"not ternary", notTernary, "", RequantizeOptions{Type: "tq2_0"}, `"blk.0.attn_k.weight" is not ternary: value 0.25`},
		{"llama rename", bundled, "", RequantizeOptions{Arch: "llama"}, `cannot rename architecture "bitnet-b1.58" to "llama"`},
		{"same file", bundled, bundled, RequantizeOptions{Type: "tq2_0"}, "is the input file"},
		{"directory", bundled, dir, RequantizeOptions{}, dir},
		{"missing input", filepath.Join(dir, "nope.gguf"), "", RequantizeOptions{}, "nope.gguf"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := c.out
			if out == "" {
				out = filepath.Join(t.TempDir(), "out.gguf")
			}
			err := Requantize(c.in, out, c.o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if c.out == "" {
				if _, err := os.Stat(out); !os.IsNotExist(err) {
					t.Errorf("a failed requantization left %s", out)
				}
			}
		})
	}
}

// Requantize streams: converting bitnet-s (18 MB, a 32000-row embedding)
// allocates a small fraction of the file, whatever the conversions.
func TestRequantizeMemory(t *testing.T) {
	src := filepath.Join(goldenSet(t, "bitnet-s"), "ggml-model-i2_s.gguf")
	st, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out.gguf")
	var before, after goruntime.MemStats
	goruntime.GC()
	goruntime.ReadMemStats(&before)
	if err := Requantize(src, out, RequantizeOptions{Type: "tq2_0", Embd: "q6_k"}); err != nil {
		t.Fatal(err)
	}
	goruntime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d bytes in all for a %d-byte file", alloc, st.Size())
	if goruntime.GOOS == "linux" && alloc > uint64(st.Size())/4 {
		// (Without mmap the input is read whole.)
		t.Errorf("allocated %d bytes for a %d-byte input", alloc, st.Size())
	}
}

// A non-ternary llama file (every matrix Q6_K, as llama.cpp's k-quants
// write them) loads and runs with upstream's Q6_K × Q8_K numerics: its
// logits stay near the reference engine's F32 logits.
func TestQ6KLlamaRuns(t *testing.T) {
	src := llamaSF32(t)
	f := open(t, src)
	w := &gguf.Writer{KVs: f.KVs}
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		b, _ := f.TensorData(ti)
		if len(ti.Dims) == 2 {
			x := make([]float32, ti.Elements())
			for k := range x {
				x[k] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*k:]))
			}
			q := make([]byte, len(x)/generic.QK_K*generic.Q6_KBlockBytes)
			quant.QuantizeQ6K(q, x)
			w.AddTensor(ti.Name, gguf.Q6_K, ti.Dims, q)
			continue
		}
		w.AddTensor(ti.Name, ti.Type, ti.Dims, b)
	}
	p := filepath.Join(t.TempDir(), "q6k.gguf")
	if err := w.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	got := logits(t, p)
	gold := readRows(t, filepath.Join(goldenSet(t, "llama-s"), "f32.p1.prompt_logits.f32"))
	var sum float64
	for i := range got {
		sum += math.Abs(float64(got[i] - gold[i]))
	}
	mean := sum / float64(len(got))
	t.Logf("Q6_K everywhere: mean |Δlogit| %.3g against the F32 golden", mean)
	// loader's TestWeightFormats allows 0.08 for Q8_0 everywhere (Q8_0
	// activations); Q6_K weights are coarser, Q8_K activations finer.
	if mean > 0.08 {
		t.Errorf("mean |Δlogit| %.3g > 0.08", mean)
	}
}
