// Package loader turns a GGUF file into a runtime.Model (and, through
// package loader/tokenizer, a tokenizer): architecture and hyperparameters
// from the metadata with llama.cpp's defaults, tensors by name with their
// shapes and types checked, tied embeddings resolved.
package loader

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/layout"
	"github.com/bitnet-go/bitnet/runtime"
)

// archInfo is what the graph of a general.architecture value looks like.
type archInfo struct {
	act        runtime.Activation
	rope       runtime.RopeStyle
	subNorms   bool // attn_sub_norm / ffn_sub_norm before attn_output / ffn_down
	scales     bool // optional per-matrix .scale tensors (1bitLLM conversions)
	ownOutput  bool // output.weight, when present, is the head (else token_embd)
	hiddenAct  bool // an optional <arch>.hidden_activation key may change act
	blockCount int  // tensors per block
}

// architectures lists the supported general.architecture values (see
// docs/FORMATS.md §2 for the names we reject and why).
var architectures = map[string]archInfo{
	// The fork's build_bitnet_158: the official 2B4T GGUF and its first
	// upload; both fork graph builders compute logits with token_embd even
	// when an output.weight exists.
	layout.ArchBitNetB158: {act: runtime.ReLU2, rope: runtime.RopeNeoX, subNorms: true, blockCount: 11},
	layout.ArchBitNet25:   {act: runtime.ReLU2, rope: runtime.RopeNeoX, subNorms: true, blockCount: 11},
	// build_bitnet (fork and upstream): 1bitLLM conversions, and upstream's
	// conversions of BitNetForCausalLM, which declare relu2 in
	// bitnet.hidden_activation.
	layout.ArchBitNet: {act: runtime.SiLU, rope: runtime.RopeNeoX, subNorms: true, scales: true, hiddenAct: true, blockCount: 11},
	// build_llama (fork and upstream): plain Llama blocks, the fork's
	// HF1BitLLM / Falcon3-1.58bit / Falcon-E files (I2_S), and ordinary
	// Llama files whose matrices use a format the runtime multiplies.
	layout.ArchLlama: {act: runtime.SiLU, rope: runtime.RopeNorm, ownOutput: true, blockCount: 9},
}

// knownArchs are BitNet-family names we know of but do not run, with why.
var knownArchs = map[string]string{
	layout.ArchBitNet158April: "the BitNet fork's name for bitnet-b1.58 for a few weeks in April 2025, whose graph could not be verified here",
	layout.ArchQwen3:          "bitnet.cpp's embedding models (bitnet-embedding-0.6b/270m) use it; embedding graphs are not supported",
}

// supportedArchs is the list named in errors.
var supportedArchs = strings.Join([]string{layout.ArchBitNetB158, layout.ArchBitNet25, layout.ArchBitNet, layout.ArchLlama}, ", ")

// Model is a loaded model together with the file that backs its weights.
type Model struct {
	*runtime.Model
	File *gguf.File
}

// Close releases the file mapping; the model must not be used afterwards.
func (m *Model) Close() error { return m.File.Close() }

// Load opens a GGUF model file, mapping its weights.
func Load(path string) (*Model, error) { return LoadWith(path, gguf.OpenOptions{}) }

