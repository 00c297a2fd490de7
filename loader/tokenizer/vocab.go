package tokenizer

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/layout"
)

// NoToken is the id of an absent special token (llama.cpp's LLAMA_TOKEN_NULL).
const NoToken int32 = -1

// TokenType is a value of tokenizer.ggml.token_type.
type TokenType int32

const (
	TypeUndefined   TokenType = 0
	TypeNormal      TokenType = 1
	TypeUnknown     TokenType = 2
	TypeControl     TokenType = 3
	TypeUserDefined TokenType = 4
	TypeUnused      TokenType = 5
	TypeByte        TokenType = 6
)

// Attr is llama.cpp's per-token attribute set (llama_token_attr).
type Attr uint32

const (
	AttrUndefined   Attr = 0
	AttrUnknown     Attr = 1 << 0
	AttrUnused      Attr = 1 << 1
	AttrNormal      Attr = 1 << 2
	AttrControl     Attr = 1 << 3
	AttrUserDefined Attr = 1 << 4
	AttrByte        Attr = 1 << 5
	AttrNormalized  Attr = 1 << 6
	AttrLStrip      Attr = 1 << 7
	AttrRStrip      Attr = 1 << 8
	AttrSingleWord  Attr = 1 << 9
)

func typeAttr(t TokenType) Attr {
	switch t {
	case TypeNormal:
		return AttrNormal
	case TypeUnknown:
		return AttrUnknown
	case TypeControl:
		return AttrControl
	case TypeUserDefined:
		return AttrUserDefined
	case TypeUnused:
		return AttrUnused
	case TypeByte:
		return AttrByte
	}
	return AttrUndefined
}

// Model is the tokenizer algorithm.
type Model int

const (
	SPM Model = iota + 1 // SentencePiece: tokenizer.ggml.model "llama"
	BPE                  // byte-level BPE: tokenizer.ggml.model "gpt2"
)

func (m Model) String() string {
	switch m {
	case SPM:
		return layout.TokenizerSPM
	case BPE:
		return layout.TokenizerBPE
	}
	return "Model(" + strconv.Itoa(int(m)) + ")"
}

// Vocab is the tokenizer part of a model's metadata in plain fields, for
// building a Tokenizer without a GGUF file (a trainer, a test). Unset
// optional fields take llama.cpp's defaults for the model type.
type Vocab struct {
	Model  string    // tokenizer.ggml.model: "llama" (SentencePiece) or "gpt2" (byte-level BPE)
	Pre    string    // tokenizer.ggml.pre; "" when the key is missing, which means "default"
	Tokens []string  // tokenizer.ggml.tokens
	Scores []float32 // tokenizer.ggml.scores; optional (all 0)
	Types  []int32   // tokenizer.ggml.token_type (TokenType values); optional (all normal)
	Merges []string  // tokenizer.ggml.merges, "left right", rank = index; gpt2 only

	// SpecialIDs holds tokenizer.ggml.<name>_token_id values by <name>:
	// bos, eos, eot, eom, unknown, seperator (sic), padding, cls, mask,
	// fim_pre, fim_suf, fim_mid, fim_pad, fim_rep, fim_sep, and the
	// deprecated prefix, suffix, middle. An id outside the vocabulary is
	// ignored, as llama.cpp does (it keeps the default).
	SpecialIDs map[string]uint32

	AddBOS         *bool // tokenizer.ggml.add_bos_token
	AddEOS         *bool // tokenizer.ggml.add_eos_token
	AddSpacePrefix *bool // tokenizer.ggml.add_space_prefix

	Name string // general.name; llama.cpp sets token attributes for Phi-3 by name
}

// Options changes how a Tokenizer is built.
type Options struct {
	// Pre, when not empty, replaces tokenizer.ggml.pre of a gpt2 (BPE)
	// vocabulary, e.g. "llama-bpe" to get the Llama-3 split on a file that
	// lacks the key (the official 2B4T file). Use "default" to force
	// llama.cpp's default split. The pre value also sets ignore_merges, the
	// add_bos default and the detokenizer's space clean-up, as in llama.cpp.
	Pre string
}

