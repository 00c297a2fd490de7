package convert

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/internal/atomicfile"
	"github.com/bitnet-go/bitnet/layout"
	"github.com/bitnet-go/bitnet/safetensors"
)

// Options control Convert.
type Options struct {
	// Type is the format of the ternary matrices: i2_s, tq1_0, tq2_0, f16,
	// bf16 or f32 (the ternarized values {−γ, 0, γ}).
	Type string
	// Head and Embd are the formats of output.weight and token_embd.weight
	// (f32, f16, bf16, q8_0 or q6_k); empty picks what the reference writes: F32
	// in an f32 file, the file's type for f16/bf16, F16 otherwise.
	Head, Embd string
	// Arch names a BitNetForCausalLM (2B4T) model's architecture:
	// bitnet-25 (default, what the fork's converter writes) or
	// bitnet-b1.58 (the published GGUF's name). Other families have one
	// architecture each.
	Arch string
	// Name overrides general.name.
	Name string
	// Pre sets tokenizer.ggml.pre for a BPE tokenizer (llama.cpp's names,
	// e.g. llama-bpe); empty detects it from tokenizer.json, or, for
	// BitNetForCausalLM, leaves the key out as the fork's converter does.
	Pre string
	// Progress, when set, receives a progress bar (carriage returns).
	Progress io.Writer
}

// Types lists the values Options.Type accepts.
var Types = []string{"i2_s", "tq1_0", "tq2_0", "f16", "bf16", "f32"}

var typeByName = map[string]gguf.Type{
	"f32": gguf.F32, "f16": gguf.F16, "bf16": gguf.BF16, "q8_0": gguf.Q8_0, "q6_k": gguf.Q6_K,
	"i2_s": gguf.I2_S, "tq1_0": gguf.TQ1_0, "tq2_0": gguf.TQ2_0,
}

var fileTypes = map[gguf.Type]uint32{
	gguf.F32: layout.FileTypeF32, gguf.F16: layout.FileTypeF16, gguf.BF16: layout.FileTypeBF16,
	gguf.I2_S: layout.FileTypeI2_S, gguf.TQ1_0: layout.FileTypeTQ1_0, gguf.TQ2_0: layout.FileTypeTQ2_0,
}

type family int

const (
	// famBitNet2B4T: BitNetForCausalLM (microsoft/bitnet-b1.58-2B-4T-bf16
	// and friends), the official path: preprocess-huggingface-bitnet.py
	// then convert-ms-to-gguf-bitnet.py.
	famBitNet2B4T family = iota
	// famBitNet1bit: BitnetForCausalLM (1bitLLM/bitnet_b1_58-*), through
	// convert-hf-to-gguf-bitnet.py's BitnetModel.
	famBitNet1bit
	// famLlamaTernary: LlamaForCausalLM with quantization_config
	// quant_method "bitnet" (HF1BitLLM/Llama3-8B-1.58-100B-tokens,
	// tiiuae/Falcon3-*-1.58bit), through LlamaModel.
	famLlamaTernary
)

const (
	kindTernary = iota
	kindEmbd
	kindHead
	kindNorm
)

type planTensor struct {
	hf         string
	name       string
	kind       int
	rows, cols int
	vector     bool
	src        rowSource
	srcDType   safetensors.DType
	typ        gguf.Type
}

// Convert converts the Hugging Face checkpoint in dir into a GGUF file at
// out, written atomically (a failed or interrupted conversion leaves no
// partial file and an existing file untouched).
func Convert(dir, out string, o Options) error {
	if err := atomicfile.CheckDestination(out); err != nil {
		return err
	}
	w, closer, err := Plan(dir, o)
	if err != nil {
		return err
	}
	defer closer()
	return atomicfile.WriteFile(out, atomicfile.Mode, func(f io.Writer) error {
		_, err := w.WriteTo(f)
		return err
	})
}

