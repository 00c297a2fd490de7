package tokenizer

import (
	"fmt"
	"unicode"
)

// cptext is a text fragment decoded into code points.
type cptext struct {
	s     string   // the bytes; every code point re-encodes to its own bytes
	cps   []uint32 // code points (rawByte|b for bytes llama.cpp rejects)
	flags []uint16 // cptFlags of each code point
	offs  []int32  // byte offset of each code point; offs[len(cps)] = len(s)
}

// decode fills t from s. llama.cpp splits the code points of the text and
// writes each piece back with its own encoder, so overlong forms come back
// in their short form; in that (rare) case t.s is that rewritten text.
func (t *cptext) decode(s string) {
	t.cps, t.flags, t.offs = t.cps[:0], t.flags[:0], t.offs[:0]
	canonical := true
	for i := 0; i < len(s); {
		cp, n := decodeCpt(s, i)
		if cptLen(cp) != n {
			canonical = false
		}
		t.cps = append(t.cps, cp)
		t.offs = append(t.offs, int32(i))
		i += n
	}
	if !canonical {
		var b []byte
		t.offs = t.offs[:0]
		for _, cp := range t.cps {
			t.offs = append(t.offs, int32(len(b)))
			b = appendCpt(b, cp)
		}
		s = string(b)
	}
	t.offs = append(t.offs, int32(len(s)))
	t.s = s
	for _, cp := range t.cps {
		t.flags = append(t.flags, cptFlags(cp))
	}
}

// A splitStep refines a partition of the code points of a text. Segments
// are given by their end indices (the first starts at 0); a step splits
// each segment on its own, never across segment borders, and appends the
// new ends to out. This is llama.cpp's unicode_regex_split, where each
// regex of a set applies to the pieces of the one before.
type splitStep func(t *cptext, ends []int32, out []int32) []int32

// pre-tokenizer definitions, by tokenizer.ggml.pre value (llama.cpp's
// llm_load_vocab and llm_tokenizer_bpe).
type preTokenizer struct {
	steps        []splitStep
	ignoreMerges bool // a pre-token that is a whole vocab entry is emitted as is
	addBOS       bool // default of add_bos before the add_bos_token key
	cleanSpaces  bool // detokenizer clean-up of " ." and the like
	noBOS        bool // chatglm-bpe: no BOS token
}

func lookupPre(name string) (preTokenizer, error) {
	gpt2 := []splitStep{splitGPT2}
	switch name {
	case "", "default":
		// [\p{P}\$\+<=>\^~\|]+ ; the GPT-2 regex ; \p{N}+ ; [0-9][0-9][0-9]
		return preTokenizer{steps: []splitStep{runSplit(isDefaultPunct), splitGPT2, runSplit(isNumberClass), splitDigitTriples}, cleanSpaces: true}, nil
	case "llama3", "llama-v3", "llama-bpe",
		// Falcon3-1.58bit and Falcon-E files: llama.cpp reads both as the
		// Llama-3 split (upstream for falcon3; the fork's Falcon-E support,
		// BitNet PR #268, for falcon_e).
		"falcon3", "falcon_e":
		return preTokenizer{steps: []splitStep{splitLlama3}, ignoreMerges: true, addBOS: true, cleanSpaces: true}, nil
	case "dbrx", "smaug-bpe":
		return preTokenizer{steps: []splitStep{splitLlama3}, cleanSpaces: true}, nil
	case "chatglm-bpe":
		return preTokenizer{steps: []splitStep{splitLlama3}, cleanSpaces: true, noBOS: true}, nil
	case "gpt-2", "phi-2", "jina-es", "jina-de", "jina-v1-en", "jina-v2-es", "jina-v2-de", "jina-v2-code",
		"mpt", "olmo", "jais":
		return preTokenizer{steps: gpt2, cleanSpaces: true}, nil
	case "falcon":
		// [\p{P}\$\+<=>\^~\|`]+ ; the GPT-2 regex ; [0-9][0-9][0-9]
		return preTokenizer{steps: []splitStep{runSplit(isFalconPunct), splitGPT2, splitDigitTriples}, cleanSpaces: true}, nil
	case "starcoder", "refact", "codeshell", "exaone":
		// \p{N} ; the GPT-2 regex
		return preTokenizer{steps: []splitStep{singleSplit(isNumberClass), splitGPT2}, cleanSpaces: true}, nil
	case "command-r", "smollm":
		return preTokenizer{steps: []splitStep{singleSplit(isNumberClass), splitGPT2}}, nil
	case "deepseek-llm", "deepseek-coder", "qwen2", "stablelm2", "poro-chat", "viking", "tekken",
		"bloom", "gpt3-finnish", "chameleon":
		return preTokenizer{}, fmt.Errorf("tokenizer: pre-tokenizer type %q is not supported", name)
	}
	return preTokenizer{}, fmt.Errorf("tokenizer: unknown pre-tokenizer type %q", name)
}

