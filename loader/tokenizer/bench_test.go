package tokenizer

import (
	"os"
	"testing"
	"time"

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

// TestBuildTime128k guards the construction time of the 128k vocabulary,
// file parsing included (a generous bound for a loaded test machine).
func TestBuildTime128k(t *testing.T) {
	path := testutil.Shared(t, "tokenizers/ggml-vocab-bitnet-2b4t-nopre.gguf", "building the 128k-token vocabulary")
	start := time.Now()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tk, err := FromGGUF(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	t.Logf("gguf.Open + FromGGUF of %d tokens: %v", tk.NumTokens(), d)
	if d > 3*time.Second {
		t.Errorf("building the 128k tokenizer took %v", d)
	}
}
