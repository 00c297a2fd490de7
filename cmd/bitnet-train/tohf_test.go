package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitnet-go/bitnet/convert"
	"github.com/bitnet-go/bitnet/internal/testutil"
	"github.com/bitnet-go/bitnet/train"
)

// Issue 9 item 4: -to-hf writes the trained model as a Hugging Face
// checkpoint, and converting that checkpoint back gives the trainer's own
// I2_S tensors byte for byte.
func TestToHF(t *testing.T) {
	vocab := testutil.Shared(t, "golden/b158-s/ggml-model-i2_s.gguf", "bitnet-train -to-hf")
	text := testutil.Shared(t, "data/tinystories/train.txt", "bitnet-train -to-hf")
	b, err := os.ReadFile(text)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	small := filepath.Join(dir, "train.txt")
	if err := os.WriteFile(small, b[:30000], 0o644); err != nil {
		t.Fatal(err)
	}
	out, hf := filepath.Join(dir, "run"), filepath.Join(dir, "hf")
	args := []string{"-train", small, "-vocab", vocab, "-out", out, "-to-hf", hf, "-formats", "i2_s",
		"-dim", "256", "-layers", "1", "-heads", "2", "-kv-heads", "1", "-ffn", "256", "-ctx", "32",
		"-batch", "2", "-micro", "2", "-steps", "2", "-warmup", "1", "-val-every", "2", "-val-windows", "2", "-samples", "0"}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "wrote "+hf) {
		t.Errorf("stdout does not report the checkpoint:\n%s", stdout.String())
	}
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} {
		if _, err := os.Stat(filepath.Join(hf, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	back := filepath.Join(dir, "back.gguf")
	if err := convert.Convert(hf, back, convert.Options{Type: "i2_s"}); err != nil {
		t.Fatal(err)
	}
	want, got := testutil.OpenGGUF(t, filepath.Join(out, train.ExportName(train.FormatI2S))), testutil.OpenGGUF(t, back)
	if len(got.Tensors) != len(want.Tensors) {
		t.Fatalf("%d tensors after the round trip, want %d", len(got.Tensors), len(want.Tensors))
	}
	if d := testutil.TensorDiff(want, got); d != "" {
		t.Errorf("after the round trip, tensor %s", d)
	}
}

// -to-hf is checked before training: it needs an i2_s or f32 export and a
// directory.
func TestToHFUsage(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"-train", "x.txt", "-vocab", "v.gguf", "-out", filepath.Join(dir, "run")}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-to-hf", filepath.Join(dir, "hf"), "-formats", "tq2_0"}, "-to-hf needs an i2_s or f32 export"},
		{[]string{"-to-hf", file}, "not a directory"},
	} {
		code, stderr := exitOf(append(base, c.args...)...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "run")); err == nil {
		t.Error("a refused run created its directory")
	}
}
