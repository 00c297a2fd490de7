package tokenizer

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bitnet-go/bitnet/internal/testutil"
)

// fuzzTokenizers are the vocabularies FuzzBytes runs on: the repository's
// bundled model (always there) and those of ../shared that exist (BPE with
// the Llama-3, GPT-2 and default pre-tokenizers, SentencePiece).
func fuzzTokenizers(f *testing.F) map[string]*Tokenizer {
	tks := map[string]*Tokenizer{
		"bundled": load(f, filepath.Join(testutil.RepoRoot(), "testdata", "tinystories-bitnet-i2_s.gguf"), Options{}),
	}
	for _, name := range []string{"ggml-vocab-bitnet-2b4t-nopre.gguf", "ggml-vocab-llama-bpe.gguf", "ggml-vocab-gpt-2.gguf", "ggml-vocab-llama-spm.gguf"} {
		p := filepath.Join(testutil.RepoRoot(), "..", "shared", "testdata", "tokenizers", name)
		if _, err := os.Stat(p); err == nil {
			tks[name] = load(f, p, Options{})
		} else {
			f.Logf("missing %s: fuzzing without it", p)
		}
	}
	return tks
}

// FuzzBytes feeds arbitrary bytes to every tokenizer, as text and as ids:
//   - Encode never panics, returns ids of the vocabulary, and is
//     deterministic;
//   - for valid UTF-8 text (special tokens not parsed) decoding gives the
//     text back: byte-level BPE exactly (after llama.cpp's clean-up of
//     spaces where the vocabulary asks for it), SentencePiece with its
//     space prefix;
//   - the streaming decoder emits exactly the concatenated pieces, in whole
//     UTF-8 characters whenever the pieces form valid UTF-8;
//   - decoding arbitrary ids (negative, past the vocabulary) never panics.
func FuzzBytes(f *testing.F) {
	for _, s := range []string{"", " ", "Hello world", "3333333", "  \n\n\t x", "it's ' 're", "\xff\xfe", "🦙.cpp",
		"<|eot_id|>", "<|begin_of_text|>x", "a\u2581b", "\xe2\x96", "x\xc1\x81b", "   ,.!? 's 'll"} {
		f.Add([]byte(s), uint8(0))
		f.Add([]byte(s), uint8(3))
	}
	tks := fuzzTokenizers(f)
	f.Fuzz(func(t *testing.T, data []byte, flags uint8) {
		s := string(data)
		addSpecial, parseSpecial := flags&1 != 0, flags&2 != 0
		for name, tk := range tks {
			n := tk.NumTokens()
			ids := tk.Encode(s, addSpecial, parseSpecial)
			for _, id := range ids {
				if id < 0 || int(id) >= n {
					t.Fatalf("%s: Encode(%q) gave id %d outside [0, %d)", name, s, id, n)
				}
			}
			if again := tk.Encode(s, addSpecial, parseSpecial); !equalIDs(ids, again) {
				t.Fatalf("%s: Encode(%q) is not deterministic: %v then %v", name, s, ids, again)
			}
			var pieces []byte
			for _, id := range ids {
				pieces = append(pieces, tk.PieceSpecial(id, true)...)
			}
			if !addSpecial && !parseSpecial && utf8.ValidString(s) {
				switch tk.Model() {
				case BPE:
					want := s
					if tk.cleanSpaces {
						want = string(cleanSpaces([]byte(s)))
					}
					if got := tk.Detokenize(ids, false, true); got != want {
						t.Fatalf("%s: %q -> %v -> %q", name, s, ids, got)
					}
				case SPM:
					// (a "▁" in the text is indistinguishable from a space)
					if s != "" && !strings.Contains(s, "\u2581") && string(pieces) != " "+s {
						t.Fatalf("%s: %q -> %v -> %q", name, s, ids, pieces)
					}
				}
			}
			checkStream(t, name, tk, ids, pieces)

			// The bytes as ids: arbitrary values, most outside the vocabulary.
			var raw []int32
			for b := data; len(b) >= 4; b = b[4:] {
				raw = append(raw, int32(binary.LittleEndian.Uint32(b)))
			}
			for i := range raw {
				if i%2 == 0 { // half of them in range
					raw[i] = int32(uint32(raw[i]) % uint32(n))
				}
			}
			_ = tk.Detokenize(raw, true, true)
			_ = tk.Decode(raw)
			var rawPieces []byte
			for _, id := range raw {
				rawPieces = append(rawPieces, tk.PieceSpecial(id, true)...)
			}
			checkStream(t, name, tk, raw, rawPieces)
		}
	})
}

// checkStream decodes ids with a StreamDecoder (control tokens rendered) and
// compares with the concatenated pieces.
func checkStream(t *testing.T, name string, tk *Tokenizer, ids []int32, pieces []byte) {
	t.Helper()
	d := tk.NewStreamDecoder()
	d.Special = true
	var out strings.Builder
	for _, id := range ids {
		chunk := d.Add(id)
		if utf8.Valid(pieces) && !utf8.ValidString(chunk) {
			t.Fatalf("%s: the stream decoder emitted a partial character %q from valid pieces", name, chunk)
		}
		out.WriteString(chunk)
	}
	out.WriteString(d.Flush())
	if out.String() != string(pieces) {
		t.Fatalf("%s: stream of %v gave %q, pieces %q", name, ids, out.String(), pieces)
	}
}

func equalIDs(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
