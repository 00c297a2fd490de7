package main

import (
	"bytes"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bitnet-go/bitnet/internal/testutil"
)

func TestBatchedBench(t *testing.T) {
	model := filepath.Join(testutil.RepoRoot(), "testdata", "tinystories-bitnet-i2_s.gguf")
	var o, e bytes.Buffer
	if err := run([]string{"--bench", "-npl", "1,3", "-p", "5", "-n", "3", "-t", "1,2", "-b", "4", model}, &o, &e); err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	for _, l := range strings.Split(o.String(), "\n") {
		f := strings.Fields(strings.ReplaceAll(l, "|", " "))
		if len(f) != 10 {
			continue
		}
		if _, err := strconv.Atoi(f[0]); err == nil {
			rows = append(rows, f)
		}
	}
	// Two thread counts × two sequence counts; N_KV = B × (PP + TG).
	want := [][]string{{"5", "3", "1", "8"}, {"5", "3", "3", "24"}, {"5", "3", "1", "8"}, {"5", "3", "3", "24"}}
	if len(rows) != len(want) {
		t.Fatalf("%d table rows, want %d:\n%s", len(rows), len(want), o.String())
	}
	for i, r := range rows {
		if strings.Join(r[:4], " ") != strings.Join(want[i], " ") {
			t.Errorf("row %d: %v, want %v", i, r[:4], want[i])
		}
	}
	if !strings.Contains(o.String(), "n_batch = 5") {
		t.Errorf("-b 4 with 3 sequences: the batch should grow to 5 (3 decode rows + 2):\n%s", o.String())
	}
	for _, c := range []struct{ args, want string }{
		{"-npl 0", "-npl 0"},
		{"-npl x", "-npl"},
		{"-npl 1 -t 0", "-t 0"},
		{"-npl 1 -b 0", "-b 0"},
		{"-npl 1 -p 1,y", "-p"},
	} {
		err := run(append(append([]string{"--bench"}, strings.Fields(c.args)...), model), &o, &e)
		if _, ok := err.(usageError); !ok || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a usage error naming %s", c.args, err, c.want)
		}
	}
}