// special-id metadata names in llama.cpp's order; later entries win
// (the deprecated prefix/suffix/middle override fim_pre/suf/mid).
var specialNames = []string{
	"bos", "eos", "eot", "eom", "unknown", "seperator", "padding", "cls", "mask",
	"fim_pre", "fim_suf", "fim_mid", "fim_pad", "fim_rep", "fim_sep",
	"prefix", "suffix", "middle",
}

// VocabFromGGUF reads the tokenizer metadata of a GGUF file.
func VocabFromGGUF(f *gguf.File) (Vocab, error) {
	var v Vocab
	var err error
	if v.Model, err = f.GetString(layout.KeyTokenizerModel); err != nil {
		return v, fmt.Errorf("tokenizer: %w", err)
	}
	if _, ok := f.Get(layout.KeyTokenizerPre); ok {
		if v.Pre, err = f.GetString(layout.KeyTokenizerPre); err != nil {
			return v, fmt.Errorf("tokenizer: %w", err)
		}
	}
	if v.Tokens, err = gguf.GetArray[string](f, layout.KeyTokens); err != nil {
		return v, fmt.Errorf("tokenizer: %w", err)
	}
	if _, ok := f.Get(layout.KeyScores); ok {
		if v.Scores, err = gguf.GetArray[float32](f, layout.KeyScores); err != nil {
			return v, fmt.Errorf("tokenizer: %w", err)
		}
	}
	if _, ok := f.Get(layout.KeyTokenTypes); ok {
		if v.Types, err = gguf.GetArray[int32](f, layout.KeyTokenTypes); err != nil {
			return v, fmt.Errorf("tokenizer: %w", err)
		}
	}
	if _, ok := f.Get(layout.KeyMerges); ok {
		if v.Merges, err = gguf.GetArray[string](f, layout.KeyMerges); err != nil {
			return v, fmt.Errorf("tokenizer: %w", err)
		}
	}
	for _, name := range specialNames {
		key := layout.SpecialTokenKey(name)
		if _, ok := f.Get(key); !ok {
			continue
		}
		id, err := f.GetUint(key)
		if err != nil {
			return v, fmt.Errorf("tokenizer: %w", err)
		}
		if id > 1<<31-1 {
			continue
		}
		if v.SpecialIDs == nil {
			v.SpecialIDs = map[string]uint32{}
		}
		v.SpecialIDs[name] = uint32(id)
	}
	for key, dst := range map[string]**bool{
		layout.AddTokenKey("bos"): &v.AddBOS,
		layout.AddTokenKey("eos"): &v.AddEOS,
		layout.KeyAddSpacePrefix:  &v.AddSpacePrefix,
	} {
		if _, ok := f.Get(key); !ok {
			continue
		}
		b, err := f.GetBool(key)
		if err != nil {
			return v, fmt.Errorf("tokenizer: %w", err)
		}
		*dst = &b
	}
	if _, ok := f.Get(layout.KeyName); ok {
		v.Name, _ = f.GetString(layout.KeyName)
	}
	return v, nil
}

// FromGGUF builds the tokenizer of a GGUF file as llama.cpp's llm_load_vocab
// does.
func FromGGUF(f *gguf.File, opt Options) (*Tokenizer, error) {
	v, err := VocabFromGGUF(f)
	if err != nil {
		return nil, err
	}
	return New(v, opt)
}

