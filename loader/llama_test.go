package loader_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/internal/testutil"
	"github.com/bitnet-go/bitnet/loader"
	"github.com/bitnet-go/bitnet/runtime"
)

func llamaS(t *testing.T) string {
	return filepath.Join(testutil.Shared(t, "golden/llama-s", "the llama graph's loader"), "ggml-model-i2_s.gguf")
}

// TestLoadLlama checks what the loader takes from a fork-made llama file:
// the plain Llama block (no sub-norms, no .scale tensors), normal RoPE and
// its own output head.
func TestLoadLlama(t *testing.T) {
	m, err := loader.Load(llamaS(t))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := m.Config
	if c.Arch != "llama" || c.Activation != runtime.SiLU || c.Rope != runtime.RopeNorm || c.Engine != runtime.BitNetFork ||
		c.Dim != 256 || c.Layers != 4 || c.Heads != 4 || c.KVHeads != 2 || c.HeadDim != 64 || c.FFN != 768 || c.Vocab != 4096 ||
		c.RopeBase != 500000 {
		t.Fatalf("config %+v", c)
	}
	if m.Output == m.Embed || m.Output.Format != runtime.F16 {
		t.Errorf("output head: %v (embedding %v), want output.weight in F16", m.Output.Format, m.Embed.Format)
	}
	for i, L := range m.Layers {
		if L.AttnSubNorm != nil || L.FFNSubNorm != nil {
			t.Errorf("layer %d has sub-norms", i)
		}
		if L.Wq.Format != runtime.I2S || !(L.Wq.Scale > 0) {
			t.Errorf("layer %d attn_q: %v scale %v", i, L.Wq.Format, L.Wq.Scale)
		}
	}
}

func dropKey(w *gguf.Writer, key string) {
	for i, kv := range w.KVs {
		if kv.Key == key {
			w.KVs = append(w.KVs[:i], w.KVs[i+1:]...)
			return
		}
	}
}

func TestLoadLlamaVariants(t *testing.T) {
	src := llamaS(t)
	t.Run("tied head", func(t *testing.T) {
		// Without output.weight, build_llama multiplies with token_embd.
		m, err := loader.Load(testutil.RewriteGGUF(t, src, func(w *gguf.Writer) { dropTensor(w, "output.weight") }))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if m.Output != m.Embed {
			t.Error("output head is not token_embd")
		}
	})
	for _, c := range []struct {
		name string
		edit func(w *gguf.Writer)
		want string
	}{
		{"rope_freqs", func(w *gguf.Writer) {
			w.AddTensor("rope_freqs.weight", gguf.F32, []uint64{32}, make([]byte, 128))
		}, `"rope_freqs.weight" (RoPE frequency factors) is not supported`},
		{"sub-norm in a llama file", func(w *gguf.Writer) {
			w.AddTensor("blk.0.attn_sub_norm.weight", gguf.F32, []uint64{256}, make([]byte, 1024))
		}, `"blk.0.attn_sub_norm.weight" is not part of the llama graph`},
		{"scale in a llama file", func(w *gguf.Writer) {
			w.AddTensor("blk.1.attn_q.scale", gguf.F32, []uint64{1}, make([]byte, 4))
		}, `"blk.1.attn_q.scale" is not part of the llama graph`},
		{"experts", func(w *gguf.Writer) { w.Set("llama.expert_count", gguf.Uint32(8)) }, "mixture-of-experts"},
		{"bias", func(w *gguf.Writer) {
			w.AddTensor("blk.0.attn_q.bias", gguf.F32, []uint64{256}, make([]byte, 1024))
		}, `"blk.0.attn_q.bias": biases are not supported`},
		{"q5_0 projection", func(w *gguf.Writer) {
			for i := range w.Tensors {
				if w.Tensors[i].Name == "blk.0.attn_q.weight" {
					w.Tensors[i].Type = gguf.Q5_0
					w.Tensors[i].Data = make([]byte, 256*256/32*22)
				}
			}
		}, `"blk.0.attn_q.weight" has type q5_0, which is not supported here`},
		{"missing key", func(w *gguf.Writer) { dropKey(w, "llama.attention.layer_norm_rms_epsilon") }, `"llama.attention.layer_norm_rms_epsilon"`},
		{"transient fork name", func(w *gguf.Writer) { w.Set("general.architecture", gguf.String("bitnet-1.58")) }, `architecture "bitnet-1.58" is not supported: the BitNet fork's name`},
	} {
		t.Run(c.name, func(t *testing.T) {
			checkLoad(t, testutil.RewriteGGUF(t, src, c.edit), c.want)
		})
	}
}

// TestHiddenActivation: upstream's bitnet graph takes its FFN activation
// from bitnet.hidden_activation (SiLU without it); relu2 is what its
// conversions of BitNetForCausalLM (2B4T) declare.
func TestHiddenActivation(t *testing.T) {
	// The bundled bitnet-b1.58 model renamed to the bitnet architecture.
	toBitnet := func(act string) func(w *gguf.Writer) {
		return func(w *gguf.Writer) {
			for i := range w.KVs {
				w.KVs[i].Key = strings.Replace(w.KVs[i].Key, "bitnet-b1.58.", "bitnet.", 1)
			}
			w.Set("general.architecture", gguf.String("bitnet"))
			if act != "" {
				w.Set("bitnet.hidden_activation", gguf.String(act))
			}
		}
	}
	for _, c := range []struct {
		act  string
		want runtime.Activation
		err  string
	}{
		{"", runtime.SiLU, ""},
		{"silu", runtime.SiLU, ""},
		{"relu2", runtime.ReLU2, ""},
		{"gelu", 0, `"bitnet.hidden_activation" = "gelu": activation not supported`},
	} {
		m, err := loader.Load(rewrite(t, toBitnet(c.act)))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.act, err, c.err)
			}
			if err == nil {
				m.Close()
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", c.act, err)
		}
		if m.Activation != c.want {
			t.Errorf("%q: activation %v, want %v", c.act, m.Activation, c.want)
		}
		m.Close()
	}
	// The fork-only names ignore the key: their graph is always ReLU².
	m, err := loader.Load(rewrite(t, func(w *gguf.Writer) { w.Set("bitnet-b1.58.hidden_activation", gguf.String("silu")) }))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Activation != runtime.ReLU2 {
		t.Errorf("bitnet-b1.58 with hidden_activation silu runs %v", m.Activation)
	}
}