// Plan reads the checkpoint's configuration, tokenizer and tensor headers
// and returns the GGUF writer that converts it (tensor data is read and
// converted while the writer writes). close releases the checkpoint.
func Plan(dir string, o Options) (w *gguf.Writer, close func() error, err error) {
	cfg, err := loadConfig(dir)
	if err != nil {
		return nil, nil, err
	}
	var fam family
	switch cfg.arch {
	case "BitNetForCausalLM":
		fam = famBitNet2B4T
	case "BitnetForCausalLM":
		fam = famBitNet1bit
	case "LlamaForCausalLM", "LLaMAForCausalLM":
		if cfg.quantMethod != "bitnet" {
			return nil, nil, fmt.Errorf("config.json: %s without quantization_config.quant_method \"bitnet\" is not a ternary checkpoint (quant_method %q); bitnet-convert converts BitNet b1.58 models only", cfg.arch, cfg.quantMethod)
		}
		fam = famLlamaTernary
	default:
		return nil, nil, fmt.Errorf("config.json: unsupported architecture %q (supported: BitNetForCausalLM, BitnetForCausalLM, LlamaForCausalLM with quantization_config.quant_method \"bitnet\")", cfg.arch)
	}
	if err := checkAct(fam, cfg.act); err != nil {
		return nil, nil, err
	}
	arch := map[family]string{famBitNet2B4T: layout.ArchBitNet25, famBitNet1bit: layout.ArchBitNet, famLlamaTernary: layout.ArchLlama}[fam]
	if o.Arch != "" && o.Arch != arch {
		if fam == famBitNet2B4T && o.Arch == layout.ArchBitNetB158 {
			arch = o.Arch
		} else {
			return nil, nil, fmt.Errorf("--arch %s: a %s checkpoint converts to arch %s only", o.Arch, cfg.arch, arch)
		}
	}
	typ, ok := typeByName[o.Type]
	if _, isFile := fileTypes[typ]; !ok || !isFile {
		return nil, nil, fmt.Errorf("unknown --type %q (want %s)", o.Type, strings.Join(Types, ", "))
	}
	defaultSide := gguf.F16
	switch typ {
	case gguf.F32, gguf.BF16:
		defaultSide = typ
	}
	side := func(flag, v string) (gguf.Type, error) {
		if v == "" {
			return defaultSide, nil
		}
		t, ok := typeByName[v]
		if !ok || t == gguf.I2_S || t == gguf.TQ1_0 || t == gguf.TQ2_0 {
			return 0, fmt.Errorf("unknown --%s %q (want f32, f16, bf16, q8_0 or q6_k)", flag, v)
		}
		return t, nil
	}
	headType, err := side("head", o.Head)
	if err != nil {
		return nil, nil, err
	}
	embdType, err := side("embd", o.Embd)
	if err != nil {
		return nil, nil, err
	}

	ck, err := safetensors.OpenDir(dir)
	if err != nil {
		return nil, nil, err
	}
	ok = false
	defer func() {
		if !ok {
			ck.Close()
		}
	}()
	tensors, err := mapTensors(ck, cfg, fam)
	if err != nil {
		return nil, nil, err
	}
	var quantized bool
	for _, t := range tensors {
		switch t.kind {
		case kindTernary:
			t.typ = typ
		case kindEmbd:
			t.typ = embdType
		case kindHead:
			t.typ = headType
		default:
			t.typ = gguf.F32
		}
		if t.vector {
			t.typ = gguf.F32
		}
		switch t.typ {
		case gguf.F32, gguf.F16, gguf.BF16:
		default:
			quantized = true
		}
		if _, err := encodedSize(t.typ, t.rows, t.cols); err != nil {
			return nil, nil, fmt.Errorf("%s (%s, %d×%d) as %s: %w", t.name, t.hf, t.rows, t.cols, t.typ, err)
		}
	}

	voc, err := loadVocabulary(dir, cfg, fam, o.Pre)
	if err != nil {
		return nil, nil, err
	}

	w = &gguf.Writer{}
	name := o.Name
	if name == "" {
		name = filepath.Base(filepath.Clean(dir))
		if abs, err := filepath.Abs(dir); err == nil {
			name = filepath.Base(abs)
		}
		if fam == famBitNet2B4T && cfg.ctx == 4096 {
			name = "bitnet2b_2501" // convert-ms-to-gguf-bitnet.py's name for n_ctx 4096
		}
	}
	if err := setModelKVs(w, cfg, fam, arch, name, fileTypes[typ], dir); err != nil {
		return nil, nil, err
	}
	voc.setKVs(w)
	if quantized {
		w.Set(layout.KeyQuantizationVersion, gguf.Uint32(layout.QuantizationVersion))
	}

	prog := newProgress(o.Progress, tensors)
	for _, t := range tensors {
		t := t
		dims := []uint64{uint64(t.cols), uint64(t.rows)}
		if t.vector {
			dims = dims[:1]
		}
		w.Tensors = append(w.Tensors, gguf.WriterTensor{
			Name: t.name, Type: t.typ, Dims: dims,
			WriteData: func(out io.Writer) error {
				if err := encode(out, t.typ, t.src, prog.update(t.name)); err != nil {
					return fmt.Errorf("%s: %w", t.hf, err)
				}
				prog.done(t.rows * t.cols)
				return nil
			},
		})
	}
	ok = true
	return w, func() error { prog.finish(); return ck.Close() }, nil
}

