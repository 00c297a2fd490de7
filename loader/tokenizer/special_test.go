package tokenizer

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/internal/testutil"
)

func trainedS(t testing.TB) *Tokenizer {
	return load(t, testutil.Shared(t, "golden/trained-s/ggml-model-i2_s.gguf", "the trained-s vocabulary (4096-token Llama-3 cut)"), Options{})
}

func llamaSPM(t testing.TB) *Tokenizer {
	return load(t, testutil.Shared(t, "tokenizers/ggml-vocab-llama-spm.gguf", "the Llama-2 SentencePiece vocabulary"), Options{})
}

// The ids llama.cpp printed when it loaded trained-s (i2_s.perplexity.log).
func TestSpecialIDsTrainedS(t *testing.T) {
	tk := trainedS(t)
	if tk.Model() != BPE || tk.Pre() != "default" {
		t.Errorf("model %v pre %q, want gpt2 default", tk.Model(), tk.Pre())
	}
	for _, c := range []struct {
		name      string
		got, want int32
	}{
		{"BOS", tk.BOS(), 4080}, {"EOS", tk.EOS(), 4081}, {"EOT", tk.EOT(), 4089},
		{"EOM", tk.EOM(), 4088}, {"NL", tk.NL(), 128}, {"UNK", tk.UNK(), NoToken},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if got := tk.EOGIDs(); !slices.Equal(got, []int32{4081, 4088, 4089}) {
		t.Errorf("EOG ids %v, want [4081 4088 4089]", got)
	}
	if !tk.IsEOG(4089) || tk.IsEOG(4080) || tk.IsEOG(NoToken) {
		t.Error("IsEOG wrong")
	}
	if !tk.AddBOS() || tk.AddEOS() {
		t.Errorf("AddBOS %v AddEOS %v, want true false", tk.AddBOS(), tk.AddEOS())
	}
}

func TestSpecialIDsSPM(t *testing.T) {
	tk := llamaSPM(t)
	if tk.BOS() != 1 || tk.EOS() != 2 || tk.UNK() != 0 || tk.NL() != 13 {
		t.Errorf("bos %d eos %d unk %d nl %d, want 1 2 0 13", tk.BOS(), tk.EOS(), tk.UNK(), tk.NL())
	}
	if !tk.AddBOS() || tk.AddEOS() || !tk.AddSpacePrefix() {
		t.Error("SPM add_bos/add_eos/add_space_prefix defaults wrong")
	}
	if got := tk.Encode("", true, false); !slices.Equal(got, []int32{1}) {
		t.Errorf(`Encode("", addSpecial) = %v, want [1]`, got)
	}
	if !tk.IsEOG(2) {
		t.Error("EOS is not EOG")
	}
}

// The Llama-3 test vocabulary has no add_bos_token key; llama-bpe turns
// add_bos on. Its bos/eos keys replace the BPE default of 11.
func TestBPEDefaults(t *testing.T) {
	tk := load(t, testutil.Shared(t, "tokenizers/ggml-vocab-llama-bpe.gguf", "BPE special-token defaults"), Options{})
	if tk.BOS() != 128000 || tk.EOS() != 128001 || !tk.AddBOS() {
		t.Errorf("bos %d eos %d add_bos %v, want 128000 128001 true", tk.BOS(), tk.EOS(), tk.AddBOS())
	}
	if got := tk.Encode("Hello", true, false); !slices.Equal(got, []int32{128000, 9906}) {
		t.Errorf("Encode(Hello, addSpecial) = %v", got)
	}
	gpt2 := load(t, testutil.Shared(t, "tokenizers/ggml-vocab-gpt-2.gguf", "BPE special-token defaults"), Options{})
	if gpt2.AddBOS() {
		t.Error("gpt-2 pre turned add_bos on")
	}
	if tk.EOT() != 128009 || !tk.IsEOG(128009) {
		t.Errorf("EOT %d, want <|eot_id|> 128009", tk.EOT())
	}
}

func TestParseSpecial(t *testing.T) {
	tk := trainedS(t)
	text := "hi<|eot_id|>there<|begin_of_text|>"
	got := tk.Encode(text, false, true)
	want := slices.Concat(tk.Encode("hi", false, false), []int32{4089}, tk.Encode("there", false, false), []int32{4080})
	if !slices.Equal(got, want) {
		t.Errorf("parseSpecial: got %v, want %v", got, want)
	}
	plain := tk.Encode(text, false, false)
	if slices.Contains(plain, 4089) || slices.Contains(plain, 4080) {
		t.Errorf("without parseSpecial the special texts became tokens: %v", plain)
	}
	if s := tk.Decode(plain); s != text {
		t.Errorf("plain special text decodes to %q", s)
	}
	// control tokens render empty unless asked
	if p := tk.Piece(4089); len(p) != 0 {
		t.Errorf("Piece(<|eot_id|>) = %q, want empty", p)
	}
	if p := tk.PieceSpecial(4089, true); string(p) != "<|eot_id|>" {
		t.Errorf("PieceSpecial(<|eot_id|>, true) = %q", p)
	}
	if s := tk.Detokenize(got, false, true); s != text {
		t.Errorf("Detokenize(unparseSpecial) = %q, want %q", s, text)
	}
}

// SPM puts the space prefix at the start and after every special token.
func TestSPMSpecialSpacePrefix(t *testing.T) {
	tk := llamaSPM(t)
	got := tk.Encode("Hello</s>world", true, true)
	want := slices.Concat([]int32{1}, tk.Encode("Hello", false, false), []int32{2}, tk.Encode("world", false, false))
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if s := tk.Decode(tk.Encode("Hello world", false, false)); s != "Hello world" {
		t.Errorf("Decode drops the space prefix: got %q", s)
	}
	// llama_detokenize strips the prefix from the first token only, even
	// when that token is an empty BOS
	if s := tk.Decode(tk.Encode("Hello world", true, false)); s != " Hello world" {
		t.Errorf("Decode with BOS: got %q", s)
	}
	// removing the BOS also turns the prefix removal off (llama.cpp)
	if s := tk.Detokenize(tk.Encode("Hello world", true, false), true, false); s != " Hello world" {
		t.Errorf("Detokenize(removeSpecial): got %q", s)
	}
}

func TestCleanSpaces(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Hello , world !", "Hello, world!"},
		{"what ?", "what?"},
		{"it 's and we 're and I 'm", "it's and we're and I'm"},
		{"don 't and he 'd and we 'll", "don 't and he 'd and we 'll"},
		{"a ' b", "a'b"},
		{"a ' ' b", "a'' b"}, // llama.cpp's second pass hides the space after the first " ' "
		{"", ""},
		{" ", " "},
	} {
		if got := string(cleanSpaces([]byte(c.in))); got != c.want {
			t.Errorf("cleanSpaces(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	tk := trainedS(t)
	if got := tk.Decode(tk.Encode("Hello , world !", false, false)); got != "Hello, world!" {
		t.Errorf("BPE Decode = %q", got)
	}
}

func TestStreamDecoderByteFallback(t *testing.T) {
	tk := llamaSPM(t)
	text := "a 𝔘𝔫 b ü" // math fraktur letters are not in the Llama-2 vocabulary
	ids := tk.Encode(text, false, false)
	nbytes := 0
	for _, id := range ids {
		if tk.Attr(id)&AttrByte != 0 {
			nbytes++
		}
	}
	if nbytes < 8 {
		t.Fatalf("want two 4-byte characters as byte tokens, got %v", ids)
	}
	d := tk.NewStreamDecoder()
	var out strings.Builder
	held := 0
	for _, id := range ids {
		s := d.Add(id)
		if !utf8.ValidString(s) {
			t.Errorf("Add(%d) returned a broken character %q", id, s)
		}
		if s == "" && len(tk.Piece(id)) > 0 {
			held++
		}
		out.WriteString(s)
	}
	out.WriteString(d.Flush())
	if out.String() != " "+text {
		t.Errorf("stream gave %q, want %q", out.String(), " "+text)
	}
	if held < 6 {
		t.Errorf("only %d tokens were held back", held)
	}
	// an incomplete character at the end comes out of Flush
	d = tk.NewStreamDecoder()
	f0, _ := tk.TokenID("<0xF0>")
	if s := d.Add(f0); s != "" {
		t.Errorf("lone lead byte was emitted: %q", s)
	}
	if s := d.Flush(); s != "\xf0" {
		t.Errorf("Flush = %q, want the held byte", s)
	}
}

// BPE pieces can hold parts of a character too (Khmer, emoji).
func TestStreamDecoderBPE(t *testing.T) {
	tk := trainedS(t)
	text := "kid 🦙 said ភាសា ok"
	ids := tk.Encode(text, false, false)
	d := tk.NewStreamDecoder()
	var out strings.Builder
	for _, id := range ids {
		s := d.Add(id)
		if !utf8.ValidString(s) {
			t.Errorf("Add(%d) returned a broken character %q", id, s)
		}
		out.WriteString(s)
	}
	out.WriteString(d.Flush())
	if out.String() != text {
		t.Errorf("stream gave %q, want %q", out.String(), text)
	}
}

// The pieces and generated text the fork printed for the golden runs.
func TestGoldenPieces(t *testing.T) {
	for _, set := range []string{"b158-s", "trained-s", "bitnet-s", "llama-s"} {
		t.Run(set, func(t *testing.T) {
			js := testutil.Shared(t, "golden/"+set+"/i2_s.json", "token pieces of the "+set+" golden runs")
			tk := load(t, testutil.Shared(t, "golden/"+set+"/ggml-model-i2_s.gguf", "the "+set+" vocabulary"), Options{})
			raw, err := os.ReadFile(js)
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Runs []struct {
					PromptTokens []int32  `json:"prompt_tokens"`
					PromptPieces []string `json:"prompt_pieces_hex"`
					GenTokens    []int32  `json:"generated_tokens"`
					GenPieces    []string `json:"generated_pieces_hex"`
					GenTextHex   string   `json:"generated_text_hex"`
				} `json:"runs"`
			}
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatal(err)
			}
			checked := 0
			for _, r := range doc.Runs {
				check := func(ids []int32, pieces []string) {
					if len(ids) != len(pieces) {
						t.Fatalf("%d ids, %d pieces", len(ids), len(pieces))
					}
					for i, id := range ids {
						want, _ := hex.DecodeString(pieces[i])
						if got := tk.PieceSpecial(id, true); string(got) != string(want) {
							t.Errorf("piece of %d = %q, want %q", id, got, want)
						}
						checked++
					}
				}
				check(r.PromptTokens, r.PromptPieces)
				check(r.GenTokens, r.GenPieces)
				want, _ := hex.DecodeString(r.GenTextHex)
				var got []byte
				d := tk.NewStreamDecoder()
				var streamed []byte
				for _, id := range r.GenTokens[:min(len(r.GenTokens), 32)] {
					got = append(got, tk.Piece(id)...)
					streamed = append(streamed, d.Add(id)...)
				}
				streamed = append(streamed, d.Flush()...)
				if len(r.GenTokens) > 32 && len(got) < len(want) {
					want = want[:len(got)] // generated_text covers the first 32 tokens
				}
				if string(got) != string(want) {
					t.Errorf("generated pieces join to %q, want %q", got, want)
				}
				if string(streamed) != string(got) {
					t.Errorf("stream decoder gave %q, want %q", streamed, got)
				}
			}
			t.Logf("%s: %d pieces checked", set, checked)
		})
	}
}

// llama-perplexity tokenized its text with add_special and printed how
// many 128-token chunks it got; our token counts must give the same.
func TestPerplexityChunks(t *testing.T) {
	for _, c := range []struct{ set, text string }{
		{"trained-s", "data/tinystories/valid.txt"},
		{"b158-s", "golden/ppl_text.txt"},
		{"bitnet-s", "golden/ppl_text.txt"},
		{"llama-s", "golden/ppl_text.txt"},
	} {
		t.Run(c.set, func(t *testing.T) {
			logPath := testutil.Shared(t, "golden/"+c.set+"/i2_s.perplexity.log", "llama-perplexity's chunk count")
			textPath := testutil.Shared(t, c.text, "the perplexity text")
			tk := load(t, testutil.Shared(t, "golden/"+c.set+"/ggml-model-i2_s.gguf", "the "+c.set+" vocabulary"), Options{})
			lg, err := os.ReadFile(logPath)
			if err != nil {
				t.Fatal(err)
			}
			var chunks int
			for _, l := range strings.Split(string(lg), "\n") {
				if i := strings.Index(l, "calculating perplexity over "); i >= 0 {
					f := strings.Fields(l[i+len("calculating perplexity over "):])
					if len(f) > 0 {
						chunks = atoi(f[0])
					}
				}
			}
			if chunks == 0 {
				t.Fatal("no chunk count in the log")
			}
			text, err := os.ReadFile(textPath)
			if err != nil {
				t.Fatal(err)
			}
			n := len(tk.Encode(string(text), true, false))
			if n/128 != chunks {
				t.Errorf("%d tokens make %d chunks, llama-perplexity had %d", n, n/128, chunks)
			}
			t.Logf("%d tokens, %d chunks", n, chunks)
		})
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// Options.Pre replaces the file's key: the no-pre file with "llama-bpe"
// must tokenize like the llama-bpe file, and the llama-bpe file with
// "default" like the fork does the no-pre one.
func TestPreOverride(t *testing.T) {
	for _, c := range []struct{ file, pre, vectors string }{
		{"ggml-vocab-bitnet-2b4t-nopre.gguf", "llama-bpe", "ggml-vocab-llama-bpe.gguf"},
		{"ggml-vocab-llama-bpe.gguf", "default", "ggml-vocab-bitnet-2b4t-nopre.gguf"},
		// Falcon3-1.58bit and Falcon-E files name the Llama-3 split so.
		{"ggml-vocab-bitnet-2b4t-nopre.gguf", "falcon3", "ggml-vocab-llama-bpe.gguf"},
		{"ggml-vocab-bitnet-2b4t-nopre.gguf", "falcon_e", "ggml-vocab-llama-bpe.gguf"},
	} {
		t.Run(c.file+"+"+c.pre, func(t *testing.T) {
			tk := load(t, testutil.Shared(t, "tokenizers/"+c.file, "the Options.Pre override"), Options{Pre: c.pre})
			if tk.Pre() != c.pre {
				t.Errorf("Pre() = %q", tk.Pre())
			}
			vs := readVectors(t, testutil.Shared(t, "tokenizers/"+c.vectors, "test vectors"))
			for i, v := range vs {
				if got := tk.Encode(v.text, false, false); !slices.Equal(got, v.ids) {
					t.Errorf("case %d %q:\n got %v\nwant %v", i, v.text, got, v.ids)
				}
			}
		})
	}
}

func TestErrors(t *testing.T) {
	base := Vocab{Model: "gpt2", Tokens: []string{"a", "b"}, Merges: []string{"a b"}}
	v := base
	v.Pre = "no-such-pre"
	if _, err := New(v, Options{}); err == nil || !strings.Contains(err.Error(), `"no-such-pre"`) {
		t.Errorf("unknown pre: err = %v", err)
	}
	if _, err := New(base, Options{Pre: "qwen2"}); err == nil || !strings.Contains(err.Error(), "qwen2") {
		t.Errorf("unsupported pre: err = %v", err)
	}
	v = base
	v.Model = "bert"
	if _, err := New(v, Options{}); err == nil {
		t.Error("bert model accepted")
	}
	v = base
	v.Merges = nil
	if _, err := New(v, Options{}); err == nil {
		t.Error("gpt2 without merges accepted")
	}
	v = base
	v.Types = []int32{1}
	if _, err := New(v, Options{}); err == nil {
		t.Error("short token_type accepted")
	}
	tk, err := New(base, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if tk.BOS() != NoToken {
		t.Errorf("default BOS 11 kept in a 2-token vocabulary")
	}
}

// Invalid UTF-8 is no error: llama.cpp would throw, we tokenize the bytes.
func TestInvalidUTF8(t *testing.T) {
	for _, tk := range []*Tokenizer{trainedS(t), llamaSPM(t)} {
		for _, s := range []string{"\xff", "a\xc3", "\xe2\x96", "ok\x80\x80 x", "\xf0\x9f\x98"} {
			ids := tk.Encode(s, false, false)
			var b []byte
			for _, id := range ids {
				b = append(b, tk.Piece(id)...)
			}
			want := s
			if tk.Model() == SPM {
				want = " " + s
			}
			if string(b) != want {
				t.Errorf("%v: %q -> %v -> %q", tk.Model(), s, ids, b)
			}
		}
	}
}

// An overlong form passes llama.cpp's decoder and is written back short.
func TestOverlongUTF8(t *testing.T) {
	tk := trainedS(t)
	if got, want := tk.Encode("x\xc1\x81b", false, false), tk.Encode("xAb", false, false); !slices.Equal(got, want) {
		t.Errorf("overlong A: got %v, want %v", got, want)
	}
}

func FuzzEncode(f *testing.F) {
	for _, s := range []string{"", " ", "Hello world", "3333333", "  \n\n\t x", "it's ' 're", "\xff\xfe", "🦙.cpp", "<|eot_id|>"} {
		f.Add(s)
	}
	tk := trainedS(f)
	spm := llamaSPM(f)
	f.Fuzz(func(t *testing.T, s string) {
		for _, parse := range []bool{false, true} {
			ids := tk.Encode(s, false, parse)
			if utf8.ValidString(s) {
				if got := tk.Detokenize(ids, false, true); tk.cleanSpaces && got != string(cleanSpaces([]byte(s))) {
					t.Errorf("BPE %q -> %v -> %q", s, ids, got)
				}
			}
			ids = spm.Encode(s, false, parse)
			var b []byte
			for _, id := range ids {
				b = append(b, spm.PieceSpecial(id, true)...)
			}
			// (with invalid UTF-8 a character can swallow the bytes of a
			// following "▁", which then come back as bytes, as in llama.cpp)
			if s != "" && string(b) != " "+s && !parse && utf8.ValidString(s) && !strings.Contains(s, "\u2581") {
				t.Errorf("SPM %q -> %v -> %q", s, ids, b)
			}
		}
	})
}

// Issue 10: errors used to read "tokenizer: tokenizer: …". Every error of
// the package carries the prefix once, and callers add none (bitnet-run's
// side is checked in its own tests).
func TestErrorPrefixOnce(t *testing.T) {
	build := func(edit func(w *gguf.Writer)) *gguf.File {
		w := &gguf.Writer{}
		w.Set("tokenizer.ggml.model", gguf.String("gpt2"))
		w.Set("tokenizer.ggml.tokens", gguf.ArrayOf([]string{"a", "b", "ab"}))
		w.Set("tokenizer.ggml.merges", gguf.ArrayOf([]string{"a b"}))
		edit(w)
		var buf bytes.Buffer
		if _, err := w.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		f, err := gguf.Parse(buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	for _, c := range []struct {
		name string
		edit func(w *gguf.Writer)
		want string
	}{
		{"unknown pre", func(w *gguf.Writer) { w.Set("tokenizer.ggml.pre", gguf.String("nope")) }, `unknown pre-tokenizer type "nope"`},
		{"numeric model", func(w *gguf.Writer) { w.Set("tokenizer.ggml.model", gguf.Uint32(1)) }, `"tokenizer.ggml.model"`},
		{"bad bos", func(w *gguf.Writer) { w.Set("tokenizer.ggml.bos_token_id", gguf.String("x")) }, `"tokenizer.ggml.bos_token_id"`},
		{"bad model", func(w *gguf.Writer) { w.Set("tokenizer.ggml.model", gguf.String("bert")) }, `unsupported tokenizer model "bert"`},
	} {
		_, err := FromGGUF(build(c.edit), Options{})
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || strings.Count(err.Error(), "tokenizer: ") != 1 || !strings.HasPrefix(err.Error(), "tokenizer: ") {
			t.Errorf("%s: error %q: want one leading \"tokenizer: \" and %q", c.name, err, c.want)
		}
	}
}
