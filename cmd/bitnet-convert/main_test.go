package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/internal/testutil"
)

func TestUsage(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "o.gguf")
	cases := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "no output file"},
		{[]string{"-o", out}, 2, "no model directory"},
		{[]string{"a", "b", "-o", out}, 2, "one model directory"},
		{[]string{dir, "-o", out, "--type", "q4_0"}, 2, `unknown --type "q4_0"`},
		{[]string{dir, "-o", out, "--head", "i2_s"}, 2, `unknown --head "i2_s"`},
		{[]string{dir, "-o", out, "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"-h"}, 0, "usage: bitnet-convert"},
		{[]string{out, "-o", out}, 1, "no such file"},
		{[]string{dir, "-o", out}, 1, "no config.json"},
		{[]string{"--requantize", "x.gguf", dir, "-o", out}, 2, "takes no model directory"},
		{[]string{"--requantize", "x.gguf", "-o", out}, 1, "no such file"},
		{[]string{"--to-hf", dir}, 2, "one GGUF file argument"},
		{[]string{"--to-hf", dir, "x.gguf", "-o", out}, 2, "-o and --requantize do not apply"},
		{[]string{"--to-hf", dir, filepath.Join(dir, "missing.gguf")}, 1, "no such file"},
	}
	for _, c := range cases {
		var stderr bytes.Buffer
		if code := run(c.args, &stderr, nil); code != c.code || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit %d mentioning %q", c.args, code, stderr.String(), c.code, c.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed run wrote the output")
	}
}

func TestConvert(t *testing.T) {
	hf := testutil.Shared(t, "hf/bitnet-1bitllm/hf", "the 1bitLLM checkpoint")
	out := filepath.Join(t.TempDir(), "m.gguf")
	var stderr, prog bytes.Buffer
	if code := run([]string{hf, "-o", out, "--type", "tq2_0", "--embd", "q8_0"}, &stderr, &prog); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(prog.String(), "100%") || !strings.HasSuffix(prog.String(), "\n") {
		t.Errorf("progress output %q", prog.String())
	}
	f, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	emb, _ := f.Tensor("token_embd.weight")
	q, _ := f.Tensor("blk.0.attn_q.weight")
	if emb.Type != gguf.Q8_0 || q.Type != gguf.TQ2_0 {
		t.Errorf("types %s %s", emb.Type, q.Type)
	}
	if ft, _ := f.GetUint("general.file_type"); ft != 37 {
		t.Errorf("file_type %d", ft)
	}
}

func TestRequantize(t *testing.T) {
	in := testutil.Shared(t, "golden/bitnet-s/ggml-model-i2_s.gguf", "the fork's I2_S file")
	dir := t.TempDir()
	tq := filepath.Join(dir, "tq2.gguf")
	back := filepath.Join(dir, "back.gguf")
	var stderr, prog bytes.Buffer
	if code := run([]string{"--requantize", in, "-o", tq, "--type", "tq2_0"}, &stderr, &prog); code != 0 {
		t.Fatalf("to tq2_0: exit %d: %s", code, stderr.String())
	}
	// Without --type the ternary format is kept; only the embedding changes.
	if code := run([]string{"--requantize", tq, "-o", back, "--embd", "q8_0"}, &stderr, &prog); code != 0 {
		t.Fatalf("embd q8_0: exit %d: %s", code, stderr.String())
	}
	for path, want := range map[string][2]gguf.Type{tq: {gguf.TQ2_0, gguf.F16}, back: {gguf.TQ2_0, gguf.Q8_0}} {
		f, err := gguf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		q, _ := f.Tensor("blk.0.attn_q.weight")
		emb, _ := f.Tensor("token_embd.weight")
		if q.Type != want[0] || (path == back && emb.Type != want[1]) {
			t.Errorf("%s: attn_q %s, token_embd %s; want %s, %s", filepath.Base(path), q.Type, emb.Type, want[0], want[1])
		}
		f.Close()
	}
}

func TestToHF(t *testing.T) {
	hf := testutil.Shared(t, "hf/bitnet-2b4t-bf16/hf", "the 2B4T BF16 checkpoint")
	dir := t.TempDir()
	g := filepath.Join(dir, "m.gguf")
	var stderr bytes.Buffer
	if code := run([]string{hf, "-o", g}, &stderr, nil); code != 0 {
		t.Fatalf("convert: exit %d: %s", code, stderr.String())
	}
	back := filepath.Join(dir, "back")
	if code := run([]string{"--to-hf", back, g}, &stderr, nil); code != 0 {
		t.Fatalf("export: exit %d: %s", code, stderr.String())
	}
	g2 := filepath.Join(dir, "m2.gguf")
	if code := run([]string{back, "-o", g2}, &stderr, nil); code != 0 {
		t.Fatalf("reconvert: exit %d: %s", code, stderr.String())
	}
	a, _ := os.ReadFile(g)
	b, _ := os.ReadFile(g2)
	if !bytes.Equal(a, b) {
		t.Error("HF → GGUF → HF → GGUF changed the GGUF")
	}
}

// --to-hf takes the 1bitLLM graph too (BitnetForCausalLM with a
// SentencePiece tokenizer.model), and the checkpoint converts back.
func TestToHF1bitLLM(t *testing.T) {
	hf := testutil.Shared(t, "hf/bitnet-1bitllm/hf", "the 1bitLLM checkpoint")
	dir := t.TempDir()
	gg, exp, back := filepath.Join(dir, "m.gguf"), filepath.Join(dir, "hf"), filepath.Join(dir, "back.gguf")
	var stderr, prog bytes.Buffer
	if code := run([]string{hf, "-o", gg, "--type", "i2_s", "--name", "m"}, &stderr, &prog); code != 0 {
		t.Fatalf("convert: exit %d: %s", code, stderr.String())
	}
	if code := run([]string{"--to-hf", exp, gg}, &stderr, &prog); code != 0 {
		t.Fatalf("--to-hf: exit %d: %s", code, stderr.String())
	}
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer.model", "tokenizer_config.json"} {
		if _, err := os.Stat(filepath.Join(exp, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	if code := run([]string{exp, "-o", back, "--type", "i2_s", "--name", "m"}, &stderr, &prog); code != 0 {
		t.Fatalf("convert back: exit %d: %s", code, stderr.String())
	}
	a, _ := os.ReadFile(gg)
	b, _ := os.ReadFile(back)
	if !bytes.Equal(a, b) {
		t.Error("GGUF → HF → GGUF changed the file")
	}
}
