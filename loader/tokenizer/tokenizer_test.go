package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/internal/testutil"
)

// loaded tokenizers, by path and options, shared by the tests of a run.
var (
	loadMu sync.Mutex
	loaded = map[string]*Tokenizer{}
)

func load(t testing.TB, path string, opt Options) *Tokenizer {
	t.Helper()
	loadMu.Lock()
	defer loadMu.Unlock()
	key := path + "\x00" + opt.Pre
	if tk, ok := loaded[key]; ok {
		return tk
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tk, err := FromGGUF(f, opt)
	if err != nil {
		t.Fatal(err)
	}
	loaded[key] = tk
	return tk
}

type vector struct {
	text string
	ids  []int32
}

// readVectors reads llama.cpp's test-tokenizer-0 files: <vocab>.inp holds
// the texts, each followed by "\n__ggml_vocab_test__\n"; <vocab>.out one
// line of ids per text.
func readVectors(t *testing.T, vocab string) []vector {
	t.Helper()
	inp, err := os.ReadFile(vocab + ".inp")
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(vocab + ".out")
	if err != nil {
		t.Fatal(err)
	}
	const sep = "\n__ggml_vocab_test__\n"
	var texts []string
	for s := string(inp); s != ""; {
		i := strings.Index(s, sep)
		if i < 0 {
			texts = append(texts, s)
			break
		}
		texts = append(texts, s[:i])
		s = s[i+len(sep):]
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(texts) {
		t.Fatalf("%s: %d texts but %d result lines", vocab, len(texts), len(lines))
	}
	vs := make([]vector, len(texts))
	for i, l := range lines {
		vs[i].text = texts[i]
		for _, f := range strings.Fields(l) {
			id, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("%s.out line %d: %v", vocab, i+1, err)
			}
			vs[i].ids = append(vs[i].ids, int32(id))
		}
	}
	return vs
}

func TestVocabVectors(t *testing.T) {
	for _, tc := range []struct {
		file string
		pre  string // expected Pre()
	}{
		{"ggml-vocab-llama-spm.gguf", ""},
		{"ggml-vocab-gpt-2.gguf", "gpt-2"},
		{"ggml-vocab-llama-bpe.gguf", "llama-bpe"},
		{"ggml-vocab-bitnet-2b4t-nopre.gguf", "default"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := testutil.Shared(t, "tokenizers/"+tc.file, "llama.cpp's tokenizer test vectors for "+tc.file)
			tk := load(t, path, Options{})
			if tk.Pre() != tc.pre {
				t.Errorf("Pre() = %q, want %q", tk.Pre(), tc.pre)
			}
			vs := readVectors(t, path)
			pass := 0
			for i, v := range vs {
				got := tk.Encode(v.text, false, false)
				if !slices.Equal(got, v.ids) {
					t.Errorf("case %d %q:\n got %v\nwant %v", i, v.text, got, v.ids)
					continue
				}
				pass++
			}
			t.Logf("%s: %d/%d cases pass", tc.file, pass, len(vs))
		})
	}
}

type goldenRun struct {
	Prompt       string  `json:"prompt"`
	PromptTokens []int32 `json:"prompt_tokens"`
}

// goldenRuns digs the runs out of a golden JSON: any object with "prompt"
// and "prompt_tokens", at any depth.
func goldenRuns(v any, runs *[]goldenRun) {
	switch x := v.(type) {
	case map[string]any:
		if p, ok := x["prompt"].(string); ok {
			if toks, ok := x["prompt_tokens"].([]any); ok {
				r := goldenRun{Prompt: p}
				for _, id := range toks {
					r.PromptTokens = append(r.PromptTokens, int32(id.(float64)))
				}
				*runs = append(*runs, r)
				return
			}
		}
		for _, e := range x {
			goldenRuns(e, runs)
		}
	case []any:
		for _, e := range x {
			goldenRuns(e, runs)
		}
	}
}

func TestGoldenPrompts(t *testing.T) {
	for _, set := range []string{"b158-s", "trained-s", "bitnet-s"} {
		t.Run(set, func(t *testing.T) {
			js := testutil.Shared(t, "golden/"+set+"/i2_s.json", "prompt tokens of the "+set+" golden runs")
			model := testutil.Shared(t, "golden/"+set+"/ggml-model-i2_s.gguf", "the vocabulary of the "+set+" model")
			raw, err := os.ReadFile(js)
			if err != nil {
				t.Fatal(err)
			}
			var doc any
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatal(err)
			}
			var runs []goldenRun
			goldenRuns(doc, &runs)
			if len(runs) == 0 {
				t.Fatalf("%s: no runs with prompt and prompt_tokens", filepath.Base(js))
			}
			tk := load(t, model, Options{})
			pass := 0
			for _, r := range runs {
				got := tk.Encode(r.Prompt, true, false)
				if !slices.Equal(got, r.PromptTokens) {
					t.Errorf("%q:\n got %v\nwant %v", r.Prompt, got, r.PromptTokens)
					continue
				}
				pass++
			}
			t.Logf("%s: %d/%d prompts pass", set, pass, len(runs))
		})
	}
}

func TestRoundTrip(t *testing.T) {
	for _, file := range []string{"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf", "ggml-vocab-llama-bpe.gguf", "ggml-vocab-bitnet-2b4t-nopre.gguf"} {
		t.Run(file, func(t *testing.T) {
			path := testutil.Shared(t, "tokenizers/"+file, "decoding with "+file)
			tk := load(t, path, Options{})
			for _, v := range readVectors(t, path) {
				ids := tk.Encode(v.text, false, false)
				var b []byte
				for _, id := range ids {
					b = append(b, tk.Piece(id)...)
				}
				want := v.text
				if tk.Model() == SPM && want != "" {
					want = " " + want // the space prefix
				}
				if string(b) != want {
					t.Errorf("pieces of %q join to %q", v.text, b)
				}
			}
		})
	}
}

func ExampleTokenizer_Encode() {
	tk, err := New(Vocab{
		Model:  "gpt2",
		Tokens: []string{"a", "b", "ab", "Ġ", "Ġab", "<|eot_id|>"},
		Types:  []int32{1, 1, 1, 1, 1, 3},
		Merges: []string{"a b", "Ġ ab"},
	}, Options{Pre: "gpt-2"})
	if err != nil {
		panic(err)
	}
	fmt.Println(tk.Encode("ab ab<|eot_id|>", false, true), tk.IsEOG(5))
	// Output: [2 4 5] true
}
