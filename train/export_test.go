package train

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/bitnet-go/bitnet/asm/generic"
	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/internal/testutil"
	"github.com/bitnet-go/bitnet/loader"
	"github.com/bitnet-go/bitnet/loader/tokenizer"
	"github.com/bitnet-go/bitnet/runtime"
)

// exportConfig is the smallest shape all three formats accept (rows of 256).
var exportConfig = Config{Vocab: 512, Dim: 256, Layers: 2, Heads: 4, KVHeads: 2, FFN: 256, Ctx: 48, NormEps: 1e-5, RopeBase: 500000}

// trainedTiny returns a model that has taken a few steps on a synthetic
// stream, so that its weights and activations are not those of the init.
func trainedTiny(t *testing.T, c Config, steps int) *Trainer {
	t.Helper()
	m, err := NewModel(c, 11)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	stream := make([]int32, 4000)
	for i := range stream { // a learnable pattern: mostly "next = prev+1"
		if i > 0 && r.IntN(4) > 0 {
			stream[i] = (stream[i-1] + 1) % int32(c.Vocab)
		} else {
			stream[i] = int32(r.IntN(c.Vocab))
		}
	}
	s, err := NewBatchSampler(stream, c.Ctx, 1, SamplePacked, 5, func(int32) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions(steps)
	o.Batch, o.Micro, o.Schedule.Warmup, o.Schedule.Peak = 4, 2, 2, 1e-2
	tr, err := NewTrainer(m, o, s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	for i := 0; i < steps; i++ {
		tr.Step()
	}
	return tr
}

func runtimeLogits(t *testing.T, path string, tokens []int32) ([]float32, *loader.Model) {
	t.Helper()
	lm, err := loader.Load(path)
	if err != nil {
		t.Fatalf("loader.Load(%s): %v", path, err)
	}
	t.Cleanup(func() { lm.Close() })
	pool := runtime.NewPool(2)
	t.Cleanup(pool.Close)
	st, err := runtime.NewState(lm.Model, len(tokens), len(tokens), pool)
	if err != nil {
		t.Fatal(err)
	}
	lg, err := st.Forward(tokens, true)
	if err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), lg...), lm
}

type diffStats struct{ max, mean, scale float64 }

func compare(a, b []float32) diffStats {
	var d diffStats
	var ss float64
	for i := range a {
		x := math.Abs(float64(a[i] - b[i]))
		d.max = math.Max(d.max, x)
		d.mean += x
		ss += float64(b[i]) * float64(b[i])
	}
	d.mean /= float64(len(a))
	d.scale = math.Sqrt(ss / float64(len(a)))
	return d
}

