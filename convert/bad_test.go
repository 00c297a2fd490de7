package convert

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitnet-go/bitnet/internal/testutil"
	"github.com/bitnet-go/bitnet/loader"
	"github.com/bitnet-go/bitnet/runtime"
	"github.com/bitnet-go/bitnet/safetensors"
)

// copyCheckpoint copies a fixture directory, rewriting its tensors through
// edit (return false to drop a tensor; it may replace the bytes) and its
// config.json through cfg.
func copyCheckpoint(t *testing.T, src string, edit func(name string, dt *safetensors.DType, shape *[]int64, data *[]byte) bool, cfg func(map[string]any)) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == "model.safetensors" || e.Name() == "config.json" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644)
	}
	var c map[string]any
	b, _ := os.ReadFile(filepath.Join(src, "config.json"))
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if cfg != nil {
		cfg(c)
	}
	b, _ = json.Marshal(c)
	os.WriteFile(filepath.Join(dst, "config.json"), b, 0o644)
	writeTensors(t, src, filepath.Join(dst, "model.safetensors"), edit, nil)
	return dst
}

// writeTensors rewrites the tensors of src's checkpoint into out; keep, if
// set, selects names.
func writeTensors(t *testing.T, src, out string, edit func(string, *safetensors.DType, *[]int64, *[]byte) bool, keep func(string) bool) {
	t.Helper()
	ck, err := safetensors.OpenDir(src)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	w := &safetensors.Writer{}
	for _, tn := range ck.Tensors {
		if keep != nil && !keep(tn.Name) {
			continue
		}
		data := make([]byte, tn.Size())
		if _, err := tn.ReadAt(data, 0); err != nil {
			t.Fatal(err)
		}
		dt, shape := tn.DType, tn.Shape
		if edit != nil && !edit(tn.Name, &dt, &shape, &data) {
			continue
		}
		if err := w.AddBytes(tn.Name, dt, shape, data); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestBadCheckpoints(t *testing.T) {
	b2 := testutil.Shared(t, hfRoot+"bitnet-2b4t-bf16/hf", "the 2B4T BF16 checkpoint")
	ll := testutil.Shared(t, "golden/llama-s/hf", "the packed llama checkpoint")
	type edit = func(string, *safetensors.DType, *[]int64, *[]byte) bool
	drop := func(name string) edit {
		return func(n string, _ *safetensors.DType, _ *[]int64, _ *[]byte) bool { return n != name }
	}
	cases := []struct {
		name string
		src  string
		ed   edit
		cfg  func(map[string]any)
		typ  string
		want string
	}{
		{"unsupported arch", b2, nil, func(c map[string]any) { c["architectures"] = []any{"GPT2LMHeadModel"} }, "i2_s", `unsupported architecture "GPT2LMHeadModel"`},
		{"llama without bitnet quant", ll, nil, func(c map[string]any) { delete(c, "quantization_config") }, "i2_s", "not a ternary checkpoint"},
		{"missing tensor", b2, drop("model.layers.2.self_attn.q_proj.weight"), nil, "i2_s", "blk.2.attn_q.weight"},
		{"unknown tensor", b2, nil, func(c map[string]any) { c["num_hidden_layers"] = 3 }, "i2_s", `"model.layers.3.`},
		{"wrong shape", b2, nil, func(c map[string]any) { c["intermediate_size"] = 512 }, "i2_s", "want [256 512]"},
		{"llama3 rope scaling", ll, nil, func(c map[string]any) {
			c["rope_scaling"] = map[string]any{"rope_type": "llama3", "factor": 8.0}
		}, "f32", "rope_scaling"},
		{"wrong activation", b2, nil, func(c map[string]any) { c["hidden_act"] = "silu" }, "i2_s", "hidden_act"},
		{"bad vocab size", b2, nil, func(c map[string]any) { c["vocab_size"] = -3 }, "i2_s", "vocab_size = -3"},
		{"packed without scale", ll, drop("model.layers.1.mlp.up_proj.weight_scale"), nil, "i2_s", "has no model.layers.1.mlp.up_proj.weight_scale"},
		{"U8 norm", b2, func(n string, dt *safetensors.DType, s *[]int64, d *[]byte) bool {
			if n == "model.norm.weight" {
				*dt = safetensors.U8
				*s = []int64{512}
			}
			return true
		}, nil, "i2_s", "dtype U8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyCheckpoint(t, c.src, c.ed, c.cfg)
			out := filepath.Join(t.TempDir(), "out.gguf")
			err := Convert(dir, out, Options{Type: c.typ})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one mentioning %q", err, c.want)
			}
			if _, serr := os.Stat(out); serr == nil {
				t.Error("an output file was left behind")
			}
		})
	}
}