// The generic regex path of llama.cpp matches \p{..} classes on a
// "collapsed" text: ASCII stays itself, other code points become one byte
// for whitespace, number, letter, punctuation or anything else. So for
// ASCII only the listed characters count, and a non-ASCII code point counts
// by its category unless it is whitespace.

var defaultPunct = asciiSet(`!"#%&'()*,-./:;?@[\]_{}` + `$+<=>^~|`)
var falconPunct = asciiSet(`!"#%&'()*,-./:;?@[\]_{}` + "$+<=>^~|`")

func asciiSet(chars string) (s [128]bool) {
	for i := 0; i < len(chars); i++ {
		s[chars[i]] = true
	}
	return s
}

func isDefaultPunct(cp uint32, f uint16) bool {
	if cp < 0x80 {
		return defaultPunct[cp]
	}
	return f&fSpace == 0 && f&uint16(cPunct) != 0
}

func isFalconPunct(cp uint32, f uint16) bool {
	if cp < 0x80 {
		return falconPunct[cp]
	}
	return f&fSpace == 0 && f&uint16(cPunct) != 0
}

func isNumberClass(cp uint32, f uint16) bool {
	if cp < 0x80 {
		return '0' <= cp && cp <= '9'
	}
	return f&fSpace == 0 && f&uint16(cNumber) != 0
}

// runSplit is the split of a regex "[class]+": maximal runs of class
// members are pieces, and so is each stretch between them.
func runSplit(in func(cp uint32, f uint16) bool) splitStep {
	return func(t *cptext, ends []int32, out []int32) []int32 {
		lo := int32(0)
		for _, hi := range ends {
			for p := lo + 1; p < hi; p++ {
				if in(t.cps[p], t.flags[p]) != in(t.cps[p-1], t.flags[p-1]) {
					out = append(out, p)
				}
			}
			out = append(out, hi)
			lo = hi
		}
		return out
	}
}

// singleSplit is the split of a regex "[class]": each member is a piece,
// and so is each stretch between members.
func singleSplit(in func(cp uint32, f uint16) bool) splitStep {
	return func(t *cptext, ends []int32, out []int32) []int32 {
		lo := int32(0)
		for _, hi := range ends {
			for p := lo; p < hi; p++ {
				if in(t.cps[p], t.flags[p]) {
					if p > lo && (len(out) == 0 || out[len(out)-1] != p) {
						out = append(out, p)
					}
					out = append(out, p+1)
				}
			}
			if len(out) == 0 || out[len(out)-1] != hi {
				out = append(out, hi)
			}
			lo = hi
		}
		return out
	}
}

// splitDigitTriples is the split of "[0-9][0-9][0-9]": leftmost,
// non-overlapping runs of three ASCII digits are pieces, and so is each
// stretch between them ("12345" gives "123" and "45").
func splitDigitTriples(t *cptext, ends []int32, out []int32) []int32 {
	isDigit := func(p int32) bool { return '0' <= t.cps[p] && t.cps[p] <= '9' }
	lo := int32(0)
	for _, hi := range ends {
		last := lo // end of the last piece written
		for p := lo; p+3 <= hi; {
			if isDigit(p) && isDigit(p+1) && isDigit(p+2) {
				if p > last {
					out = append(out, p)
				}
				out = append(out, p+3)
				last = p + 3
				p += 3
				continue
			}
			p++
		}
		if last < hi {
			out = append(out, hi)
		}
		lo = hi
	}
	return out
}

const (
	fLetter = uint16(cLetter)
	fNumber = uint16(cNumber)
)