// LoadWith is Load with the file opened as o says (gguf.OpenOptions.NoMmap
// reads the weights into memory).
func LoadWith(path string, o gguf.OpenOptions) (*Model, error) {
	f, err := gguf.OpenWith(path, o)
	if err != nil {
		return nil, err
	}
	m, err := FromFile(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Model{Model: m, File: f}, nil
}

// ConfigFromFile reads the hyperparameters of a BitNet model.
func ConfigFromFile(f *gguf.File) (runtime.Config, error) {
	var c runtime.Config
	arch, err := f.GetString(layout.KeyArchitecture)
	if err != nil {
		return c, fmt.Errorf("cannot tell the model's architecture: %w", err)
	}
	info, ok := architectures[arch]
	if !ok {
		if why, known := knownArchs[arch]; known {
			return c, fmt.Errorf("architecture %q is not supported: %s (supported: %s)", arch, why, supportedArchs)
		}
		return c, fmt.Errorf("unknown architecture %q (supported: %s)", arch, supportedArchs)
	}
	c.Arch, c.Activation, c.Rope = arch, info.act, info.rope
	if info.hiddenAct {
		if v, ok := f.Get(layout.Key(arch, layout.HiddenActivation)); ok {
			s, err := v.String()
			if err != nil {
				return c, fmt.Errorf("metadata key %q: %w", layout.Key(arch, layout.HiddenActivation), err)
			}
			switch s {
			case "silu", "swish", "swiglu":
				c.Activation = runtime.SiLU
			case "relu2", "relu_squared":
				c.Activation = runtime.ReLU2
			default:
				return c, fmt.Errorf("metadata key %q = %q: activation not supported (want silu or relu2)", layout.Key(arch, layout.HiddenActivation), s)
			}
		}
	}
	if _, ok := f.Get(layout.Key(arch, layout.ExpertCount)); ok {
		n, err := f.GetUint(layout.Key(arch, layout.ExpertCount))
		if err != nil {
			return c, err
		}
		if n > 0 {
			return c, fmt.Errorf("%s is %d: mixture-of-experts models are not supported", layout.Key(arch, layout.ExpertCount), n)
		}
	}
	u := func(key string, def int) (int, error) {
		full := layout.Key(arch, key)
		if _, ok := f.Get(full); !ok {
			if def < 0 {
				return 0, fmt.Errorf("metadata key %q is missing", full)
			}
			return def, nil
		}
		v, err := f.GetUint(full)
		if err != nil {
			return 0, err
		}
		if v > 1<<24 {
			return 0, fmt.Errorf("metadata key %q = %d is out of range", full, v)
		}
		return int(v), nil
	}
	if c.Dim, err = u(layout.EmbeddingLength, -1); err != nil {
		return c, err
	}
	if c.Layers, err = u(layout.BlockCount, -1); err != nil {
		return c, err
	}
	if c.FFN, err = u(layout.FeedForwardLength, -1); err != nil {
		return c, err
	}
	if c.Heads, err = u(layout.HeadCount, -1); err != nil {
		return c, err
	}
	if c.Heads == 0 {
		return c, fmt.Errorf("%s is 0", layout.Key(arch, layout.HeadCount))
	}
	if c.KVHeads, err = u(layout.HeadCountKV, c.Heads); err != nil {
		return c, err
	}
	if c.TrainCtx, err = u(layout.ContextLength, 0); err != nil {
		return c, err
	}
	if c.HeadDim, err = u(layout.KeyLength, c.Dim/c.Heads); err != nil {
		return c, err
	}
	vlen, err := u(layout.ValueLength, c.HeadDim)
	if err != nil {
		return c, err
	}
	if vlen != c.HeadDim {
		return c, fmt.Errorf("value length %d != key length %d is not supported", vlen, c.HeadDim)
	}
	if c.RopeDim, err = u(layout.RopeDimensionCount, c.HeadDim); err != nil {
		return c, err
	}
	c.RopeBase = 10000
	if _, ok := f.Get(layout.Key(arch, layout.RopeFreqBase)); ok {
		b, err := f.GetFloat(layout.Key(arch, layout.RopeFreqBase))
		if err != nil {
			return c, err
		}
		// float32: a finite f64 can still overflow to +Inf.
		if b32 := float32(b); !(b32 > 0) || math.IsInf(float64(b32), 0) {
			return c, fmt.Errorf("metadata key %q = %s: the RoPE base must be a positive finite number", layout.Key(arch, layout.RopeFreqBase), fmtFloat(b))
		}
		c.RopeBase = float32(b)
	}
	if st, err := f.GetString(layout.Key(arch, layout.RopeScalingType)); err == nil && st != "none" && st != "linear" {
		return c, fmt.Errorf("rope scaling type %q is not supported", st)
	}
	if fac, err := f.GetFloat(layout.Key(arch, layout.RopeScalingFactor)); err == nil && fac != 0 && fac != 1 {
		return c, fmt.Errorf("rope scaling factor %g is not supported", fac)
	}
	eps, err := f.GetFloat(layout.Key(arch, layout.RMSEps))
	if err != nil {
		return c, err
	}
	if e32 := float32(eps); !(e32 >= 0) || math.IsInf(float64(e32), 0) {
		return c, fmt.Errorf("metadata key %q = %s: the RMS norm epsilon must be a finite number ≥ 0", layout.Key(arch, layout.RMSEps), fmtFloat(eps))
	}
	c.NormEps = float32(eps)
	// n_vocab comes from the token list, like llama.cpp; fall back to the
	// embedding's row count.
	if toks, ok := f.Get(layout.KeyTokens); ok {
		if a, err := toks.Array(); err == nil {
			c.Vocab = a.Len()
		}
	}
	if t, ok := f.Tensor(layout.TokenEmbd); ok && len(t.Dims) == 2 {
		if c.Vocab == 0 {
			c.Vocab = int(t.Dims[1])
		}
	}
	return c, c.Validate()
}

// fmtFloat prints a metadata number as short as it was stored (most are f32).
func fmtFloat(x float64) string {
	if float64(float32(x)) == x {
		return strconv.FormatFloat(x, 'g', -1, 32)
	}
	return strconv.FormatFloat(x, 'g', -1, 64)
}

var formats = map[gguf.Type]runtime.Format{
	gguf.F32:   runtime.F32,
	gguf.F16:   runtime.F16,
	gguf.BF16:  runtime.BF16,
	gguf.Q8_0:  runtime.Q8_0,
	gguf.Q4_K:  runtime.Q4_K,
	gguf.Q6_K:  runtime.Q6_K,
	gguf.TQ1_0: runtime.TQ1_0,
	gguf.TQ2_0: runtime.TQ2_0,
	gguf.I2_S:  runtime.I2S,
}

// projectionFormats lists the formats accepted for the projection matrices:
// every format the runtime multiplies with the reference engines' numerics
// (Q4_K/Q6_K with Q8_K activations as upstream ggml does). Other types are
// refused by name.
var projectionFormats = map[runtime.Format]bool{
	runtime.F32: true, runtime.F16: true, runtime.BF16: true,
	runtime.TQ1_0: true, runtime.TQ2_0: true, runtime.I2S: true,
	runtime.Q8_0: true, runtime.Q4_K: true, runtime.Q6_K: true,
}

type tensorLoader struct {
	f    *gguf.File
	used map[string]bool // the tensors the graph has taken
}

func (l *tensorLoader) matrix(name string, rows, cols int, allowed map[runtime.Format]bool) (*runtime.Matrix, error) {
	t, ok := l.f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("tensor %q is missing", name)
	}
	l.used[name] = true
	if len(t.Dims) != 2 || t.Dims[0] != uint64(cols) || t.Dims[1] != uint64(rows) {
		return nil, fmt.Errorf("tensor %q has shape %v, want [%d %d]", name, t.Dims, cols, rows)
	}
	fmtw, ok := formats[t.Type]
	if !ok || (allowed != nil && !allowed[fmtw]) {
		return nil, fmt.Errorf("tensor %q has type %s, which is not supported here", name, t.Type)
	}
	data, err := l.f.TensorData(t)
	if err != nil {
		return nil, err
	}
	m, err := runtime.NewMatrix(fmtw, rows, cols, data)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", name, err)
	}
	return m, nil
}