// TestExportMatchesRuntime exports a trained tiny model in the three
// formats, loads each with loader and runs the runtime's forward pass.
// The I2_S file must reproduce the trainer's own (fake-quantized) logits:
// the runtime quantizes activations exactly as training does and computes
// the same integer dot products, so only its F16 rounding (embedding, KV
// cache, queries, output head) separates the two.
func TestExportMatchesRuntime(t *testing.T) {
	c := exportConfig
	tr := trainedTiny(t, c, 6)
	m := tr.Model
	dir := t.TempDir()
	tokens := make([]int32, c.Ctx)
	for i := range tokens {
		tokens[i] = int32((i*37 + 5) % c.Vocab)
	}

	// The trainer's logits with the embedding rounded to F16, as the I2_S
	// file stores it.
	saved := append([]float32(nil), m.W...)
	emb := m.lay.view(m.W, m.lay.Embed)
	for i, v := range emb {
		emb[i] = generic.F16ToF32(generic.F32ToF16(v))
	}
	want := tr.Logits(tokens)
	tr.eng.f16 = true
	wantF16 := tr.Logits(tokens)
	tr.eng.f16 = false
	copy(m.W, saved)

	var logits = map[Format][]float32{}
	for _, f := range []Format{FormatI2S, FormatF32, FormatTQ2} {
		path := filepath.Join(dir, "model-"+string(f)+".gguf")
		if err := Export(path, m, f, ExportOptions{Name: "test"}); err != nil {
			t.Fatalf("export %s: %v", f, err)
		}
		lg, lm := runtimeLogits(t, path, tokens)
		logits[f] = lg
		if lm.Arch != "bitnet-b1.58" || lm.Dim != c.Dim || lm.KVHeads != c.KVHeads || lm.TrainCtx != c.Ctx {
			t.Errorf("%s: loaded config %+v", f, lm.Config)
		}
	}
	// With the runtime's F16 roundings emulated, the trainer's forward is
	// the runtime's I2_S forward up to float summation order.
	d := compare(logits[FormatI2S], wantF16)
	t.Logf("I2_S runtime vs trainer with F16 roundings: max %.3g, mean %.3g (logit rms %.3g)", d.max, d.mean, d.scale)
	if d.max > 2e-5*d.scale || d.mean > 2e-6*d.scale {
		t.Errorf("I2_S logits differ from the trainer's (F16 emulated): max %.3g, mean %.3g, logit rms %.3g", d.max, d.mean, d.scale)
	}
	// The training forward itself (F32 attention and head) is within the
	// effect of those roundings on the int8 activation codes.
	d = compare(logits[FormatI2S], want)
	t.Logf("I2_S runtime vs trainer: max %.3g, mean %.3g", d.max, d.mean)
	if d.max > 0.03*d.scale || d.mean > 4e-3*d.scale {
		t.Errorf("I2_S logits differ from the trainer's: max %.3g, mean %.3g, logit rms %.3g", d.max, d.mean, d.scale)
	}
	// F32 (no activation quantization) and TQ2_0 (Q8_K activations) compute
	// slightly different functions of the same ternary weights.
	for _, f := range []Format{FormatF32, FormatTQ2} {
		d := compare(logits[f], want)
		t.Logf("%s runtime vs trainer: max %.3g, mean %.3g", f, d.max, d.mean)
		if d.mean > 0.05*d.scale {
			t.Errorf("%s logits too far from the trainer's: mean %.3g, rms %.3g", f, d.mean, d.scale)
		}
	}
}