func checkAct(fam family, act string) error {
	want := "silu"
	if fam == famBitNet2B4T {
		want = "relu2"
	}
	if act != "" && act != want {
		return fmt.Errorf("config.json: hidden_act %q, but this architecture's graph uses %s", act, want)
	}
	return nil
}

var layerRe = regexp.MustCompile(`^model\.layers\.(\d+)\.(.+)$`)

// blockNames maps the HF names inside a layer to GGUF block tensors.
var blockNames = map[string]struct {
	name string
	kind int
}{
	"input_layernorm.weight":          {layout.AttnNorm, kindNorm},
	"post_attention_layernorm.weight": {layout.FFNNorm, kindNorm},
	"self_attn.q_proj.weight":         {layout.AttnQ, kindTernary},
	"self_attn.k_proj.weight":         {layout.AttnK, kindTernary},
	"self_attn.v_proj.weight":         {layout.AttnV, kindTernary},
	"self_attn.o_proj.weight":         {layout.AttnOutput, kindTernary},
	"mlp.gate_proj.weight":            {layout.FFNGate, kindTernary},
	"mlp.up_proj.weight":              {layout.FFNUp, kindTernary},
	"mlp.down_proj.weight":            {layout.FFNDown, kindTernary},
	"self_attn.attn_sub_norm.weight":  {layout.AttnSubNorm, kindNorm}, // transformers BitNet
	"self_attn.inner_attn_ln.weight":  {layout.AttnSubNorm, kindNorm}, // 1bitLLM
	"mlp.ffn_sub_norm.weight":         {layout.FFNSubNorm, kindNorm},
	"mlp.ffn_layernorm.weight":        {layout.FFNSubNorm, kindNorm},
}

// skipped are tensors the reference converters drop.
func skipped(name string) bool {
	return strings.HasSuffix(name, ".rotary_emb.inv_freq") || strings.HasSuffix(name, ".attention.masked_bias") ||
		strings.HasSuffix(name, ".attention.bias") || strings.HasSuffix(name, ".weight_scale")
}

