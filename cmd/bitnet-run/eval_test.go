package main

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/bitnet-go/bitnet/internal/testutil"
)

func evalFile(name string) string {
	return filepath.Join(testutil.RepoRoot(), "testdata", "eval", name)
}

func TestEvalModes(t *testing.T) {
	out, _, err := runCLI(t, "-m", bundled, "-t", "2", "--multiple-choice", evalFile("tinystories-mc.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "\ntask\tacc_norm\n1\t") || !strings.Contains(out, " Final result: 66.6667 +/- 9.8295\n") {
		t.Errorf("multiple choice output:\n%s", out)
	}
	out, _, err = runCLI(t, "-m", bundled, "-t", "2", "--hellaswag", evalFile("tinystories-hellaswag.txt"), "--hellaswag-tasks", "3")
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 4 || !strings.HasPrefix(lines[3], "3\t") {
		t.Errorf("hellaswag output:\n%s", out)
	}
	for _, args := range [][]string{
		{"--kl-divergence"},
		{"--hellaswag", "x", "--winogrande", "y"},
		{"--kl-divergence-base", "x"},
		{"--winogrande", "x", "--winogrande-tasks", "-1"},
	} {
		_, _, err := runCLI(t, append([]string{"-m", bundled}, args...)...)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	for _, c := range []struct{ flag, file, want string }{
		{"--hellaswag", evalFile("tinystories-winogrande.csv"), "not a multiple of 6"},
		{"--multiple-choice", evalFile("tinystories-hellaswag.txt"), "multiple-choice"},
		{"--winogrande", filepath.Join(t.TempDir(), "missing.csv"), "no such file"},
	} {
		_, _, err := runCLI(t, "-m", bundled, c.flag, c.file)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s: %v, want %q", c.flag, c.file, err, c.want)
		}
	}
}

var meanKLD = regexp.MustCompile(`Mean    KLD: +([0-9.e-]+) ± +([0-9.e-]+)`)
var sameTop = regexp.MustCompile(`Same top p: +([0-9.]+) ±`)

func klRun(t *testing.T, base, model, text string, extra ...string) (kld, top float64, out string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "base.kld")
	if _, _, err := runCLI(t, "-m", base, "-t", "2", "-c", "128", "--perplexity", text, "--kl-divergence-base", file); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, append([]string{"-m", model, "-t", "2", "--kl-divergence-base", file, "--kl-divergence"}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	m := meanKLD.FindStringSubmatch(out)
	s := sameTop.FindStringSubmatch(out)
	if m == nil || s == nil {
		t.Fatalf("no statistics in\n%s", out)
	}
	kld, _ = strconv.ParseFloat(m[1], 64)
	top, _ = strconv.ParseFloat(s[1], 64)
	return kld, top, out
}

// TestKLGolden compares the I2_S export of the golden b158-s model with its
// F32 original (the README measures a mean KL of 1.0e-5 on the golden
// logits), and the F32 model with itself (only the 16-bit storage of the
// base differs).
func TestKLGolden(t *testing.T) {
	dir := testutil.Shared(t, "golden/b158-s", "KL divergence of I2_S from F32")
	text := testutil.Shared(t, "golden/ppl_text.txt", "KL divergence of I2_S from F32")
	f32, i2s := filepath.Join(dir, "ggml-model-f32.gguf"), filepath.Join(dir, "ggml-model-i2_s.gguf")
	kld, top, out := klRun(t, f32, i2s, text)
	t.Logf("I2_S vs F32:\n%s", out)
	// The random-weight model's distributions are nearly flat, so top tokens
	// are near ties and flip often.
	if kld <= 0 || kld > 1e-2 || top < 85 {
		t.Errorf("I2_S vs F32: mean KL %g, same top %.2f%%", kld, top)
	}
	kld, top, _ = klRun(t, f32, f32, text)
	if kld > 1e-6 || top != 100 {
		t.Errorf("F32 vs itself: mean KL %g, same top %.2f%%", kld, top)
	}
}

// TestKLHeadInt8 measures --head-int8 against the exact head of the bundled
// model on the TinyStories validation text.
func TestKLHeadInt8(t *testing.T) {
	src := testutil.Shared(t, "data/tinystories/valid.txt", "KL divergence of --head-int8")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	text := filepath.Join(t.TempDir(), "valid-head.txt")
	if err := os.WriteFile(text, b[:30000], 0o644); err != nil {
		t.Fatal(err)
	}
	kld, top, out := klRun(t, bundled, bundled, text, "--head-int8")
	t.Logf("--head-int8 vs exact head:\n%s", out[strings.Index(out, "====== KL"):])
	if kld <= 0 || kld > 1e-3 || top < 97 {
		t.Errorf("--head-int8: mean KL %g, same top %.2f%%", kld, top)
	}
}
