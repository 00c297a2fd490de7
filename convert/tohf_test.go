package convert

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/internal/testutil"
	"github.com/bitnet-go/bitnet/layout"
	"github.com/bitnet-go/bitnet/safetensors"
)

// HF → GGUF → HF → GGUF gives the same GGUF bytes, from the I2_S file and
// from the F32 file (whose re-conversion to I2_S is the direct I2_S file).
func TestRoundTripHF(t *testing.T) {
	b2 := testutil.Shared(t, hfRoot+"bitnet-2b4t-bf16/hf", "the 2B4T BF16 checkpoint")
	i2s := convertTo(t, b2, "i2_s", Options{})
	f32 := convertTo(t, b2, "f32", Options{})
	want, _ := os.ReadFile(i2s)
	for _, src := range []string{i2s, f32} {
		hf := filepath.Join(t.TempDir(), "hf")
		var warn bytes.Buffer
		if err := ExportHF(src, hf, ExportOptions{Warnings: &warn}); err != nil {
			t.Fatal(err)
		}
		if warn.Len() > 0 {
			t.Errorf("warnings: %s", warn.String())
		}
		got, _ := os.ReadFile(convertTo(t, hf, "i2_s", Options{}))
		if !bytes.Equal(got, want) {
			t.Errorf("%s: HF → GGUF → HF → GGUF is not byte-identical", filepath.Base(src))
		}
		// The export is what transformers' BitNet (offline, bitlinear)
		// expects: packed U8 [out/4, in] with a weight_scale, the config's
		// quantization_config, the tokenizer's specials.
		ck, err := safetensors.OpenDir(hf)
		if err != nil {
			t.Fatal(err)
		}
		q, _ := ck.Tensor("model.layers.0.self_attn.q_proj.weight")
		s, _ := ck.Tensor("model.layers.0.self_attn.q_proj.weight_scale")
		e, _ := ck.Tensor("model.embed_tokens.weight")
		if q == nil || q.DType != safetensors.U8 || q.Shape[0] != 64 || s == nil || e == nil || e.DType != safetensors.BF16 {
			t.Errorf("tensors: %+v %+v %+v", q, s, e)
		}
		ck.Close()
		var cfg map[string]any
		b, _ := os.ReadFile(filepath.Join(hf, "config.json"))
		json.Unmarshal(b, &cfg)
		if qc, _ := cfg["quantization_config"].(map[string]any); qc["quant_method"] != "bitnet" || cfg["architectures"].([]any)[0] != "BitNetForCausalLM" || cfg["rms_norm_eps"] != 1e-05 {
			t.Errorf("config.json: %v", cfg)
		}
		b, _ = os.ReadFile(filepath.Join(hf, "tokenizer_config.json"))
		if !strings.Contains(string(b), `"bos_token": "<|begin_of_text|>"`) {
			t.Errorf("tokenizer_config.json lacks the BOS token")
		}
	}
}

func TestWeightScaleFor(t *testing.T) {
	// Every γ that is a float32 reciprocal gets a weight_scale w with
	// 1/w == γ; the search covers both sides of 1/γ.
	for _, s := range []float32{1, 3, 7.123457, 24.5, 0.3, 40.00001, 1.4142135, 1.4142137, 1e5} {
		for k := 0; k < 200; k++ {
			gamma := 1 / s
			w, ok := weightScaleFor(gamma)
			if !ok || 1/w != gamma {
				t.Fatalf("γ = 1/%v: w = %v (%v)", s, w, ok)
			}
			s = math.Nextafter32(s, 100)
		}
	}
}