func (l *tensorLoader) vector(name string, n int) ([]float32, error) {
	t, ok := l.f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("tensor %q is missing", name)
	}
	l.used[name] = true
	if len(t.Dims) != 1 || t.Dims[0] != uint64(n) {
		return nil, fmt.Errorf("tensor %q has shape %v, want [%d]", name, t.Dims, n)
	}
	m, err := l.matrix1(t, n)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", name, err)
	}
	return m, nil
}

// matrix1 reads a 1-D tensor into a fresh float32 slice.
func (l *tensorLoader) matrix1(t *gguf.TensorInfo, n int) ([]float32, error) {
	fmtw, ok := formats[t.Type]
	if !ok || (fmtw != runtime.F32 && fmtw != runtime.F16 && fmtw != runtime.BF16) {
		return nil, fmt.Errorf("type %s is not supported for a vector", t.Type)
	}
	data, err := l.f.TensorData(t)
	if err != nil {
		return nil, err
	}
	m, err := runtime.NewMatrix(fmtw, 1, n, data)
	if err != nil {
		return nil, err
	}
	out := make([]float32, n)
	m.RowF32(out, 0)
	return out, nil
}

// optionalScale reads an optional one-element scale tensor (0 if absent).
func (l *tensorLoader) optionalScale(name string) (float32, error) {
	t, ok := l.f.Tensor(name)
	if !ok {
		return 0, nil
	}
	l.used[name] = true
	if t.Elements() != 1 {
		return 0, fmt.Errorf("tensor %q has shape %v, want one element", name, t.Dims)
	}
	v, err := l.matrix1(t, 1)
	if err != nil {
		return 0, fmt.Errorf("tensor %q: %w", name, err)
	}
	return v[0], nil
}

