package main

import (
	"bytes"
	"errors"
	"fmt"
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
		{"-vocab", vocab, "-o", out, "-i", a, "-dedup-mem", "1KiB"},
		{"-vocab", vocab, "-o", out, "-i", a, "-dedup-mem", "lots"},
	} {
		var ue usageError
		if err := run(args, &so, &se); !errors.As(err, &ue) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	if err := run([]string{"-vocab", vocab, "-o", out, "-i", a}, &so, &se); err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Errorf("existing output: %v", err)
	}
	// A failed run leaves no drop log.
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte(`{"text":"a"}`+"\n"+`{"text":"a"}`+"\n"+`{"text":`), 0o644)
	failed := filepath.Join(dir, "failed.drops")
	if err := run([]string{"-vocab", vocab, "-o", filepath.Join(dir, "out2"), "-i", bad, "-drop-log", failed}, &so, &se); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("bad input: %v", err)
	}
	if _, err := os.Stat(failed); err == nil {
		t.Error("a failed run wrote its drop log")
	}
}

func TestRunSpillsToTmp(t *testing.T) {
	vocab := filepath.Join(testutil.RepoRoot(), "testdata", "tinystories-bitnet-i2_s.gguf")
	dir := t.TempDir()
	var b strings.Builder
	for i := range 3000 {
		for j := range 12 {
			fmt.Fprintf(&b, "w%d ", (i%2500)*12+j) // 2500 distinct documents, then 500 copies
		}
		b.WriteString("\n\n")
	}
	a := filepath.Join(dir, "a.txt")
	os.WriteFile(a, []byte(b.String()), 0o644)
	tmp := filepath.Join(dir, "tmp")
	os.Mkdir(tmp, 0o755)
	var so, se bytes.Buffer
	if err := run([]string{"-vocab", vocab, "-o", filepath.Join(dir, "out"), "-i", a, "-dedup-mem", "64KiB", "-tmp", tmp, "-valid", "0"}, &so, &se); err != nil {
		t.Fatalf("%v\n%s", err, se.String())
	}
	if !strings.Contains(so.String(), "of a 0.1 MiB budget") || !strings.Contains(so.String(), "3000       2500        0        500          0") {
		t.Errorf("stdout:\n%s", so.String())
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("%d temporary entries left", len(left))
	}
}

func TestParseSize(t *testing.T) {
	for s, want := range map[string]int64{"65536": 65536, "64KiB": 64 << 10, "256MiB": 256 << 20, "2G": 2 << 30, "1 GiB": 1 << 30, "10b": 10} {
		if n, err := parseSize(s); err != nil || n != want {
			t.Errorf("%q: %d, %v; want %d", s, n, err, want)
		}
	}
	for _, s := range []string{"", "MiB", "12XB", "-5", "99999999999TiB"} {
		if n, err := parseSize(s); err == nil {
			t.Errorf("%q: %d, want an error", s, n)
		}
	}
}