func TestExportRefuses(t *testing.T) {
	b1 := testutil.Shared(t, hfRoot+"bitnet-1bitllm/hf", "the 1bitLLM checkpoint")
	src := convertTo(t, b1, "i2_s", Options{})
	for _, c := range []struct {
		edit func(w *gguf.Writer)
		want string
	}{
		{func(w *gguf.Writer) { w.Set(layout.KeyArchitecture, gguf.String(layout.ArchQwen3)) }, `arch "qwen3"`},
		// upstream's conversions of BitNetForCausalLM: the 2B4T graph under
		// the bitnet name, which BitnetForCausalLM cannot express.
		{func(w *gguf.Writer) {
			w.Set(layout.Key(layout.ArchBitNet, layout.HiddenActivation), gguf.String("relu2"))
		}, "runs SiLU"},
	} {
		err := ExportHF(testutil.RewriteGGUF(t, src, c.edit), t.TempDir(), ExportOptions{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("export: %v, want an error containing %q", err, c.want)
		}
	}
}

// The 1bitLLM graph (BitnetForCausalLM, fp16 latent weights, SentencePiece
// tokenizer.model): HF → GGUF → HF → GGUF gives the same GGUF bytes for
// I2_S, TQ2_0 and F32; the export's latent weights re-ternarize to the same
// codes and fp16 scales, and its tokenizer.model to the same vocabulary.
func TestRoundTripHFBitnet1bit(t *testing.T) {
	src := testutil.Shared(t, hfRoot+"bitnet-1bitllm/hf", "the 1bitLLM checkpoint")
	for _, typ := range []string{"i2_s", "tq2_0", "f32"} {
		hf := roundTripHF(t, src, typ, Options{Name: "1bitllm"})
		var cfg map[string]any
		b, _ := os.ReadFile(filepath.Join(hf, "config.json"))
		json.Unmarshal(b, &cfg)
		if cfg["architectures"].([]any)[0] != "BitnetForCausalLM" || cfg["model_type"] != "llama" || cfg["tie_word_embeddings"] != true || cfg["quantization_config"] != nil {
			t.Errorf("%s: config.json: %v", typ, cfg)
		}
		ck, err := safetensors.OpenDir(hf)
		if err != nil {
			t.Fatal(err)
		}
		q, _ := ck.Tensor("model.layers.0.self_attn.q_proj.weight")
		n, _ := ck.Tensor("model.layers.1.self_attn.inner_attn_ln.weight")
		if q == nil || q.DType != safetensors.F16 || n == nil {
			t.Errorf("%s: tensors %+v %+v", typ, q, n)
		}
		ck.Close()
	}
}

// Files made by the reference pipeline (the b158-s, trained-s and llama-s golden
// models) export and convert back with the same metadata and the same
// tensor bytes (I2_S codes and scales); only the tensor order is this
// converter's (the reference's order for a BF16 checkpoint).
func TestExportReferenceFiles(t *testing.T) {
	for _, g := range []string{"b158-s", "trained-s", "llama-s"} {
		ref := testutil.Shared(t, "golden/"+g+"/ggml-model-i2_s.gguf", "a reference I2_S model")
		hf := filepath.Join(t.TempDir(), "hf")
		var warn bytes.Buffer
		if err := ExportHF(ref, hf, ExportOptions{Warnings: &warn}); err != nil {
			t.Fatal(err)
		}
		if warn.Len() > 0 {
			t.Errorf("%s: %s", g, warn.String())
		}
		a := open(t, convertTo(t, hf, "i2_s", Options{}))
		b := open(t, ref)
		compareKVs(t, a.KVs, b.KVs, nil)
		if len(a.Tensors) != len(b.Tensors) {
			t.Fatalf("%s: %d tensors, reference %d", g, len(a.Tensors), len(b.Tensors))
		}
		for i := range b.Tensors {
			tb := &b.Tensors[i]
			ta, ok := a.Tensor(tb.Name)
			if !ok || ta.Type != tb.Type {
				t.Errorf("%s: %s missing or of another type", g, tb.Name)
				continue
			}
			da, _ := a.TensorData(ta)
			db, _ := b.TensorData(tb)
			n := len(db)
			if tb.Type == gguf.I2_S {
				n -= 28
			}
			if !bytes.Equal(da[:n], db[:n]) {
				t.Errorf("%s: %s differs", g, tb.Name)
			}
		}
	}
}

// weight_scale divides the codes for BitLinear ("bitlinear", the default)
// and multiplies them for AutoBitLinear ("autobitlinear").
func TestAutoBitLinearScale(t *testing.T) {
	b2 := testutil.Shared(t, hfRoot+"bitnet-2b4t-bf16/hf", "the 2B4T BF16 checkpoint")
	hf := filepath.Join(t.TempDir(), "hf")
	if err := ExportHF(convertTo(t, b2, "i2_s", Options{}), hf, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	ck, _ := safetensors.OpenDir(hf)
	st, _ := ck.Tensor("model.layers.1.mlp.up_proj.weight_scale")
	var ws [1]float32
	st.ReadFloat32(ws[:], 0, nil)
	ck.Close()
	for _, c := range []struct {
		class string
		want  float32
	}{{"bitlinear", 1 / ws[0]}, {"autobitlinear", ws[0]}} {
		b, _ := os.ReadFile(filepath.Join(hf, "config.json"))
		var cfg map[string]any
		json.Unmarshal(b, &cfg)
		cfg["quantization_config"].(map[string]any)["linear_class"] = c.class
		b, _ = json.Marshal(cfg)
		os.WriteFile(filepath.Join(hf, "config.json"), b, 0o644)
		f := open(t, convertTo(t, hf, "f32", Options{}))
		ti, _ := f.Tensor("blk.1.ffn_up.weight")
		d, _ := f.TensorData(ti)
		nonzero := 0
		for i := 0; i < len(d); i += 4 {
			v := math.Float32frombits(binary.LittleEndian.Uint32(d[i:]))
			if v != 0 {
				nonzero++
				if float32(math.Abs(float64(v))) != c.want {
					t.Fatalf("%s: |value| %v, want %v", c.class, v, c.want)
				}
			}
		}
		if nonzero == 0 {
			t.Fatalf("%s: all zero", c.class)
		}
	}
}

// The ternary llama graph (LlamaForCausalLM with quantization_config
// bitnet, as HF1BitLLM and Falcon3-1.58bit ship it): HF → GGUF → HF → GGUF
// gives the same GGUF bytes, for I2_S, TQ2_0 and F32, and the export is a
// Llama checkpoint with q/k in Hugging Face's row order (the packed bytes
// of the fixture come back exactly).
func TestRoundTripHFLlama(t *testing.T) {
	src := testutil.Shared(t, "golden/llama-s/hf", "the packed-ternary llama checkpoint")
	for _, typ := range []string{"i2_s", "tq2_0", "f32"} {
		hf := roundTripHF(t, src, typ, Options{Name: "llama-s"})
		var cfg map[string]any
		b, _ := os.ReadFile(filepath.Join(hf, "config.json"))
		json.Unmarshal(b, &cfg)
		if qc, _ := cfg["quantization_config"].(map[string]any); qc["quant_method"] != "bitnet" || cfg["architectures"].([]any)[0] != "LlamaForCausalLM" ||
			cfg["model_type"] != "llama" || cfg["hidden_act"] != "silu" || cfg["tie_word_embeddings"] != false {
			t.Errorf("%s: config.json: %v", typ, cfg)
		}
		if typ != "i2_s" {
			continue
		}
		// The packed q/k/v bytes equal the fixture's: the row permutation
		// was undone.
		a, err := safetensors.OpenDir(src)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		e, err := safetensors.OpenDir(hf)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		for _, name := range []string{"model.layers.0.self_attn.q_proj.weight", "model.layers.1.self_attn.k_proj.weight", "model.layers.3.mlp.down_proj.weight"} {
			ta, _ := a.Tensor(name)
			te, _ := e.Tensor(name)
			if ta == nil || te == nil {
				t.Fatalf("%s missing", name)
			}
			ba, errA := io.ReadAll(ta.Reader())
			be, errE := io.ReadAll(te.Reader())
			if errA != nil || errE != nil || !bytes.Equal(ba, be) {
				t.Errorf("%s: exported packed bytes differ from the checkpoint's (%v %v)", name, errA, errE)
			}
		}
	}
}

// roundTripHF converts the checkpoint src to typ, exports that GGUF and
// checks that converting the export gives the same GGUF bytes (with no
// warning about inexact scales); it returns the export's directory.
func roundTripHF(t *testing.T, src, typ string, o Options) string {
	t.Helper()
	first := convertTo(t, src, typ, o)
	hf := filepath.Join(t.TempDir(), "hf")
	var warn bytes.Buffer
	if err := ExportHF(first, hf, ExportOptions{Warnings: &warn}); err != nil {
		t.Fatal(err)
	}
	if warn.Len() > 0 {
		t.Errorf("%s: warnings: %s", typ, warn.String())
	}
	want, _ := os.ReadFile(first)
	got, _ := os.ReadFile(convertTo(t, hf, typ, o))
	if !bytes.Equal(got, want) {
		t.Errorf("%s: HF → GGUF → HF → GGUF is not byte-identical (%d vs %d bytes)", typ, len(got), len(want))
		diffGGUF(t, first, filepath.Join(t.TempDir(), "x"), got)
	}
	return hf
}

// diffGGUF names the first metadata key or tensor that differs.
func diffGGUF(t *testing.T, wantPath, tmp string, got []byte) {
	t.Helper()
	if err := os.WriteFile(tmp, got, 0o644); err != nil {
		return
	}
	w, g := open(t, wantPath), open(t, tmp)
	for i, kv := range w.KVs {
		if i >= len(g.KVs) || g.KVs[i].Key != kv.Key || !reflect.DeepEqual(g.KVs[i].Value, kv.Value) {
			gk := "(none)"
			if i < len(g.KVs) {
				gk = fmt.Sprintf("%s = %v", g.KVs[i].Key, g.KVs[i].Value)
			}
			t.Errorf("KV %d: want %s = %.200v, got %.200s", i, kv.Key, kv.Value, gk)
			return
		}
	}
	if d := testutil.TensorDiff(w, g); d != "" {
		t.Errorf("tensor %s", d)
	}
}
