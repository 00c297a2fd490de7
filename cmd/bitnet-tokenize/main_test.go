package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitnet-go/bitnet/internal/testutil"
)

func tokenize(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(args, &out, &errb)
	return out.String(), err
}

// TestVocabOnlyFile tokenizes llama.cpp's test strings with vocabulary-only
// GGUF files and compares with the reference ids (.out files, no BOS).
func TestVocabOnlyFile(t *testing.T) {
	for _, name := range []string{"ggml-vocab-llama-spm.gguf", "ggml-vocab-bitnet-2b4t-nopre.gguf"} {
		vocab := testutil.Shared(t, filepath.Join("tokenizers", name), "bitnet-tokenize on "+name)
		inp, err := os.ReadFile(vocab + ".inp")
		if err != nil {
			t.Fatal(err)
		}
		outb, err := os.ReadFile(vocab + ".out")
		if err != nil {
			t.Fatal(err)
		}
		cases := strings.Split(string(inp), "\n__ggml_vocab_test__\n")
		want := strings.Split(string(outb), "\n")
		for i, text := range cases[:8] {
			f := filepath.Join(t.TempDir(), "in.txt")
			os.WriteFile(f, []byte(text), 0o644)
			got, err := tokenize(t, "-m", vocab, "-f", f, "--ids", "--no-bos", "--no-parse-special")
			if err != nil {
				t.Fatal(err)
			}
			ids := strings.Trim(strings.TrimSpace(got), "[]")
			if w := strings.Join(strings.Fields(want[i]), ", "); ids != w {
				t.Errorf("%s case %d %q: [%s], want [%s]", name, i, text, ids, w)
			}
		}
	}
}

func TestPiecesAndErrors(t *testing.T) {
	model := filepath.Join(testutil.RepoRoot(), "testdata", "tinystories-bitnet-i2_s.gguf")
	out, err := tokenize(t, "-m", model, "-p", "once upon a time")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "4080 -> '<|begin_of_text|>'") || !strings.Contains(out, " 892 -> ' time'") {
		t.Errorf("output:\n%s", out)
	}
	if _, err := tokenize(t, "-p", "x"); err == nil {
		t.Error("no -m: no error")
	}
	if _, err := tokenize(t, "-m", filepath.Join(t.TempDir(), "none.gguf"), "-p", "x"); err == nil || !strings.Contains(err.Error(), "none.gguf") {
		t.Errorf("missing file: %v", err)
	}
}