// A 1bitLLM checkpoint with an lm_head stops, as the reference does: the
// bitnet graph has no output matrix.
func TestBitnetLMHead(t *testing.T) {
	b1 := testutil.Shared(t, hfRoot+"bitnet-1bitllm/hf", "the 1bitLLM checkpoint")
	dir := copyCheckpoint(t, b1, nil, nil)
	ck, _ := safetensors.OpenDir(b1)
	emb, _ := ck.Tensor("model.embed_tokens.weight")
	data := make([]byte, emb.Size())
	emb.ReadAt(data, 0)
	ck.Close()
	w := &safetensors.Writer{}
	writeTensors(t, b1, filepath.Join(dir, "model.safetensors"), func(n string, dt *safetensors.DType, s *[]int64, d *[]byte) bool {
		w.AddBytes(n, *dt, *s, *d)
		return true
	}, nil)
	w.AddBytes("lm_head.weight", emb.DType, emb.Shape, data)
	f, _ := os.Create(filepath.Join(dir, "model.safetensors"))
	w.WriteTo(f)
	f.Close()
	err := Convert(dir, filepath.Join(t.TempDir(), "o.gguf"), Options{Type: "f32"})
	if err == nil || !strings.Contains(err.Error(), "lm_head.weight") {
		t.Fatalf("error %v, want one naming lm_head.weight", err)
	}
}

// A failure while tensors are written (a packed code 3 in the last tensor)
// leaves an existing output untouched and no temporary behind.
func TestFailedWriteIsAtomic(t *testing.T) {
	ll := testutil.Shared(t, "golden/llama-s/hf", "the packed llama checkpoint")
	dir := copyCheckpoint(t, ll, func(n string, dt *safetensors.DType, s *[]int64, d *[]byte) bool {
		if n == "model.layers.3.self_attn.v_proj.weight" {
			(*d)[100] = 0xff
		}
		return true
	}, nil)
	outDir := t.TempDir()
	out := filepath.Join(outDir, "model.gguf")
	os.WriteFile(out, []byte("precious"), 0o644)
	err := Convert(dir, out, Options{Type: "f32"})
	if err == nil || !strings.Contains(err.Error(), "packed code 3") || !strings.Contains(err.Error(), "v_proj") {
		t.Fatalf("error %v, want the packed code 3 in v_proj", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "precious" {
		t.Error("the existing output was replaced")
	}
	if ents, _ := os.ReadDir(outDir); len(ents) != 1 {
		t.Errorf("%d files in the output directory, want 1", len(ents))
	}
	if err := Convert(dir, outDir, Options{Type: "f32"}); err == nil {
		t.Error("a directory accepted as the output")
	}
}

// A sharded copy of a checkpoint converts to the same file.
func TestSharded(t *testing.T) {
	b2 := testutil.Shared(t, hfRoot+"bitnet-2b4t-bf16/hf", "the 2B4T BF16 checkpoint")
	dir := copyCheckpoint(t, b2, nil, nil)
	os.Remove(filepath.Join(dir, "model.safetensors"))
	first := func(n string) bool { return n < "model.layers.2" }
	writeTensors(t, b2, filepath.Join(dir, "model-00001-of-00002.safetensors"), nil, first)
	writeTensors(t, b2, filepath.Join(dir, "model-00002-of-00002.safetensors"), nil, func(n string) bool { return !first(n) })
	ck, _ := safetensors.OpenDir(b2)
	wm := map[string]string{}
	for _, tn := range ck.Tensors {
		wm[tn.Name] = "model-00002-of-00002.safetensors"
		if first(tn.Name) {
			wm[tn.Name] = "model-00001-of-00002.safetensors"
		}
	}
	ck.Close()
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{}, "weight_map": wm})
	os.WriteFile(filepath.Join(dir, safetensors.IndexFile), b, 0o644)
	a, _ := os.ReadFile(convertTo(t, dir, "i2_s", Options{Name: "bitnet2b_2501"}))
	r, _ := os.ReadFile(convertTo(t, b2, "i2_s", Options{}))
	if string(a) != string(r) {
		t.Error("the sharded checkpoint converts differently")
	}
}

// Every output type loads and runs in our runtime (the bitnet* families);
// the I2_S file gives exactly the reference I2_S file's logits.
func TestOutputsLoad(t *testing.T) {
	b1 := testutil.Shared(t, hfRoot+"bitnet-1bitllm/hf", "the 1bitLLM checkpoint")
	b2 := testutil.Shared(t, hfRoot+"bitnet-2b4t-bf16/hf", "the 2B4T BF16 checkpoint")
	pool := runtime.NewPool(2)
	logits := func(path string) []float32 {
		m, err := loader.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		st, err := runtime.NewState(m.Model, 16, 16, pool)
		if err != nil {
			t.Fatal(err)
		}
		l, err := st.Forward([]int32{1, 5, 9, 200}, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range l {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("%s: non-finite logits", path)
			}
		}
		return append([]float32(nil), l...)
	}
	for _, c := range []struct {
		dir, typ string
		o        Options
	}{
		{b1, "tq1_0", Options{}}, {b1, "tq2_0", Options{Embd: "q8_0"}}, {b1, "f16", Options{}}, {b1, "bf16", Options{}},
		{b2, "tq2_0", Options{Arch: "bitnet-b1.58", Embd: "q6_k"}}, {b2, "f16", Options{Embd: "f32"}},
	} {
		logits(convertTo(t, c.dir, c.typ, c.o))
	}
	ours := logits(convertTo(t, b2, "i2_s", Options{}))
	ref := logits(golden(t, hfRoot+"bitnet-2b4t-bf16/ggml-model-i2s-bitnet.gguf.gz"))
	for i := range ours {
		if ours[i] != ref[i] {
			t.Fatalf("logit %d: %v, reference file %v", i, ours[i], ref[i])
		}
	}
}
