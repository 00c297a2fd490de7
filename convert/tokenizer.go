package convert

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/layout"
)

// vocabulary is the tokenizer part of the GGUF metadata, in the order the
// reference converters write it.
type vocabulary struct {
	model   string // tokenizer.ggml.model: "gpt2" or "llama"
	pre     string // tokenizer.ggml.pre; "" leaves the key out
	tokens  []string
	scores  []float32 // nil leaves the key out
	types   []int32
	merges  []string // nil leaves the key out
	special specialVocab
}

// specialVocab follows gguf-py's SpecialVocab (the fork's copy): special
// token ids from tokenizer_config.json's <typ>_token matched against
// tokenizer.json's added tokens, then config.json's <typ>_token_id;
// add_<typ>_token flags and chat_template from tokenizer_config.json.
type specialVocab struct {
	ids          []typedID
	add          []typedFlag
	chatTemplate *string
}

type typedID struct {
	typ string
	id  uint32
}

type typedFlag struct {
	typ string
	v   bool
}

var specialTypes = []string{"bos", "eos", "unk", "sep", "pad", "cls", "mask"}

func (s *specialVocab) set(typ string, id int64, nVocab int) {
	if id < 0 || (nVocab > 0 && id >= int64(nVocab)) {
		return
	}
	for _, x := range s.ids {
		if x.typ == typ {
			return
		}
	}
	s.ids = append(s.ids, typedID{typ, uint32(id)})
}

func (s *specialVocab) id(typ string) (uint32, bool) {
	for _, x := range s.ids {
		if x.typ == typ {
			return x.id, true
		}
	}
	return 0, false
}

// addedToken is an entry of tokenizer.json's added_tokens.
type addedToken struct {
	ID      int64  `json:"id"`
	Content string `json:"content"`
	Special bool   `json:"special"`
}

// tokenizerJSON is what the converter reads from tokenizer.json.
type tokenizerJSON struct {
	Model struct {
		Type         string           `json:"type"`
		Vocab        map[string]int64 `json:"vocab"`
		Merges       json.RawMessage  `json:"merges"`
		ByteFallback bool             `json:"byte_fallback"`
	} `json:"model"`
	AddedTokens  []addedToken    `json:"added_tokens"`
	PreTokenizer json.RawMessage `json:"pre_tokenizer"`
	Decoder      struct {
		Type string `json:"type"`
	} `json:"decoder"`
}

func loadTokenizerJSON(dir string) (*tokenizerJSON, error) {
	p := filepath.Join(dir, "tokenizer.json")
	b, err := readFile(p, maxJSONSize)
	if err != nil {
		return nil, err
	}
	var t tokenizerJSON
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return &t, nil
}

// merges returns the BPE merges as "a b" strings (tokenizers writes either
// strings or, since 0.20, pairs).
func (t *tokenizerJSON) merges() ([]string, error) {
	if len(t.Model.Merges) == 0 {
		return nil, nil
	}
	var s []string
	if err := json.Unmarshal(t.Model.Merges, &s); err == nil {
		return s, nil
	}
	var pairs [][2]string
	if err := json.Unmarshal(t.Model.Merges, &pairs); err != nil {
		return nil, fmt.Errorf("tokenizer.json: merges are neither strings nor pairs: %v", err)
	}
	s = make([]string, len(pairs))
	for i, p := range pairs {
		s[i] = p[0] + " " + p[1]
	}
	return s, nil
}

func (t *tokenizerJSON) checkByteLevelBPE() error {
	if t.Model.Type != "BPE" || t.Model.ByteFallback || t.Decoder.Type != "ByteLevel" {
		return fmt.Errorf("tokenizer.json is not a byte-level BPE tokenizer (model %q, byte_fallback %v, decoder %q): only GPT-2 style BPE or a SentencePiece tokenizer.model is supported", t.Model.Type, t.Model.ByteFallback, t.Decoder.Type)
	}
	return nil
}

// llama3Pattern is the Llama-3 pre-tokenizer split (tokenizer.json
// Split.pattern.Regex), which llama.cpp calls "llama-bpe".
const llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