func mapTensors(ck *safetensors.Checkpoint, cfg *config, fam family) ([]*planTensor, error) {
	qDim, kvDim := cfg.heads*cfg.headDim, cfg.kvHeads*cfg.headDim
	var out []*planTensor
	byName := map[string]*planTensor{}
	usedScale := map[string]bool{}
	for _, t := range ck.Tensors {
		if skipped(t.Name) {
			continue
		}
		p := &planTensor{hf: t.Name, srcDType: t.DType}
		var rows, cols int // expected HF shape [rows, cols]; cols 0 = vector
		var bid = -1
		switch t.Name {
		case "model.embed_tokens.weight":
			p.name, p.kind, rows, cols = layout.TokenEmbd, kindEmbd, cfg.vocab, cfg.hidden
		case "lm_head.weight":
			if fam == famBitNet1bit {
				return nil, fmt.Errorf("tensor %q: the bitnet graph (1bitLLM) has no output matrix, it ties it to the embeddings", t.Name)
			}
			p.name, p.kind, rows, cols = layout.Output, kindHead, cfg.vocab, cfg.hidden
		case "model.norm.weight":
			p.name, p.kind, rows = layout.OutputNorm, kindNorm, cfg.hidden
		default:
			m := layerRe.FindStringSubmatch(t.Name)
			if m == nil {
				return nil, fmt.Errorf("unsupported tensor %q (no place for it in the %s graph)", t.Name, cfg.arch)
			}
			b, err := strconv.Atoi(m[1])
			bn, known := blockNames[m[2]]
			if err != nil || !known || b >= cfg.layers {
				return nil, fmt.Errorf("unsupported tensor %q (no place for it in the %d-layer %s graph)", t.Name, cfg.layers, cfg.arch)
			}
			if fam == famLlamaTernary && (bn.name == layout.AttnSubNorm || bn.name == layout.FFNSubNorm) {
				return nil, fmt.Errorf("tensor %q: the llama graph has no sub-norms (is this a BitNet checkpoint labelled LlamaForCausalLM?)", t.Name)
			}
			bid = b
			p.name, p.kind = layout.Block(b, bn.name), bn.kind
			switch bn.name {
			case layout.AttnNorm, layout.FFNNorm:
				rows = cfg.hidden
			case layout.AttnSubNorm:
				rows = qDim
			case layout.FFNSubNorm:
				rows = cfg.ffn
			case layout.AttnQ:
				rows, cols = qDim, cfg.hidden
			case layout.AttnK, layout.AttnV:
				rows, cols = kvDim, cfg.hidden
			case layout.AttnOutput:
				rows, cols = cfg.hidden, qDim
			case layout.FFNGate, layout.FFNUp:
				rows, cols = cfg.ffn, cfg.hidden
			case layout.FFNDown:
				rows, cols = cfg.hidden, cfg.ffn
			}
		}
		if prev, dup := byName[p.name]; dup {
			return nil, fmt.Errorf("tensors %q and %q both map to %s", prev.hf, t.Name, p.name)
		}
		byName[p.name] = p
		src, err := makeSource(ck, cfg, t, p, rows, cols, fam, usedScale)
		if err != nil {
			return nil, err
		}
		if fam == famLlamaTernary && bid >= 0 && (layout.IsBlockTensor(p.name, layout.AttnQ) || layout.IsBlockTensor(p.name, layout.AttnK)) {
			heads := cfg.heads
			if layout.IsBlockTensor(p.name, layout.AttnK) {
				heads = cfg.kvHeads
			}
			if (rows/heads)%2 != 0 {
				return nil, fmt.Errorf("tensor %q: %d rows per head cannot be permuted for rope", t.Name, rows/heads)
			}
			src = &permutedSource{rowSource: src, heads: heads}
		}
		p.src = src
		p.rows, p.cols = src.shape()
		out = append(out, p)
	}
	for _, t := range ck.Tensors {
		if strings.HasSuffix(t.Name, ".weight_scale") && !usedScale[t.Name] {
			return nil, fmt.Errorf("tensor %q scales no packed weight", t.Name)
		}
	}
	// Every tensor of the graph must be there.
	var missing []string
	need := []string{layout.TokenEmbd, layout.OutputNorm}
	for b := 0; b < cfg.layers; b++ {
		for _, n := range []string{layout.AttnNorm, layout.FFNNorm, layout.AttnQ, layout.AttnK, layout.AttnV, layout.AttnOutput, layout.FFNGate, layout.FFNUp, layout.FFNDown} {
			need = append(need, layout.Block(b, n))
		}
		if fam != famLlamaTernary {
			need = append(need, layout.Block(b, layout.AttnSubNorm), layout.Block(b, layout.FFNSubNorm))
		}
	}
	for _, n := range need {
		if byName[n] == nil {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		if len(missing) > 5 {
			missing = append(missing[:5], fmt.Sprintf("and %d more", len(missing)-5))
		}
		return nil, fmt.Errorf("the checkpoint lacks tensors of the %d-layer %s graph: %s", cfg.layers, cfg.arch, strings.Join(missing, ", "))
	}
	if fam == famBitNet2B4T {
		// convert-ms-to-gguf-bitnet.py writes the tensors in the order of
		// the preprocessed safetensors file, whose serializer sorts by
		// dtype (descending) then name; the preprocessing made the
		// ternary matrices F32 (packed ones are ranked as if they had
		// been preprocessed too).
		rank := func(p *planTensor) int {
			if p.kind == kindTernary {
				return safetensors.F32.Rank()
			}
			return p.srcDType.Rank()
		}
		sort.SliceStable(out, func(i, j int) bool {
			if ri, rj := rank(out[i]), rank(out[j]); ri != rj {
				return ri > rj
			}
			return out[i].hf < out[j].hf
		})
	}
	return out, nil
}

func makeSource(ck *safetensors.Checkpoint, cfg *config, t *safetensors.Tensor, p *planTensor, rows, cols int, fam family, usedScale map[string]bool) (rowSource, error) {
	vector := cols == 0
	shapeErr := func(want string) error {
		return fmt.Errorf("tensor %q has shape %v %s, want %s", t.Name, t.Shape, t.DType, want)
	}
	if p.kind == kindTernary && t.DType == safetensors.U8 {
		scaleName := t.Name + "_scale"
		st, ok := ck.Tensor(scaleName)
		if !ok {
			return nil, fmt.Errorf("packed tensor %q has no %s", t.Name, scaleName)
		}
		usedScale[scaleName] = true
		if st.Elements() != 1 {
			return nil, fmt.Errorf("tensor %q has %d elements: only a per-tensor weight_scale is supported", scaleName, st.Elements())
		}
		if rows%4 != 0 || len(t.Shape) != 2 || t.Shape[0] != int64(rows/4) || t.Shape[1] != int64(cols) {
			return nil, shapeErr(fmt.Sprintf("U8 [%d %d] (packed [%d %d])", rows/4, cols, rows, cols))
		}
		var sv [1]float32
		if _, err := st.ReadFloat32(sv[:], 0, nil); err != nil {
			return nil, err
		}
		if !(sv[0] > 0) || sv[0] > 1e30 {
			return nil, fmt.Errorf("tensor %q: weight_scale %v is not a positive number", scaleName, sv[0])
		}
		return &packedSource{t: t, rows: rows, cols: cols, scale: sv[0], multiply: cfg.scaleMultiplies}, nil
	}
	switch t.DType {
	case safetensors.F32, safetensors.F16, safetensors.BF16:
	default:
		return nil, fmt.Errorf("tensor %q has dtype %s (want F32, F16 or BF16%s)", t.Name, t.DType, map[bool]string{true: ", or U8 packed ternary with a weight_scale", false: ""}[p.kind == kindTernary])
	}
	if vector {
		if len(t.Shape) != 1 || t.Shape[0] != int64(rows) {
			return nil, shapeErr(fmt.Sprintf("[%d]", rows))
		}
		p.vector = true
		return &floatSource{t: t, rows: 1, cols: rows}, nil
	}
	if len(t.Shape) != 2 || t.Shape[0] != int64(rows) || t.Shape[1] != int64(cols) {
		return nil, shapeErr(fmt.Sprintf("[%d %d]", rows, cols))
	}
	var src rowSource = &floatSource{t: t, rows: rows, cols: cols}
	if p.kind == kindTernary {
		// Latent weights: ternarize. BitnetModel.weight_quant casts the
		// result back to the tensor's dtype, which is fp16 for fp16
		// checkpoints (others were made float32 before).
		src = &latentSource{src: src, f16Cast: fam == famBitNet1bit && t.DType == safetensors.F16}
	}
	return src, nil
}

// bitnetChatTemplate is the template convert-ms-to-gguf-bitnet.py writes
// into every bitnet* file, replacing tokenizer_config.json's.
const bitnetChatTemplate = "{% for message in messages %}{% if loop.first %}{{ bos_token }}{% endif %}{% if message['role'] == 'user' %}{{ 'Human: ' + message['content'] + '\\n\\nBITNETAssistant: ' + eos_token }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}"

func loadVocabulary(dir string, cfg *config, fam family, pre string) (*vocabulary, error) {
	v := &vocabulary{}
	switch fam {
	case famBitNet2B4T:
		tj, err := loadTokenizerJSON(dir)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("%s: no tokenizer.json (BitNetForCausalLM checkpoints ship a byte-level BPE tokenizer.json)", dir)
			}
			return nil, err
		}
		if err := tj.checkByteLevelBPE(); err != nil {
			return nil, err
		}
		v.model, v.pre = layout.TokenizerBPE, pre
		if v.tokens, v.scores, v.types, err = bpeVocabMS(tj); err != nil {
			return nil, err
		}
		if len(v.tokens) != cfg.vocab {
			return nil, fmt.Errorf("tokenizer.json has %d tokens, config.json's vocab_size is %d", len(v.tokens), cfg.vocab)
		}
		if v.merges, err = tj.merges(); err != nil {
			return nil, err
		}
		if v.special, err = loadSpecialVocab(dir, tj, cfg, len(v.tokens)); err != nil {
			return nil, err
		}
		ct := bitnetChatTemplate
		v.special.chatTemplate = &ct
	case famBitNet1bit, famLlamaTernary:
		if fileExists(dir, "tokenizer.model") {
			var err error
			v.model, v.pre = layout.TokenizerSPM, "default"
			if pre != "" {
				return nil, fmt.Errorf("--pre %s: a SentencePiece tokenizer has no pre-tokenizer", pre)
			}
			if v.tokens, v.scores, v.types, err = spmVocab(dir, cfg.vocab); err != nil {
				return nil, err
			}
			if v.special, err = loadSpecialVocab(dir, nil, cfg, len(v.tokens)); err != nil {
				return nil, err
			}
			break
		}
		if fam == famBitNet1bit {
			return nil, fmt.Errorf("%s: no tokenizer.model (BitnetForCausalLM checkpoints use a SentencePiece tokenizer.model)", dir)
		}
		tj, err := loadTokenizerJSON(dir)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("%s: neither tokenizer.model nor tokenizer.json", dir)
			}
			return nil, err
		}
		if err := tj.checkByteLevelBPE(); err != nil {
			return nil, err
		}
		v.model, v.pre = layout.TokenizerBPE, pre
		if v.pre == "" {
			if v.pre, err = detectPre(tj.PreTokenizer); err != nil {
				return nil, err
			}
		}
		if v.tokens, v.types, err = bpeVocabHF(tj, cfg.vocab); err != nil {
			return nil, err
		}
		if v.merges, err = tj.merges(); err != nil {
			return nil, err
		}
		if v.special, err = loadSpecialVocab(dir, tj, cfg, 0); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// setModelKVs writes the architecture keys in the order of the reference
