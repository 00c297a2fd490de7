package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitnet-go/bitnet/data"
	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/internal/testutil"
	"github.com/bitnet-go/bitnet/loader/tokenizer"
	"github.com/bitnet-go/bitnet/train"
)

// TestShards trains a few steps from two bitnet-data shard directories
// (a mixture each) instead of a text, and checks that the run's token cache
// is exactly their tokens.
func TestShards(t *testing.T) {
	vocab := testutil.Shared(t, "golden/b158-s/ggml-model-i2_s.gguf", "training from shards")
	text := testutil.Shared(t, "data/tinystories/train.txt", "training from shards")
	b, err := os.ReadFile(text)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a := filepath.Join(dir, "a.txt")
	c := filepath.Join(dir, "c.txt")
	os.WriteFile(a, b[:40000], 0o644)
	os.WriteFile(c, b[40000:80000], 0o644)
	vf, err := gguf.Open(vocab)
	if err != nil {
		t.Fatal(err)
	}
	defer vf.Close()
	tok, err := tokenizer.FromGGUF(vf, tokenizer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, out := range []string{"s1", "s2"} {
		if _, err := data.Build(data.Config{
			Sources:   []data.Source{{Files: []string{a}, Weight: 2}, {Files: []string{c}, Weight: 1}},
			Tokenizer: tok, Vocab: tok.NumTokens(), OutDir: filepath.Join(dir, out), ShardTokens: 3000,
			ValidFraction: 0.05, Seed: uint64(i), Dedup: true, Workers: 2,
		}); err != nil {
			t.Fatal(err)
		}
	}
	tr, va, err := train.ShardInputs([]string{filepath.Join(dir, "s1"), filepath.Join(dir, "s2")})
	if err != nil || len(tr) < 4 || len(va) < 2 {
		t.Fatalf("inputs %v %v: %v", tr, va, err)
	}
	var want []int32
	for _, p := range tr {
		s, err := data.OpenShard(p)
		if err != nil {
			t.Fatal(err)
		}
		want, _ = s.AppendTo(want, 0, s.Len())
		s.Close()
	}
	out := filepath.Join(dir, "run")
	args := []string{"-shards", filepath.Join(dir, "s1") + "," + filepath.Join(dir, "s2"), "-vocab", vocab, "-out", out,
		"-dim", "64", "-layers", "1", "-heads", "2", "-kv-heads", "1", "-ffn", "128", "-ctx", "32", "-batch", "2", "-micro", "2",
		"-steps", "2", "-warmup", "1", "-log-every", "1", "-val-every", "2", "-ckpt-every", "2", "-samples", "0", "-formats", "f32"}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	got, _, err := train.ReadShard(filepath.Join(out, "data", "train.tok"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("cache holds %d tokens, shards %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("token %d: %d, shard %d", i, got[i], want[i])
		}
	}
	if !strings.Contains(stdout.String(), "final: 2 steps") || !strings.Contains(stderr.String(), "shards:") {
		t.Errorf("stdout %s\nstderr %s", stdout.String(), stderr.String())
	}
	if err := run(context.Background(), []string{"-shards", dir, "-train", a, "-vocab", vocab, "-out", filepath.Join(dir, "x")}, &stdout, &stderr); err == nil {
		t.Error("-shards with -train accepted")
	}
	if err := run(context.Background(), []string{"-shards", a, "-vocab", vocab, "-out", filepath.Join(dir, "y")}, &stdout, &stderr); err == nil || !strings.Contains(err.Error(), "magic") {
		t.Errorf("a text file as a shard: %v", err)
	}
}