// Tokenizer turns text into token ids and back, as llama.cpp does. It is
// safe for concurrent use.
type Tokenizer struct {
	model Model
	pre   string // resolved pre-tokenizer name (BPE)
	split []splitStep

	ignoreMerges   bool
	addBOS, addEOS bool
	addSpacePrefix bool
	cleanSpaces    bool

	tokens []string
	scores []float32
	attrs  []Attr
	toID   map[string]int32

	bos, eos, eot, eom, unk, sep, pad, cls, mask, nl int32
	fimPre, fimSuf, fimMid, fimPad, fimRep, fimSep   int32
	eog                                              map[int32]bool
	specials                                         []int32 // control/user-defined/unknown ids, longest text first

	// BPE: symbols are the vocabulary texts (id = token id) plus the texts
	// that only occur in merges (ids from len(tokens)).
	merges   map[uint64]merge
	byteSym  [256]int32   // symbol of the mapped form of each raw byte, or -1
	byteByte [256][]int32 // fallback tokens of each single byte of a mapped char

	// SPM: token of each byte for byte fallback, or -1.
	byteTok [256]int32

	pieces [][]byte // llama_token_to_piece with special=true, per token

	cacheMu sync.Mutex
	cache   map[string][]int32 // BPE word -> ids
}

type merge struct {
	rank   int32
	result int32 // symbol
}

// New builds a tokenizer from plain vocabulary fields.
func New(v Vocab, opt Options) (*Tokenizer, error) {
	t := &Tokenizer{
		bos: NoToken, eos: NoToken, eot: NoToken, eom: NoToken, unk: NoToken,
		sep: NoToken, pad: NoToken, cls: NoToken, mask: NoToken, nl: NoToken,
		fimPre: NoToken, fimSuf: NoToken, fimMid: NoToken, fimPad: NoToken, fimRep: NoToken, fimSep: NoToken,
	}
	n := len(v.Tokens)
	if n == 0 {
		return nil, errors.New("tokenizer: empty vocabulary")
	}
	if n > 1<<31-1 {
		return nil, fmt.Errorf("tokenizer: %d tokens is too many", n)
	}
	if v.Scores != nil && len(v.Scores) < n {
		return nil, fmt.Errorf("tokenizer: %d scores for %d tokens", len(v.Scores), n)
	}
	if v.Types != nil && len(v.Types) < n {
		return nil, fmt.Errorf("tokenizer: %d token types for %d tokens", len(v.Types), n)
	}
	switch v.Model {
	case layout.TokenizerSPM:
		t.model = SPM
		t.bos, t.eos, t.unk = 1, 2, 0
		t.addSpacePrefix = true
		t.addBOS = true
	case layout.TokenizerBPE:
		t.model = BPE
		if v.Merges == nil {
			return nil, errors.New("tokenizer: gpt2 model without tokenizer.ggml.merges")
		}
		t.bos, t.eos = 11, 11
		pre := v.Pre
		if opt.Pre != "" {
			pre = opt.Pre
		}
		p, err := lookupPre(pre)
		if err != nil {
			return nil, err
		}
		if pre == "" {
			pre = "default"
		}
		t.pre = pre
		t.split = p.steps
		t.ignoreMerges = p.ignoreMerges
		t.addBOS = p.addBOS
		t.cleanSpaces = p.cleanSpaces
		if p.noBOS {
			t.bos = NoToken
		}
	default:
		return nil, fmt.Errorf("tokenizer: unsupported tokenizer model %q", v.Model)
	}
	if v.AddSpacePrefix != nil {
		t.addSpacePrefix = *v.AddSpacePrefix
	}

	t.tokens = make([]string, n)
	t.scores = make([]float32, n)
	t.attrs = make([]Attr, n)
	t.toID = make(map[string]int32, n)
	for i, s := range v.Tokens {
		if s == "" {
			s = "[EMPTY_" + strconv.Itoa(i) + "]"
		}
		t.tokens[i] = s
		t.toID[s] = int32(i) // the last of duplicate texts wins, as in llama.cpp
		if v.Scores != nil {
			t.scores[i] = v.Scores[i]
		}
		t.attrs[i] = AttrNormal
		if v.Types != nil {
			t.attrs[i] = typeAttr(TokenType(v.Types[i]))
		}
	}

	if t.model == BPE {
		t.buildMerges(v.Merges)
	} else {
		for b := 0; b < 256; b++ {
			t.byteTok[b] = t.spmByteToken(byte(b))
		}
	}
	// llama.cpp's linefeed id: SPM "<0x0A>"; BPE the first token of the
	// text "\u010a" (the mapped newline, tokenized as text).
	if t.model == SPM {
		t.nl = t.byteTok['\n']
	} else if ids := t.encodeText(nil, "\u010a"); len(ids) > 0 {
		t.nl = ids[0]
	} else {
		t.nl = t.pad
	}

	for _, name := range specialNames {
		id, ok := v.SpecialIDs[name]
		if !ok || int(id) >= n {
			continue
		}
		*t.specialField(name) = int32(id)
	}
	// a default id beyond a small vocabulary (BPE's 11) means none
	for _, p := range []*int32{&t.bos, &t.eos, &t.unk} {
		if int(*p) >= n {
			*p = NoToken
		}
	}
	if v.AddBOS != nil {
		t.addBOS = *v.AddBOS
	}
	if v.AddEOS != nil {
		t.addEOS = *v.AddEOS
	}
	t.detectSpecials()

	for id := range t.attrs {
		if t.attrs[id]&(AttrControl|AttrUserDefined|AttrUnknown) != 0 {
			t.specials = append(t.specials, int32(id))
		}
	}
	// llama.cpp sorts by length with std::sort (order among equal lengths
	// unspecified); we break ties by id.
	slices.SortStableFunc(t.specials, func(a, b int32) int {
		return cmp.Compare(len(t.tokens[b]), len(t.tokens[a]))
	})

	t.buildPieces()
	t.setNamedAttrs(v)
	return t, nil
}

