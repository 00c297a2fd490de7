package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitnet-go/bitnet/internal/testutil"
	"github.com/bitnet-go/bitnet/train"
)

// The defaults are the reference recipe (testdata README, trained-s).
func TestDefaults(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := o.c
	if c.Dim != 256 || c.Layers != 4 || c.Heads != 4 || c.KVHeads != 2 || c.FFN != 768 || c.Ctx != 256 ||
		c.NormEps != 1e-5 || c.RopeBase != 500000 {
		t.Errorf("model defaults %+v", c)
	}
	if o.batch != 12 || o.tokens/int64(o.batch*c.Ctx) != 950 || o.lr != 1.5e-3 || o.warmup != 60 || o.seed != 1234 ||
		o.wd != 0.1 || o.clip != 1 || o.beta2 != 0.95 || o.s1Floor != 0.5 || o.s2Start != 0.2 || o.minLR != 1e-6 {
		t.Errorf("training defaults %+v", o)
	}
}

// TestEndToEnd trains a tiny model for a few steps on the start of the
// TinyStories text with the reference vocabulary, then checks the run
// directory and that -resume of a finished run and -plot work.
func TestEndToEnd(t *testing.T) {
	vocab := testutil.Shared(t, "golden/b158-s/ggml-model-i2_s.gguf", "an end-to-end bitnet-train run")
	text := testutil.Shared(t, "data/tinystories/train.txt", "an end-to-end bitnet-train run")
	b, err := os.ReadFile(text)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	small := filepath.Join(dir, "train.txt")
	if err := os.WriteFile(small, b[:60000], 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "run")
	args := []string{"-train", small, "-vocab", vocab, "-out", out, "-dim", "256", "-layers", "1", "-heads", "2",
		"-kv-heads", "1", "-ffn", "256", "-ctx", "64", "-batch", "4", "-micro", "2", "-steps", "6", "-warmup", "2",
		"-log-every", "2", "-val-every", "4", "-ckpt-every", "3", "-samples", "1", "-sample-tokens", "8"}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	for _, f := range []string{"model-f32.gguf", "model-i2_s.gguf", "model-tq2_0.gguf", train.MetricsFile, train.PlotFile, train.WeightsPlotFile,
		train.CheckpointFile, train.SummaryFile, "samples.txt", "data/train.tok", "data/valid.tok"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	ms, err := train.ReadMetrics(filepath.Join(out, train.MetricsFile))
	if err != nil || len(ms) != 4 || !ms[3].Final || ms[1].ValLoss == nil {
		t.Fatalf("metrics: %+v, %v", ms, err)
	}
	if !strings.Contains(stdout.String(), "final: 6 steps") || !strings.Contains(stdout.String(), "--- sample 1") {
		t.Errorf("stdout:\n%s", stdout.String())
	}
	// Weight statistics every -val-every steps (the default) and at the end.
	if ws, err := train.ReadWeightStats(filepath.Join(out, train.MetricsFile)); err != nil || len(ws) != 2 || ws[0].Step != 4 || ws[1].Step != 6 {
		t.Errorf("weight statistics: %+v, %v", ws, err)
	}
	for _, f := range []string{"model-f32.gguf", "model-i2_s.gguf", "model-tq2_0.gguf"} {
		if !strings.Contains(stderr.String(), f+": ") || !strings.Contains(stderr.String(), "no-bias check ok") {
			t.Errorf("the log does not state %s's bits per parameter:\n%s", f, stderr.String())
		}
	}
	// A finished run resumes straight to the final evaluation and exports.
	stdout.Reset()
	if err := run(context.Background(), []string{"-out", out, "-resume", "-samples", "0"}, &stdout, &stderr); err != nil {
		t.Fatalf("resume: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "final: 6 steps") {
		t.Errorf("resume stdout:\n%s", stdout.String())
	}
	stdout.Reset()
	if err := run(context.Background(), []string{"-plot", out}, &stdout, io.Discard); err != nil || !strings.Contains(stdout.String(), "loss.svg") || !strings.Contains(stdout.String(), "ternary.svg") {
		t.Errorf("-plot: %v %q", err, stdout.String())
	}
	// A second run into the same directory without -resume is refused.
	if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
		t.Error("a new run over an existing checkpoint was accepted")
	}
}