// splitGPT2 is llama.cpp's hand-written form of the GPT-2 regex
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// (unicode_regex_split_custom_gpt2), used for that regex even where the
// regex itself lacks the final \s+.
func splitGPT2(t *cptext, ends []int32, out []int32) []int32 {
	lo := int32(0)
	for _, hi := range ends {
		flagsAt := func(p int32) uint16 {
			if p < hi {
				return t.flags[p]
			}
			return 0
		}
		for pos := lo; pos < hi; {
			cp, f := t.cps[pos], t.flags[pos]
			if cp == '\'' && pos+1 < hi {
				n1 := t.cps[pos+1]
				if n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd' {
					pos += 2
					out = append(out, pos)
					continue
				}
				if pos+2 < hi {
					n2 := t.cps[pos+2]
					if (n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l') {
						pos += 3
						out = append(out, pos)
						continue
					}
				}
			}
			f2 := f
			if cp == ' ' {
				f2 = flagsAt(pos + 1)
			}
			if f2&fLetter != 0 || f2&fNumber != 0 {
				class := f2 & (fLetter | fNumber)
				if cp == ' ' {
					pos++
				}
				for flagsAt(pos)&class != 0 {
					pos++
				}
				out = append(out, pos)
				continue
			}
			if f2&(fSpace|fLetter|fNumber) == 0 && f2 != 0 {
				if cp == ' ' {
					pos++
				}
				for {
					g := flagsAt(pos)
					if g&(fSpace|fLetter|fNumber) != 0 || g == 0 {
						break
					}
					pos++
				}
				out = append(out, pos)
				continue
			}
			nws := int32(0)
			for flagsAt(pos+nws)&fSpace != 0 {
				nws++
			}
			switch {
			case nws > 1 && pos+nws < hi: // \s+(?!\S): leave the last one to the next piece
				pos += nws - 1
			case nws > 0:
				pos += nws
			default:
				pos++
			}
			out = append(out, pos)
		}
		lo = hi
	}
	return out
}

// splitLlama3 is llama.cpp's hand-written form of the Llama-3 regex
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// (unicode_regex_split_custom_llama3).
func splitLlama3(t *cptext, ends []int32, out []int32) []int32 {
	lo := int32(0)
	for _, hi := range ends {
		flagsAt := func(p int32) uint16 {
			if p < hi {
				return t.flags[p]
			}
			return 0
		}
		cpAt := func(p int32) uint32 {
			if p < hi {
				return t.cps[p]
			}
			return 0xFFFFFFFF
		}
		for pos := lo; pos < hi; {
			cp, f := t.cps[pos], t.flags[pos]
			if cp == '\'' && pos+1 < hi {
				n1 := toLower(t.cps[pos+1])
				if n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd' {
					pos += 2
					out = append(out, pos)
					continue
				}
				if pos+2 < hi {
					n2 := toLower(t.cps[pos+2])
					if (n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l') {
						pos += 3
						out = append(out, pos)
						continue
					}
				}
			}
			// [^\r\n\p{L}\p{N}]?\p{L}+
			if !(cp == '\r' || cp == '\n' || f&fNumber != 0) {
				if f&fLetter != 0 || flagsAt(pos+1)&fLetter != 0 {
					pos++
					for flagsAt(pos)&fLetter != 0 {
						pos++
					}
					out = append(out, pos)
					continue
				}
			}
			// \p{N}{1,3}
			if f&fNumber != 0 {
				start := pos
				for flagsAt(pos)&fNumber != 0 {
					pos++
					if pos-start >= 3 {
						out = append(out, pos)
						start = pos
					}
				}
				if pos > start {
					out = append(out, pos)
				}
				continue
			}
			// " ?[^\s\p{L}\p{N}]+[\r\n]*"
			f2 := f
			if cp == ' ' {
				f2 = flagsAt(pos + 1)
			}
			if f2&(fSpace|fLetter|fNumber) == 0 && f != 0 {
				if cp == ' ' {
					pos++
				}
				for {
					g := flagsAt(pos)
					if g&(fSpace|fLetter|fNumber) != 0 || g == 0 {
						break
					}
					pos++
				}
				for c := cpAt(pos); c == '\r' || c == '\n'; c = cpAt(pos) {
					pos++
				}
				out = append(out, pos)
				continue
			}
			nws := int32(0)
			lastRN := int32(0)
			for flagsAt(pos+nws)&fSpace != 0 {
				if c := t.cps[pos+nws]; c == '\r' || c == '\n' {
					lastRN = pos + nws + 1
				}
				nws++
			}
			switch {
			case lastRN > 0: // \s*[\r\n]+
				pos = lastRN
			case nws > 1 && pos+nws < hi: // \s+(?!\S)
				pos += nws - 1
			case nws > 0: // \s+
				pos += nws
			default:
				pos++
			}
			out = append(out, pos)
		}
		lo = hi
	}
	return out
}

// toLower is the simple lowercase mapping of UnicodeData.txt, which is what
// llama.cpp's unicode_tolower looks up.
func toLower(cp uint32) uint32 {
	if cp < 0x80 {
		if 'A' <= cp && cp <= 'Z' {
			return cp + 32
		}
		return cp
	}
	if cp&rawByte != 0 || cp > unicode.MaxRune {
		return cp
	}
	return uint32(unicode.ToLower(rune(cp)))
}