// detectPre maps tokenizer.json's pre_tokenizer to llama.cpp's
// tokenizer.ggml.pre name. The reference converters hash the token ids of
// a probe text instead (get_vocab_base_pre), which breaks whenever the
// vocabulary changes (a fine-tune's added tokens, a cut vocabulary); the
// structure of the pre-tokenizer is what the name stands for.
func detectPre(raw json.RawMessage) (string, error) {
	type node struct {
		Type          string          `json:"type"`
		Pretokenizers []node          `json:"pretokenizers"`
		Pattern       json.RawMessage `json:"pattern"`
		UseRegex      *bool           `json:"use_regex"`
		AddPrefix     bool            `json:"add_prefix_space"`
		Behavior      string          `json:"behavior"`
	}
	var n node
	if len(raw) == 0 || string(raw) == "null" {
		return "", errors.New("tokenizer.json has no pre_tokenizer")
	}
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", fmt.Errorf("tokenizer.json pre_tokenizer: %w", err)
	}
	regex := func(n node) string {
		var p struct {
			Regex string `json:"Regex"`
		}
		json.Unmarshal(n.Pattern, &p)
		return p.Regex
	}
	switch {
	case n.Type == "ByteLevel" && (n.UseRegex == nil || *n.UseRegex) && !n.AddPrefix:
		return "gpt-2", nil
	case n.Type == "Sequence" && len(n.Pretokenizers) == 2 &&
		n.Pretokenizers[0].Type == "Split" && regex(n.Pretokenizers[0]) == llama3Pattern &&
		n.Pretokenizers[1].Type == "ByteLevel" && n.Pretokenizers[1].UseRegex != nil && !*n.Pretokenizers[1].UseRegex:
		return "llama-bpe", nil
	}
	s := string(raw)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return "", fmt.Errorf("unrecognized BPE pre-tokenizer in tokenizer.json (%s): give llama.cpp's name for it with --pre (e.g. llama-bpe, falcon3, gpt-2)", s)
}

// bpeVocabMS builds the vocabulary as convert-ms-to-gguf-bitnet.py's
// BpeVocab does: the base vocabulary in id order (score 0, NORMAL), then the
// added tokens that are not in it (score −1000, CONTROL), whose ids must
// follow the base vocabulary without gaps.
func bpeVocabMS(t *tokenizerJSON) (tokens []string, scores []float32, types []int32, err error) {
	n := len(t.Model.Vocab)
	tokens = make([]string, n)
	seen := make([]bool, n)
	for text, id := range t.Model.Vocab {
		if id < 0 || id >= int64(n) || seen[id] {
			return nil, nil, nil, fmt.Errorf("tokenizer.json: vocabulary ids are not 0..%d (token %q has id %d)", n-1, text, id)
		}
		seen[id] = true
		tokens[id] = text
	}
	scores = make([]float32, n)
	types = make([]int32, n)
	for i := range types {
		types[i] = layout.TokenNormal
	}
	var added []addedToken
	for _, a := range t.AddedTokens {
		if _, in := t.Model.Vocab[a.Content]; !in {
			added = append(added, a)
		}
	}
	sort.Slice(added, func(i, j int) bool { return added[i].ID < added[j].ID })
	for i, a := range added {
		if a.ID != int64(n+i) {
			return nil, nil, nil, fmt.Errorf("tokenizer.json: added token %q has id %d; added tokens must follow the %d base tokens without gaps", a.Content, a.ID, n)
		}
		tokens = append(tokens, a.Content)
		scores = append(scores, -1000)
		types = append(types, layout.TokenControl)
	}
	return tokens, scores, types, nil
}

// bpeVocabHF builds the vocabulary as convert-hf-to-gguf-bitnet.py's
// get_vocab_base does: ids 0..vocabSize−1, "[PAD<id>]" (USER_DEFINED) where
// the tokenizer has no token, added tokens CONTROL when special, else
// USER_DEFINED, the rest NORMAL.
//
// One deliberate difference: the reference stores each added token as
// decode(encode(token)), and a tokenizer whose post-processor prepends BOS
// (Llama-3's) turns every added token into "<|begin_of_text|>" + token —
// the special-token text bug of the fork's converter (upstream reverted the
// same change, ggml-org/llama.cpp#10864). We store the token's text.
func bpeVocabHF(t *tokenizerJSON, vocabSize int) (tokens []string, types []int32, err error) {
	rev := make(map[int64]string, vocabSize)
	for text, id := range t.Model.Vocab {
		rev[id] = text
	}
	added := map[int64]addedToken{}
	for _, a := range t.AddedTokens {
		rev[a.ID] = a.Content
		added[a.ID] = a
	}
	for id := range rev {
		if id < 0 || id >= int64(vocabSize) {
			return nil, nil, fmt.Errorf("tokenizer.json has token id %d, outside the model's vocabulary of %d", id, vocabSize)
		}
	}
	tokens = make([]string, vocabSize)
	types = make([]int32, vocabSize)
	for i := range tokens {
		id := int64(i)
		text, ok := rev[id]
		switch a, isAdded := added[id]; {
		case !ok:
			tokens[i], types[i] = "[PAD"+strconv.Itoa(i)+"]", layout.TokenUserDefined
		case isAdded && a.Special:
			tokens[i], types[i] = text, layout.TokenControl
		case isAdded:
			tokens[i], types[i] = text, layout.TokenUserDefined
		default:
			tokens[i], types[i] = text, layout.TokenNormal
		}
	}
	return tokens, types, nil
}

