package main

import (
	"bytes"
	"os"
	"os/exec"
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

func TestMain(m *testing.M) {
	if os.Getenv("BITNET_TOKENIZE_AS_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// TestTextBound: a text file larger than the tokenizer could hold is
// refused before it is read (a 16 GiB file was read whole).
func TestTextBound(t *testing.T) {
	model := filepath.Join(testutil.RepoRoot(), "testdata", "tinystories-bitnet-i2_s.gguf")
	p := filepath.Join(t.TempDir(), "huge.txt")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	err = f.Truncate(16 << 30)
	f.Close()
	if err != nil {
		t.Skip("cannot make a sparse file here:", err)
	}
	_, err = tokenize(t, "-m", model, "-f", p)
	if err == nil || !strings.Contains(err.Error(), "bytes bitnet-tokenize reads") {
		t.Fatalf("16 GiB text: %v", err)
	}
}

// TestExitStatus runs main: -h gives the help and status 0, a usage error
// is reported once with status 2, other errors with status 1; nothing of
// an error goes to stdout.
func TestExitStatus(t *testing.T) {
	model := filepath.Join(testutil.RepoRoot(), "testdata", "tinystories-bitnet-i2_s.gguf")
	for _, c := range []struct {
		args   []string
		status int
		stderr string
	}{
		{[]string{"-h"}, 0, "usage: bitnet-tokenize"},
		{[]string{"--bogus"}, 2, "bogus"},
		{[]string{"-p", "x"}, 2, "no vocabulary"},
		{[]string{"-m", model, "extra"}, 2, "unexpected arguments"},
		{[]string{"-m", filepath.Join(t.TempDir(), "none.gguf"), "-p", "x"}, 1, "none.gguf"},
	} {
		cmd := exec.Command(os.Args[0], c.args...)
		cmd.Env = append(os.Environ(), "BITNET_TOKENIZE_AS_MAIN=1")
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Run()
		if got := cmd.ProcessState.ExitCode(); got != c.status {
			t.Errorf("%q: exit status %d, want %d", c.args, got, c.status)
		}
		if !strings.Contains(stderr.String(), c.stderr) {
			t.Errorf("%q: stderr %q lacks %q", c.args, stderr.String(), c.stderr)
		}
		if c.status == 2 && strings.Count(stderr.String(), c.stderr) != 1 {
			t.Errorf("%q: the error is reported %d times:\n%s", c.args, strings.Count(stderr.String(), c.stderr), stderr.String())
		}
		if stdout.Len() != 0 {
			t.Errorf("%q: stdout %q, want nothing", c.args, stdout.String())
		}
	}
}