func (t *Tokenizer) specialField(name string) *int32 {
	switch name {
	case "bos":
		return &t.bos
	case "eos":
		return &t.eos
	case "eot":
		return &t.eot
	case "eom":
		return &t.eom
	case "unknown":
		return &t.unk
	case "seperator":
		return &t.sep
	case "padding":
		return &t.pad
	case "cls":
		return &t.cls
	case "mask":
		return &t.mask
	case "fim_pre", "prefix":
		return &t.fimPre
	case "fim_suf", "suffix":
		return &t.fimSuf
	case "fim_mid", "middle":
		return &t.fimMid
	case "fim_pad":
		return &t.fimPad
	case "fim_rep":
		return &t.fimRep
	case "fim_sep":
		return &t.fimSep
	}
	panic("tokenizer: unknown special token name " + name)
}

// detectSpecials finds EOT, EOM, FIM and end-of-generation tokens by their
// text, as llama.cpp does. llama.cpp walks a hash map, so when several
// texts match, which one it takes is unspecified; we take the lowest id.
func (t *Tokenizer) detectSpecials() {
	markControl := func(id int32) { t.attrs[id] = forceControl(t.attrs[id]) }
	find := func(dst *int32, texts ...string) {
		if *dst != NoToken {
			return
		}
		best := NoToken
		for _, s := range texts {
			if id, ok := t.toID[s]; ok && (best == NoToken || id < best) {
				best = id
			}
		}
		if best != NoToken {
			*dst = best
			markControl(best)
		}
	}
	find(&t.eot, "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>", "<｜end▁of▁sentence｜>")
	find(&t.eom, "<|eom_id|>")
	find(&t.fimPre, "<|fim_prefix|>", "<fim-prefix>", "<｜fim▁begin｜>", "<PRE>")
	find(&t.fimSuf, "<|fim_suffix|>", "<fim-suffix>", "<｜fim▁hole｜>", "<SUF>")
	find(&t.fimMid, "<|fim_middle|>", "<fim-middle>", "<｜fim▁end｜>", "<MID>")
	find(&t.fimPad, "<|fim_pad|>", "<fim-pad>", "<PAD>")
	find(&t.fimRep, "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>")
	find(&t.fimSep, "<|file_sep|>")

	t.eog = map[int32]bool{}
	for _, id := range []int32{t.fimPad, t.fimRep, t.fimSep} {
		if id != NoToken {
			t.eog[id] = true
		}
	}
	for _, s := range []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>"} {
		if id, ok := t.toID[s]; ok {
			t.eog[id] = true
			markControl(id)
		}
	}
	for _, id := range []int32{t.eos, t.eot, t.eom} {
		if id != NoToken {
			t.eog[id] = true
		}
	}
}