// TestExportLayout checks the bytes: I2_S codes and scale, TQ2_0 blocks,
// F32 values, F16 embedding, and the fork's tensor order.
func TestExportLayout(t *testing.T) {
	c := exportConfig
	m, err := NewModel(c, 3)
	if err != nil {
		t.Fatal(err)
	}
	q := m.lay.Layers[1].Down
	w := m.lay.view(m.W, q)
	codes := make([]float32, len(w))
	gamma := ternarize(codes, nil, w, nil)
	n := len(w)

	wr, err := exportWriter(m, FormatI2S, ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"token_embd.weight", "blk.0.attn_norm.weight", "blk.0.attn_q.weight", "blk.0.attn_k.weight",
		"blk.0.attn_v.weight", "blk.0.attn_output.weight", "blk.0.ffn_norm.weight", "blk.0.ffn_gate.weight",
		"blk.0.ffn_up.weight", "blk.0.ffn_down.weight", "blk.0.attn_sub_norm.weight", "blk.0.ffn_sub_norm.weight"}
	for i, want := range names {
		if wr.Tensors[i].Name != want {
			t.Fatalf("tensor %d is %s, want %s", i, wr.Tensors[i].Name, want)
		}
	}
	if last := wr.Tensors[len(wr.Tensors)-1].Name; last != "output_norm.weight" {
		t.Fatalf("last tensor %s", last)
	}
	find := func(w *gguf.Writer, name string) gguf.WriterTensor {
		for _, t := range w.Tensors {
			if t.Name == name {
				return t
			}
		}
		panic(name)
	}
	i2 := find(wr, "blk.1.ffn_down.weight")
	if i2.Type != gguf.I2_S || len(i2.Data) != n/4+32 || i2.Dims[0] != uint64(c.FFN) || i2.Dims[1] != uint64(c.Dim) {
		t.Fatalf("I2_S tensor: type %s, %d bytes, dims %v", i2.Type, len(i2.Data), i2.Dims)
	}
	if s := math.Float32frombits(binary.LittleEndian.Uint32(i2.Data[n/4:])); s != gamma {
		t.Fatalf("I2_S scale %v, want γ = %v", s, gamma)
	}
	var hist [3]int
	for k := 0; k < n; k++ {
		code := generic.I2SCode(i2.Data[k/c.FFN*(c.FFN/4):], k%c.FFN)
		if int(code)-1 != int(codes[k]) {
			t.Fatalf("I2_S code %d: %d, want %v", k, code, codes[k])
		}
		hist[code]++
	}
	if hist[0] == 0 || hist[1] == 0 || hist[2] == 0 {
		t.Fatalf("degenerate ternary histogram %v", hist)
	}
	if e := find(wr, "token_embd.weight"); e.Type != gguf.F16 {
		t.Fatalf("I2_S token_embd is %s", e.Type)
	}

	wt, err := exportWriter(m, FormatTQ2, ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tq := find(wt, "blk.1.ffn_down.weight")
	deq := make([]float32, n)
	generic.DequantTQ(deq, tq.Data, false)
	g16 := generic.F16ToF32(generic.F32ToF16(gamma))
	for k := range deq {
		if deq[k] != codes[k]*g16 {
			t.Fatalf("TQ2_0 value %d: %v, want %v", k, deq[k], codes[k]*g16)
		}
	}

	wf, err := exportWriter(m, FormatF32, ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f32 := find(wf, "blk.1.ffn_down.weight")
	for k := 0; k < n; k++ {
		if v := math.Float32frombits(binary.LittleEndian.Uint32(f32.Data[4*k:])); v != codes[k]*gamma {
			t.Fatalf("F32 value %d: %v, want %v", k, v, codes[k]*gamma)
		}
	}
	if e := find(wf, "token_embd.weight"); e.Type != gguf.F32 {
		t.Fatalf("F32 token_embd is %s", e.Type)
	}
}

// TestExportVocab exports with the reference vocabulary and checks the
// metadata against the reference I2_S file: the same keys in the same order
// (arch renamed to bitnet-b1.58) and a tokenizer that loads.
func TestExportVocab(t *testing.T) {
	vpath := testutil.Shared(t, "golden/b158-s/ggml-model-i2_s.gguf", "export with the 2B4T-style vocabulary")
	refPath := testutil.Shared(t, "golden/trained-s/ggml-model-i2_s.gguf", "metadata keys of the reference export")
	vf, err := gguf.Open(vpath)
	if err != nil {
		t.Fatal(err)
	}
	defer vf.Close()
	rf, err := gguf.Open(refPath)
	if err != nil {
		t.Fatal(err)
	}
	defer rf.Close()
	c := exportConfig
	c.Vocab = 4096
	c.Layers = 1
	m, err := NewModel(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := Export(path, m, FormatI2S, ExportOptions{Name: "test", Vocab: vf}); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if len(f.KVs) != len(rf.KVs) {
		t.Fatalf("%d keys, reference has %d", len(f.KVs), len(rf.KVs))
	}
	for i, kv := range rf.KVs {
		want := kv.Key
		if len(want) > 10 && want[:10] == "bitnet-25." {
			want = "bitnet-b1.58." + want[10:]
		}
		if f.KVs[i].Key != want || f.KVs[i].Value.Type != kv.Value.Type {
			t.Errorf("key %d: %s (%v), reference %s (%v)", i, f.KVs[i].Key, f.KVs[i].Value.Type, want, kv.Value.Type)
		}
	}
	if ft, _ := f.GetUint("general.file_type"); ft != 40 {
		t.Errorf("file_type %d", ft)
	}
	lm, err := loader.FromFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if lm.Vocab != 4096 {
		t.Fatalf("vocab %d", lm.Vocab)
	}
	tok, err := tokenizer.FromGGUF(f, tokenizer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Encode("once upon a time", true, false); len(got) < 2 || got[0] != 4080 {
		t.Fatalf("tokenizer of the export: %v", got)
	}
}