// converter of each family.
func setModelKVs(w *gguf.Writer, cfg *config, fam family, arch, name string, fileType uint32, dir string) error {
	k := func(s string) string { return layout.Key(arch, s) }
	u := func(v int) gguf.Value { return gguf.Uint32(uint32(v)) }
	w.Set(layout.KeyArchitecture, gguf.String(arch))
	w.Set(layout.KeyName, gguf.String(name))
	if !cfg.hasCtx {
		return errors.New("config.json: missing max_position_embeddings (the training context length)")
	}
	if !cfg.hasRMSEps {
		return errors.New("config.json: missing rms_norm_eps")
	}
	if fam == famBitNet2B4T {
		// OutputFile.add_meta_arch.
		w.Set(k(layout.VocabSize), u(cfg.vocab))
		w.Set(k(layout.ContextLength), u(cfg.ctx))
		w.Set(k(layout.EmbeddingLength), u(cfg.hidden))
		w.Set(k(layout.BlockCount), u(cfg.layers))
		w.Set(k(layout.FeedForwardLength), u(cfg.ffn))
		w.Set(k(layout.RopeDimensionCount), u(cfg.hidden/cfg.heads))
		w.Set(k(layout.HeadCount), u(cfg.heads))
		w.Set(k(layout.HeadCountKV), u(cfg.kvHeads))
		w.Set(layout.AddTokenKey("bos"), gguf.Bool(true))
		w.Set(k(layout.RMSEps), gguf.Float32(float32(cfg.rmsEps)))
		if cfg.hasRopeTheta {
			w.Set(k(layout.RopeFreqBase), gguf.Float32(float32(cfg.ropeTheta)))
		}
		if err := checkRopeScaling(cfg, false); err != nil {
			return err
		}
		w.Set(layout.KeyFileType, gguf.Uint32(fileType))
		return nil
	}
	// Model.set_gguf_parameters.
	w.Set(k(layout.BlockCount), u(cfg.layers))
	w.Set(k(layout.ContextLength), u(cfg.ctx))
	w.Set(k(layout.EmbeddingLength), u(cfg.hidden))
	w.Set(k(layout.FeedForwardLength), u(cfg.ffn))
	w.Set(k(layout.HeadCount), u(cfg.heads))
	if cfg.hasKVHeads {
		w.Set(k(layout.HeadCountKV), u(cfg.kvHeads))
	}
	if cfg.hasRopeTheta {
		w.Set(k(layout.RopeFreqBase), gguf.Float32(float32(cfg.ropeTheta)))
	}
	w.Set(k(layout.RMSEps), gguf.Float32(float32(cfg.rmsEps)))
	if cfg.raw.has("num_local_experts") {
		return errors.New("config.json: mixture-of-experts models are not supported")
	}
	w.Set(layout.KeyFileType, gguf.Uint32(fileType))
	w.Set(k(layout.VocabSize), u(cfg.vocab))
	if fam == famBitNet1bit {
		// BitnetModel.set_gguf_parameters: always linear scaling 1.0.
		if err := checkRopeScaling(cfg, false); err != nil {
			return err
		}
		w.Set(k(layout.RopeScalingType), gguf.String("linear"))
		w.Set(k(layout.RopeScalingFactor), gguf.Float32(1))
		return nil
	}
	// LlamaModel.set_gguf_parameters.
	w.Set(k(layout.RopeDimensionCount), u(cfg.headDim))
	if err := checkRopeScaling(cfg, true); err != nil {
		return err
	}
	if rs := cfg.raw.obj("rope_scaling"); rs != nil {
		f, _, _ := rs.float("factor")
		w.Set(k(layout.RopeScalingType), gguf.String("linear"))
		w.Set(k(layout.RopeScalingFactor), gguf.Float32(float32(f)))
	}
	var tc map[string]any
	if err := readJSON(dir, "tokenizer_config.json", &tc); err == nil {
		if v, ok := tc["add_prefix_space"].(bool); ok {
			w.Set(layout.KeyAddSpacePrefix, gguf.Bool(v))
		}
	}
	if cfg.vocab == 49152 { // granite small models (LlamaModel)
		w.Set(layout.AddTokenKey("bos"), gguf.Bool(false))
	}
	return nil
}

// checkRopeScaling refuses rope scalings the GGUF would not carry (the
// reference converters drop them silently, which changes the model).
func checkRopeScaling(cfg *config, linearOK bool) error {
	rs := cfg.raw.obj("rope_scaling")
	if rs == nil {
		return nil
	}
	typ := rs.str("type")
	if typ == "" {
		typ = rs.str("rope_type")
	}
	f, hasF, err := rs.float("factor")
	if err != nil {
		return fmt.Errorf("config.json rope_scaling: %w", err)
	}
	if linearOK && typ == "linear" && hasF && f > 0 {
		return nil
	}
	return fmt.Errorf("config.json: rope_scaling %v is not supported (the GGUF would not carry it)", map[string]any(rs))
}