// loadSpecialVocab follows gguf-py's SpecialVocab (see specialVocab);
// nVocab > 0 drops ids at or past it. generation_config.json supplies
// bos/eos ids that neither tokenizer_config.json nor config.json has.
func loadSpecialVocab(dir string, tj *tokenizerJSON, cfg *config, nVocab int) (specialVocab, error) {
	var s specialVocab
	var tc map[string]any
	if err := readJSON(dir, "tokenizer_config.json", &tc); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return s, err
	}
	if tc != nil {
		if ct, ok := tc["chat_template"].(string); ok {
			s.chatTemplate = &ct
		}
		for _, typ := range specialTypes {
			if v, ok := tc["add_"+typ+"_token"].(bool); ok {
				s.add = append(s.add, typedFlag{typ, v})
			}
			var content string
			switch e := tc[typ+"_token"].(type) {
			case string:
				content = e
			case map[string]any:
				c, ok := e["content"].(string)
				if !ok {
					continue
				}
				content = c
			default:
				continue
			}
			if tj == nil {
				continue
			}
			for _, a := range tj.AddedTokens {
				if a.Content == content {
					s.set(typ, a.ID, nVocab)
					break
				}
			}
		}
	}
	for _, typ := range specialTypes {
		if id, ok, _ := cfg.raw.int(typ + "_token_id"); ok {
			s.set(typ, id, nVocab)
		}
	}
	var gc map[string]any
	if err := readJSON(dir, "generation_config.json", &gc); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return s, err
	}
	for _, typ := range []string{"bos", "eos"} {
		switch v := jsonMap(gc)[typ+"_token_id"].(type) {
		case json.Number:
			if id, err := v.Int64(); err == nil {
				s.set(typ, id, nVocab)
			}
		case []any: // Llama-3-Instruct lists several EOS ids; the first is EOS
			if len(v) > 0 {
				if n, ok := v[0].(json.Number); ok {
					if id, err := n.Int64(); err == nil {
						s.set(typ, id, nVocab)
					}
				}
			}
		}
	}
	return s, nil
}

// SentencePiece piece types (sentencepiece_model.proto).
const (
	spNormal      = 1
	spUnknown     = 2
	spControl     = 3
	spUserDefined = 4
	spUnused      = 5
	spByte        = 6
)

// spmVocab reads a SentencePiece tokenizer.model (a ModelProto; only its
// pieces are used) the way _set_vocab_sentencepiece does: every piece with
// its score; types UNKNOWN, CONTROL, UNUSED and BYTE kept, everything else
// (user-defined pieces included) NORMAL; added_tokens.json entries not in
// the vocabulary appended as USER_DEFINED (score −1000); then "[PAD<i>]"
// UNUSED tokens (score −1000) up to the model's vocabulary size.
func spmVocab(dir string, vocabSize int) (tokens []string, scores []float32, types []int32, err error) {
	p := filepath.Join(dir, "tokenizer.model")
	b, err := readFile(p, maxJSONSize)
	if err != nil {
		return nil, nil, nil, err
	}
	pieces, err := parseModelProto(b)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", p, err)
	}
	if len(pieces) == 0 {
		return nil, nil, nil, fmt.Errorf("%s: no pieces", p)
	}
	for _, pc := range pieces {
		tokens = append(tokens, pc.text)
		scores = append(scores, pc.score)
		t := layout.TokenNormal
		switch pc.typ {
		case spUnknown:
			t = layout.TokenUnknown
		case spControl:
			t = layout.TokenControl
		case spUnused:
			t = layout.TokenUnused
		case spByte:
			t = layout.TokenByte
		}
		types = append(types, t)
	}
	var added map[string]any
	if err := readJSON(dir, "added_tokens.json", &added); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil, err
	}
	if len(added) > 0 {
		have := make(map[string]bool, len(tokens))
		for _, t := range tokens {
			have[t] = true
		}
		keys := make([]string, 0, len(added))
		for k := range added {
			keys = append(keys, k)
		}
		// added_tokens.json maps text → id; Python keeps file order, which
		// for these files is id order.
		sort.Slice(keys, func(i, j int) bool {
			a, _ := added[keys[i]].(json.Number).Int64()
			b, _ := added[keys[j]].(json.Number).Int64()
			return a < b
		})
		for _, k := range keys {
			if !have[k] {
				tokens = append(tokens, k)
				scores = append(scores, -1000)
				types = append(types, layout.TokenUserDefined)
			}
		}
	}
	if len(tokens) > vocabSize {
		return nil, nil, nil, fmt.Errorf("%s has %d tokens, more than the model's vocab_size %d", p, len(tokens), vocabSize)
	}
	for i := 1; len(tokens) < vocabSize; i++ {
		tokens = append(tokens, "[PAD"+strconv.Itoa(i)+"]")
		scores = append(scores, -1000)
		types = append(types, layout.TokenUnused)
	}
	return tokens, scores, types, nil
}