// forceControl is llama.cpp's override of a control-looking token that the
// file does not mark as control: its type becomes control (other bits go).
func forceControl(a Attr) Attr {
	if a&AttrControl != 0 {
		return a
	}
	return AttrControl
}

// setNamedAttrs applies llama.cpp's per-model strip attributes.
func (t *Tokenizer) setNamedAttrs(v Vocab) {
	containsAny := func(s string, subs ...string) bool {
		for _, x := range subs {
			if strings.Contains(s, x) {
				return true
			}
		}
		return false
	}
	name := strings.ToLower(v.Name)
	switch {
	case containsAny(v.Pre, "jina-v2-de", "jina-v2-es", "jina-v2-code"):
		if id, ok := t.toID["<mask>"]; ok {
			t.attrs[id] |= AttrLStrip
		}
	case containsAny(name, "phi-3", "phi3"):
		for _, id := range t.specials {
			t.attrs[id] |= AttrRStrip
		}
		if id, ok := t.toID["</s>"]; ok {
			t.attrs[id] |= AttrRStrip
		}
		for _, s := range []string{"<unk>", "<s>", "<|endoftext|>"} {
			if id, ok := t.toID[s]; ok {
				t.attrs[id] &^= AttrRStrip
			}
		}
	}
}

// spmByteToken is llama_byte_to_token for SentencePiece: "<0xNN>" (upper
// case hex), else the one-byte text, else -1 (llama.cpp would throw).
func (t *Tokenizer) spmByteToken(b byte) int32 {
	const hex = "0123456789ABCDEF"
	if id, ok := t.toID[string([]byte{'<', '0', 'x', hex[b>>4], hex[b&15], '>'})]; ok {
		return id
	}
	if id, ok := t.toID[string([]byte{b})]; ok {
		return id
	}
	return -1
}

// buildMerges indexes the merge list by symbol pair.
func (t *Tokenizer) buildMerges(merges []string) {
	n := int32(len(t.tokens))
	extraID := map[string]int32{}
	sym := func(s string) int32 {
		if id, ok := t.toID[s]; ok {
			return id
		}
		if id, ok := extraID[s]; ok {
			return id
		}
		id := n + int32(len(extraID))
		extraID[s] = id
		return id
	}
	t.merges = make(map[uint64]merge, len(merges))
	var buf []byte
	for i, m := range merges {
		// split at the first space after position 0; no space gives the
		// pair ("", ""), which never matches
		sp := -1
		if len(m) > 1 {
			if j := strings.IndexByte(m[1:], ' '); j >= 0 {
				sp = j + 1
			}
		}
		if sp < 0 || sp == len(m)-1 {
			continue
		}
		left, right := m[:sp], m[sp+1:]
		a, b := sym(left), sym(right)
		key := uint64(uint32(a))<<32 | uint64(uint32(b))
		if _, dup := t.merges[key]; dup {
			continue // the first rank wins (std::map::emplace)
		}
		buf = append(append(buf[:0], left...), right...)
		var c int32
		if id, ok := t.toID[string(buf)]; ok {
			c = id
		} else {
			c = sym(string(buf))
		}
		t.merges[key] = merge{rank: int32(i), result: c}
	}
	var mapped []byte
	for b := 0; b < 256; b++ {
		mapped = appendCpt(mapped[:0], uint32(byteToRune[b]))
		if id, ok := t.toID[string(mapped)]; ok {
			t.byteSym[b] = id
		} else if id, ok := extraID[string(mapped)]; ok {
			t.byteSym[b] = id
		} else {
			t.byteSym[b] = -1
		}
		// fallback when the symbol is no token: each byte of its text as a
		// one-byte token, if there is one
		for _, c := range mapped {
			if id, ok := t.toID[string([]byte{c})]; ok {
				t.byteByte[b] = append(t.byteByte[b], id)
			}
		}
	}
}
