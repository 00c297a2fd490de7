package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitnet-go/bitnet/data"
	"github.com/bitnet-go/bitnet/internal/testutil"
)

func TestRun(t *testing.T) {
	vocab := filepath.Join(testutil.RepoRoot(), "testdata", "tinystories-bitnet-i2_s.gguf")
	dir := t.TempDir()
	a := filepath.Join(dir, "a.txt")
	os.WriteFile(a, []byte("one doc here\n\nanother doc there\n\none doc here\n\n"), 0o644)
	j := filepath.Join(dir, "b.jsonl")
	os.WriteFile(j, []byte(`{"body":"Hello World"}`+"\n"+`{"body":"more text"}`+"\n"), 0o644)
	out := filepath.Join(dir, "out")
	drops := filepath.Join(dir, "drops.txt")
	var so, se bytes.Buffer
	if err := run([]string{"-vocab", vocab, "-o", out, "-i", a, "-i", "0.5=" + j, "-field", "body", "-lower", "-valid", "0", "-drop-log", drops}, &so, &se); err != nil {
		t.Fatalf("%v\n%s", err, se.String())
	}
	if !strings.Contains(so.String(), "MB/s") || !strings.Contains(so.String(), "exact dup") {
		t.Errorf("stdout:\n%s", so.String())
	}
	if b, _ := os.ReadFile(drops); string(b) != "0 2 exact-duplicate\n" {
		t.Errorf("drop log %q", b)
	}
	s, err := data.OpenShard(filepath.Join(out, "train-000000.tok"))
	if err != nil || s.Len() == 0 {
		t.Fatalf("shard: %v", err)
	}
	s.Close()
	for _, args := range [][]string{
		{"-o", out, "-i", a},
		{"-vocab", vocab, "-i", a},
		{"-vocab", vocab, "-o", out},
		{"-vocab", vocab, "-o", out, "-i", filepath.Join(dir, "missing.txt")},
		{"-vocab", vocab, "-o", out, "-i", "0=" + a},
		{"-vocab", vocab, "-o", out, "-i", a, "-valid", "1"},
		{"-vocab", vocab, "-o", out, "-i", a, "extra"},
		{"-vocab", vocab, "-o", out, "-i", a, "-nope"},
	} {
		var ue usageError
		if err := run(args, &so, &se); !errors.As(err, &ue) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	if err := run([]string{"-vocab", vocab, "-o", out, "-i", a}, &so, &se); err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Errorf("existing output: %v", err)
	}
}