// FromFile builds a model whose weights alias f's tensor data.
func FromFile(f *gguf.File) (*runtime.Model, error) {
	c, err := ConfigFromFile(f)
	if err != nil {
		return nil, err
	}
	info := architectures[c.Arch]
	// Check before allocating per-layer state, so a forged block_count
	// cannot ask for a huge allocation.
	if c.Layers > len(f.Tensors)/info.blockCount {
		return nil, fmt.Errorf("%s is %d, but the file has only %d tensors", layout.Key(c.Arch, layout.BlockCount), c.Layers, len(f.Tensors))
	}
	for _, t := range f.Tensors {
		if strings.HasSuffix(t.Name, layout.BiasSuffix) {
			return nil, fmt.Errorf("tensor %q: biases are not supported (BitLinear has none)", t.Name)
		}
	}
	if _, ok := f.Tensor(layout.RopeFreqs); ok {
		// Llama-3.1-style RoPE frequency factors; none of the BitNet
		// checkpoints uses them.
		return nil, fmt.Errorf("tensor %q (RoPE frequency factors) is not supported", layout.RopeFreqs)
	}
	l := &tensorLoader{f: f, used: make(map[string]bool, len(f.Tensors))}
	m := &runtime.Model{Config: c}
	if m.Embed, err = l.matrix(layout.TokenEmbd, c.Vocab, c.Dim, nil); err != nil {
		return nil, err
	}
	if m.OutputNorm, err = l.vector(layout.OutputNorm, c.Dim); err != nil {
		return nil, err
	}
	m.Output = m.Embed
	if _, ok := f.Tensor(layout.Output); ok {
		if info.ownOutput {
			// build_llama's head is output.weight, token_embd only when
			// it is absent (tied embeddings).
			if m.Output, err = l.matrix(layout.Output, c.Vocab, c.Dim, nil); err != nil {
				return nil, err
			}
		} else {
			// Both fork builders of the bitnet graphs compute logits with
			// token_embd even when an output.weight exists; do the same.
			l.used[layout.Output] = true
		}
	}
	m.Layers = make([]runtime.Layer, c.Layers)
	for i := range m.Layers {
		L := &m.Layers[i]
		type vec struct {
			dst  *[]float32
			name string
			n    int
		}
		vecs := []vec{{&L.AttnNorm, layout.AttnNorm, c.Dim}, {&L.FFNNorm, layout.FFNNorm, c.Dim}}
		if info.subNorms {
			vecs = append(vecs, vec{&L.AttnSubNorm, layout.AttnSubNorm, c.QDim()}, vec{&L.FFNSubNorm, layout.FFNSubNorm, c.FFN})
		}
		for _, v := range vecs {
			if *v.dst, err = l.vector(layout.Block(i, v.name), v.n); err != nil {
				return nil, err
			}
		}
		mats := []struct {
			dst        **runtime.Matrix
			scale      *float32
			name       string
			rows, cols int
		}{
			{&L.Wq, &L.ScaleQ, layout.AttnQ, c.QDim(), c.Dim},
			{&L.Wk, &L.ScaleK, layout.AttnK, c.KVDim(), c.Dim},
			{&L.Wv, &L.ScaleV, layout.AttnV, c.KVDim(), c.Dim},
			{&L.Wo, &L.ScaleO, layout.AttnOutput, c.Dim, c.QDim()},
			{&L.Wgate, &L.ScaleGate, layout.FFNGate, c.FFN, c.Dim},
			{&L.Wup, &L.ScaleUp, layout.FFNUp, c.FFN, c.Dim},
			{&L.Wdown, &L.ScaleDown, layout.FFNDown, c.Dim, c.FFN},
		}
		for _, mt := range mats {
			if *mt.dst, err = l.matrix(layout.Block(i, mt.name), mt.rows, mt.cols, projectionFormats); err != nil {
				return nil, err
			}
			if f := (*mt.dst).Format; f == runtime.TQ1_0 || f == runtime.TQ2_0 {
				// Only upstream llama.cpp runs TQ1_0/TQ2_0 (the fork predates them).
				m.Engine = runtime.Upstream
			}
			if !info.scales {
				continue // only build_bitnet reads .scale tensors
			}
			if *mt.scale, err = l.optionalScale(layout.BlockScale(i, mt.name)); err != nil {
				return nil, err
			}
		}
	}
	// llama.cpp refuses a file with tensors its graph does not create; so
	// do we, rather than run a graph that ignores part of the model.
	for _, t := range f.Tensors {
		if !l.used[t.Name] {
			return nil, fmt.Errorf("tensor %q is not part of the %s graph", t.Name, c.Arch)
		}
	}
	return m, nil
}
