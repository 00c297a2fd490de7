package tokenizer

import "slices"

// Model is the tokenizer algorithm.
func (t *Tokenizer) Model() Model { return t.model }

// Pre is the pre-tokenizer in use for BPE ("default" when the file has
// none), "" for SentencePiece.
func (t *Tokenizer) Pre() string { return t.pre }

// NumTokens is the vocabulary size.
func (t *Tokenizer) NumTokens() int { return len(t.tokens) }

// Token is the vocabulary text of id ("" when out of range). Empty texts in
// the file read as "[EMPTY_<id>]", as in llama.cpp.
func (t *Tokenizer) Token(id int32) string {
	if id < 0 || int(id) >= len(t.tokens) {
		return ""
	}
	return t.tokens[id]
}

// TokenID looks a vocabulary text up (the last id where texts repeat).
func (t *Tokenizer) TokenID(text string) (int32, bool) {
	id, ok := t.toID[text]
	return id, ok
}

// Score is the SentencePiece score of id.
func (t *Tokenizer) Score(id int32) float32 {
	if id < 0 || int(id) >= len(t.tokens) {
		return 0
	}
	return t.scores[id]
}

// Attr is the attribute set of id, after llama.cpp's adjustments
// (control-looking end tokens become control).
func (t *Tokenizer) Attr(id int32) Attr {
	if id < 0 || int(id) >= len(t.tokens) {
		return AttrUndefined
	}
	return t.attrs[id]
}

// IsControl reports whether id is a control token.
func (t *Tokenizer) IsControl(id int32) bool { return t.Attr(id)&AttrControl != 0 }

// IsEOG reports whether id ends generation: EOS, EOT, EOM, and the tokens
// llama.cpp recognises by text (<|eot_id|>, <|im_end|>, <|end|>,
// <end_of_turn>, <|endoftext|>, <|eom_id|>, <EOT>, FIM pad/repo/sep).
func (t *Tokenizer) IsEOG(id int32) bool { return id != NoToken && t.eog[id] }

// EOGIDs lists the end-of-generation ids in increasing order.
func (t *Tokenizer) EOGIDs() []int32 {
	ids := make([]int32, 0, len(t.eog))
	for id := range t.eog {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Special token ids; NoToken (-1) when the vocabulary has none.
func (t *Tokenizer) BOS() int32  { return t.bos }
func (t *Tokenizer) EOS() int32  { return t.eos }
func (t *Tokenizer) EOT() int32  { return t.eot }
func (t *Tokenizer) EOM() int32  { return t.eom }
func (t *Tokenizer) UNK() int32  { return t.unk }
func (t *Tokenizer) PAD() int32  { return t.pad }
func (t *Tokenizer) SEP() int32  { return t.sep }
func (t *Tokenizer) CLS() int32  { return t.cls }
func (t *Tokenizer) MASK() int32 { return t.mask }

// NL is llama.cpp's linefeed token: "<0x0A>" for SentencePiece; for BPE
// the first token of the text "\u010a" (llama.cpp tokenizes the mapped
// newline as text, so this is not the newline token of the vocabulary).
func (t *Tokenizer) NL() int32 { return t.nl }

// AddBOS reports whether Encode with addSpecial prepends BOS.
func (t *Tokenizer) AddBOS() bool { return t.addBOS && t.bos != NoToken }

// AddEOS reports whether Encode with addSpecial appends EOS.
func (t *Tokenizer) AddEOS() bool { return t.addEOS && t.eos != NoToken }

// AddSpacePrefix reports whether SentencePiece input gets a leading space.
func (t *Tokenizer) AddSpacePrefix() bool { return t.addSpacePrefix }
