package train

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/internal/testutil"
	"github.com/bitnet-go/bitnet/loader/tokenizer"
)

var (
	bundledOnce sync.Once
	bundledTok  *tokenizer.Tokenizer
	bundledErr  error
)

// bundledTokenizer is the tokenizer of the repository's bundled model.
func bundledTokenizer(t testing.TB) *tokenizer.Tokenizer {
	bundledOnce.Do(func() {
		f, err := gguf.Open(filepath.Join(testutil.RepoRoot(), "testdata", "tinystories-bitnet-i2_s.gguf"))
		if err != nil {
			bundledErr = err
			return
		}
		defer f.Close()
		bundledTok, bundledErr = tokenizer.FromGGUF(f, tokenizer.Options{})
	})
	if bundledErr != nil {
		t.Fatal(bundledErr)
	}
	return bundledTok
}

// FuzzTokenizeBytes is the trainer's text input on arbitrary bytes and
// document separators: no panic; ids of the vocabulary; without a
// separator, the tokenizer's encoding of the valid UTF-8 in the text; with
// one, each non-blank document's tokens followed by EOS (the byte tokenizer
// shows the documents come back exactly: cut at the separator's bytes,
// cleaned of invalid UTF-8, trimmed), and no invalid UTF-8 reaches the
// tokenizer even when the separator cuts a character; the token stream
// survives a shard round trip. (A separator that is not valid UTF-8 used to
// split characters and hand their pieces to the tokenizer.)
func FuzzTokenizeBytes(f *testing.F) {
	f.Add([]byte("Once upon a time.\n\nThe end."), "")
	f.Add([]byte("a<|sep|>b<|sep|><|sep|>  c  "), "<|sep|>")
	f.Add([]byte("\xff\xfeab\xc0"), "\xfe")
	f.Add([]byte("x\n\ny\n\nz"), "\n\n")
	f.Add([]byte(""), "a")
	f.Add([]byte("<|end_of_text|>doc"), "<|end_of_text|>")
	tok := bundledTokenizer(f)
	f.Fuzz(func(t *testing.T, data []byte, sep string) {
		valid := string(bytes.ToValidUTF8(data, nil))
		for _, tk := range []Tokenizer{tok, byteTokenizer{}} {
			vocab := 258
			if tk == Tokenizer(tok) {
				vocab = tok.NumTokens()
			}
			ids := TokenizeBytes(tk, data, sep)
			for _, id := range ids {
				if id < 0 || int(id) >= vocab {
					t.Fatalf("id %d outside the vocabulary of %d", id, vocab)
				}
			}
			if sep == "" && !slices.Equal(ids, tk.Encode(valid, false, false)) {
				t.Fatalf("without a separator: not the encoding of the valid text")
			}
			if len(ids) > 0 {
				got, v, err := decodeShard(bytes.NewReader(shardBytes(t, ids, vocab)), int64(shardHeader+shardWidth(vocab)*len(ids)), "fuzz")
				if err != nil || v != vocab || !slices.Equal(got, ids) {
					t.Fatalf("shard round trip: %v", err)
				}
			}
		}
		if sep == "" {
			return
		}
		// The byte tokenizer: documents back, trimmed, each closed by EOS.
		ids := TokenizeBytes(byteTokenizer{}, data, sep)
		var docs []string
		for _, d := range bytes.Split(data, []byte(sep)) {
			if d := strings.TrimSpace(string(bytes.ToValidUTF8(d, nil))); d != "" {
				docs = append(docs, d)
			}
		}
		var got []string
		var cur []byte
		for _, id := range ids {
			if id == 257 {
				got = append(got, string(cur))
				cur = cur[:0]
				continue
			}
			cur = append(cur, byte(id))
		}
		if len(cur) != 0 || !slices.Equal(got, docs) {
			t.Fatalf("documents %q, want %q", got, docs)
		}
		for _, d := range got {
			if !utf8.ValidString(d) {
				t.Fatalf("invalid UTF-8 reached the tokenizer: %q", d)
			}
		}
	})
}

func shardWidth(vocab int) int {
	if vocab <= 1<<16 {
		return 2
	}
	return 4
}

// shardBytes is WriteShard's content, built in memory.
func shardBytes(t *testing.T, ids []int32, vocab int) []byte {
	var b bytes.Buffer
	if err := encodeShard(&b, ids, vocab); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// FuzzReadShard reads arbitrary bytes as a token shard: an error or the
// ids, never a panic or an allocation the bytes cannot back.
func FuzzReadShard(f *testing.F) {
	var good bytes.Buffer
	good.WriteString(shardMagic)
	good.Write([]byte{1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 5, 0, 7, 0})
	f.Add(good.Bytes())
	wrap := append([]byte(nil), good.Bytes()[:16]...)
	wrap = append(wrap, 8, 0, 0, 0, 0, 0, 0, 0x80, 1, 2, 3, 4)
	f.Add(wrap)
	f.Add([]byte("BNTK"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ids, vocab, err := decodeShard(bytes.NewReader(b), int64(len(b)), "fuzz")
		if err != nil {
			return
		}
		if len(ids)*2 > len(b) {
			t.Fatalf("%d ids from %d bytes", len(ids), len(b))
		}
		for _, id := range ids {
			if id < 0 || int(id) >= vocab {
				t.Fatalf("id %d outside the vocabulary of %d", id, vocab)
			}
		}
	})
}