type spPiece struct {
	text  string
	score float32
	typ   int
}

// parseModelProto reads the pieces (field 1) of a SentencePiece ModelProto:
// each a message with piece (1, string), score (2, float) and type (3,
// enum, default NORMAL). Other fields are skipped; every length is checked
// against the bytes that remain.
func parseModelProto(b []byte) ([]spPiece, error) {
	var pieces []spPiece
	err := walkProto(b, func(field int, wire int, v uint64, data []byte) error {
		if field != 1 {
			return nil
		}
		if wire != 2 {
			return fmt.Errorf("pieces field has wire type %d", wire)
		}
		pc := spPiece{typ: spNormal}
		err := walkProto(data, func(f int, w int, v uint64, d []byte) error {
			switch {
			case f == 1 && w == 2:
				pc.text = string(d)
			case f == 2 && w == 5:
				pc.score = math.Float32frombits(uint32(v))
			case f == 3 && w == 0:
				pc.typ = int(v)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("piece %d: %w", len(pieces), err)
		}
		pieces = append(pieces, pc)
		return nil
	})
	return pieces, err
}

// walkProto calls fn for every field of a protobuf message: v holds
// varint and fixed values, data the bytes of length-delimited fields.
func walkProto(b []byte, fn func(field, wire int, v uint64, data []byte) error) error {
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return errors.New("bad protobuf field key")
		}
		b = b[n:]
		field, wire := int(key>>3), int(key&7)
		if field == 0 {
			return errors.New("protobuf field number 0")
		}
		var v uint64
		var data []byte
		switch wire {
		case 0:
			v, n = binary.Uvarint(b)
			if n <= 0 {
				return errors.New("bad protobuf varint")
			}
			b = b[n:]
		case 1:
			if len(b) < 8 {
				return errors.New("truncated protobuf fixed64")
			}
			v, b = binary.LittleEndian.Uint64(b), b[8:]
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return errors.New("truncated protobuf length-delimited field")
			}
			data, b = b[n:n+int(l)], b[n+int(l):]
		case 5:
			if len(b) < 4 {
				return errors.New("truncated protobuf fixed32")
			}
			v, b = uint64(binary.LittleEndian.Uint32(b)), b[4:]
		default:
			return fmt.Errorf("unsupported protobuf wire type %d", wire)
		}
		if err := fn(field, wire, v, data); err != nil {
			return err
		}
	}
	return nil
}

// setVocab writes the tokenizer keys in the reference's order.
func (v *vocabulary) setKVs(w *gguf.Writer) {
	w.Set(layout.KeyTokenizerModel, gguf.String(v.model))
	if v.pre != "" {
		w.Set(layout.KeyTokenizerPre, gguf.String(v.pre))
	}
	w.Set(layout.KeyTokens, gguf.ArrayOf(v.tokens))
	if v.scores != nil {
		w.Set(layout.KeyScores, gguf.ArrayOf(v.scores))
	}
	w.Set(layout.KeyTokenTypes, gguf.ArrayOf(v.types))
	if v.merges != nil {
		w.Set(layout.KeyMerges, gguf.ArrayOf(v.merges))
	}
	for _, s := range v.special.ids {
		w.Set(layout.SpecialTokenKey(s.typ), gguf.Uint32(s.id))
	}
	for _, a := range v.special.add {
		w.Set(layout.AddTokenKey(a.typ), gguf.Bool(a.v))
	}
	if v.special.chatTemplate != nil {
		w.Set(layout.KeyChatTemplate, gguf.String(*v.special.chatTemplate))
	}
}
