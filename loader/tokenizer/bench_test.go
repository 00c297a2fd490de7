package tokenizer

import (
	"os"
	"testing"

	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/internal/testutil"
)

// benchText is the first ~100 KB of TinyStories valid.txt, cut at a line end.
func benchText(b testing.TB) string {
	path := testutil.Shared(b, "data/tinystories/valid.txt", "tokenizer speed on TinyStories text")
	raw, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	n := min(len(raw), 100<<10)
	for n < len(raw) && raw[n-1] != '\n' {
		n++
	}
	return string(raw[:n])
}

// BenchmarkEncodeTinyStories encodes 100 KB with the 4096-token vocabulary
// of golden/trained-s; the word cache is dropped each time, so every
// iteration pays for the merges.
func BenchmarkEncodeTinyStories(b *testing.B) {
	text := benchText(b)
	tk := load(b, testutil.Shared(b, "golden/trained-s/ggml-model-i2_s.gguf", "the trained-s vocabulary"), Options{})
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	var n int
	for b.Loop() {
		tk.cacheMu.Lock()
		tk.cache = nil
		tk.cacheMu.Unlock()
		n = len(tk.Encode(text, true, false))
	}
	b.ReportMetric(float64(n), "tokens")
}

// BenchmarkEncodeTinyStoriesCached is the same with a warm word cache, the
// steady state when a trainer tokenizes a corpus.
func BenchmarkEncodeTinyStoriesCached(b *testing.B) {
	text := benchText(b)
	tk := load(b, testutil.Shared(b, "golden/trained-s/ggml-model-i2_s.gguf", "the trained-s vocabulary"), Options{})
	tk.Encode(text, true, false)
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for b.Loop() {
		tk.Encode(text, true, false)
	}
}

// BenchmarkNew128k builds the 128,256-token Llama-3 tokenizer (280,147
// merges) from metadata already read.
func BenchmarkNew128k(b *testing.B) {
	path := testutil.Shared(b, "tokenizers/ggml-vocab-bitnet-2b4t-nopre.gguf", "building the 128k-token vocabulary")
	f, err := gguf.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	v, err := VocabFromGGUF(f)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := New(v, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen128k is gguf.Open plus FromGGUF of the 128k vocabulary, file
// parsing included: what a tool pays before its first token. (It replaces a
// test that failed when this took more than 3 s of wall-clock time, which a
// loaded machine or -race exceeds; compare it with BenchmarkNew128k in one
// run instead.)
func BenchmarkOpen128k(b *testing.B) {
	path := testutil.Shared(b, "tokenizers/ggml-vocab-bitnet-2b4t-nopre.gguf", "building the 128k-token vocabulary")
	for b.Loop() {
		f, err := gguf.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := FromGGUF(f, Options{}); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// TestBuild128k builds the 128k vocabulary from its file (its speed is
// BenchmarkOpen128k's).
func TestBuild128k(t *testing.T) {
	path := testutil.Shared(t, "tokenizers/ggml-vocab-bitnet-2b4t-nopre.gguf", "building the 128k-token vocabulary")
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tk, err := FromGGUF(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := tk.NumTokens(); n != 128256 {
		t.Errorf("%d tokens, want 128256", n)
	}
	// The merges are in place: two tokens, as llama.cpp gives.
	if ids := tk.Encode("Hello world", false, false); len(ids) != 2 || ids[0] != 9906 || ids[1] != 1917 {
		t.Errorf("Hello world = %v, want [9906 1917]", ids)
	}
}
