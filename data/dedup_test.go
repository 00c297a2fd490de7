package data

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

type verdict struct {
	g   uint64
	why Verdict
}

// reference is Dedup.Check over the documents in order: the in-memory
// index the external one must agree with.
func reference(hashes []uint64, sigs []Signature) []verdict {
	var d Dedup
	var out []verdict
	for g := range hashes {
		if v := d.Check(hashes[g], &sigs[g]); v != Keep {
			out = append(out, verdict{uint64(g), v})
		}
	}
	return out
}

// external runs the index with a budget and checks its accounting.
func external(t *testing.T, budget int64, hashes []uint64, sigs []Signature) ([]verdict, *dedupIndex) {
	t.Helper()
	dir := t.TempDir()
	x, err := newDedupIndex(context.Background(), budget, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer x.close()
	for g := range hashes {
		if err := x.add(uint64(g), hashes[g], &sigs[g]); err != nil {
			t.Fatal(err)
		}
	}
	var out []verdict
	if err := x.resolve(func(g uint64, why Verdict) error {
		if len(out) > 0 && g <= out[len(out)-1].g {
			t.Fatalf("verdict for %d after %d", g, out[len(out)-1].g)
		}
		out = append(out, verdict{g, why})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if x.mem.peak > budget {
		t.Errorf("budget %d: the index held %d bytes", budget, x.mem.peak)
	}
	if x.mem.held != int64(x.hw)*recBytes || x.hw > len(x.buf) {
		t.Errorf("budget %d: %d bytes still held besides the %d records used of the buffer of %d", budget, x.mem.held, x.hw, len(x.buf))
	}
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("budget %d: %d temporary files left", budget, len(left))
	}
	return out, x
}

func sameVerdicts(t *testing.T, what string, got, want []verdict) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d dropped, want %d", what, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Errorf("%s: drop %d is %v, want %v", what, i, got[i], want[i])
			return
		}
	}
}

// TestDedupIndexChains draws keys from small sets, so that documents
// collide often and in long chains (a document can share keys only with
// dropped documents, and a group's first members can be dropped through
// other groups), and checks the verdicts against Dedup.Check with budgets
// that spill keys, edges and messages many times, and one that spills
// nothing.
func TestDedupIndexChains(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 20000
	hashes := make([]uint64, n)
	sigs := make([]Signature, n)
	for g := range hashes {
		hashes[g] = 1 + rng.Uint64N(400000)
		for b := range sigs[g] {
			// Keys of band b are b*1e7 + [0, 3e6): a pair shares one of
			// bands 1-9 with probability 3e-6, so chains run long, and
			// band 0 with probability 2/n, so many chains are open at
			// once (the message queue must spill).
			r := uint64(3e6)
			if b == 0 {
				r = n / 2
			}
			sigs[g][b] = uint64(b)*1e7 + rng.Uint64N(r)
		}
	}
	hashes[10] = 0 // key 0 is key 1, as in set64
	hashes[20] = 1
	want := reference(hashes, sigs)
	exact, near := 0, 0
	for _, v := range want {
		if v.why == ExactDup {
			exact++
		} else {
			near++
		}
	}
	t.Logf("%d documents: %d exact, %d near duplicates", n, exact, near)
	if exact < 100 || near < 100 || len(want) > 3*n/4 {
		t.Fatalf("the draw does not exercise both kinds: %d exact, %d near", exact, near)
	}
	for _, budget := range []int64{MinDedupMem, 256 << 10, 64 << 20} {
		got, x := external(t, budget, hashes, sigs)
		t.Logf("budget %d: %d temporary files (%d message spills), %d bytes spilled, peak %d bytes", budget, x.nfiles, x.msgSpills, x.spilled, x.mem.peak)
		sameVerdicts(t, fmt.Sprint("budget ", budget), got, want)
		switch budget {
		case MinDedupMem:
			if x.nfiles < 20 || x.msgSpills < 3 {
				t.Errorf("the smallest budget spilled %d files, %d of messages: want many", x.nfiles, x.msgSpills)
			}
		case 64 << 20:
			if x.nfiles != 0 {
				t.Errorf("a budget that holds everything wrote %d files", x.nfiles)
			}
		}
	}
}

// TestDedupIndexCorpus checks the verdicts on real documents with planted
// duplicates (the signatures Build computes).
func TestDedupIndexCorpus(t *testing.T) {
	corpus, _ := smallCorpus(t, t.TempDir(), 2e6, 5)
	texts, err := readAll(t, corpus, SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var hashes []uint64
	var sigs []Signature
	for _, s := range texts {
		s = strings.TrimSpace(s)
		hashes = append(hashes, hashString(s))
		sigs = append(sigs, MinHash(s))
	}
	want := reference(hashes, sigs)
	got, x := external(t, MinDedupMem, hashes, sigs)
	t.Logf("%d documents, %d dropped; %d temporary files", len(texts), len(want), x.nfiles)
	sameVerdicts(t, "planted corpus", got, want)
	if len(want) < len(texts)/20 || x.nfiles < 10 {
		t.Errorf("%d dropped of %d, %d files: the test exercises too little", len(want), len(texts), x.nfiles)
	}
}

func TestDedupIndexBudget(t *testing.T) {
	if _, err := newDedupIndex(nil, MinDedupMem-1, t.TempDir()); err == nil {
		t.Error("a budget below the minimum: no error")
	}
	x, err := newDedupIndex(nil, 1<<30, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer x.close()
	if b := int64(len(x.buf)) * recBytes; b > 1<<30 || b < 1<<29 || x.mem.held != 0 {
		t.Errorf("1 GiB budget: buffer of %d bytes, %d held before use", b, x.mem.held)
	}
	// A temporary directory that cannot be written to: a clear error at
	// the first spill.
	gone := filepath.Join(t.TempDir(), "gone")
	y, err := newDedupIndex(nil, MinDedupMem, gone)
	if err != nil {
		t.Fatal(err)
	}
	defer y.close()
	var sig Signature
	for g := uint64(0); err == nil && g < 1e4; g++ {
		sig[0] = g
		err = y.add(g, g, &sig)
	}
	if err == nil || !strings.Contains(err.Error(), "dedup temporary file") || !strings.Contains(err.Error(), "gone") {
		t.Errorf("unwritable directory: %v", err)
	}
}

// TestBuildSpillsLikeInMemory builds one corpus with the smallest budget
// and with the default: the same drops and byte-identical shards, no
// temporary files left; and the drops are Dedup.Check's in document order
// (the single-pass pipeline's before the index spilled).
func TestBuildSpillsLikeInMemory(t *testing.T) {
	tok := vocab(t)
	dir := t.TempDir()
	corpus, _ := smallCorpus(t, dir, 1e6, 3)
	tmp := filepath.Join(dir, "tmp")
	os.Mkdir(tmp, 0o755)
	var streamed []Drop
	build := func(out string, mem int64) *Report {
		c := Config{
			Sources: []Source{{Files: []string{corpus}, Weight: 1}}, Tokenizer: tok, Vocab: tok.NumTokens(),
			OutDir: filepath.Join(dir, out), ShardTokens: 50000, ValidFraction: 0.01, Seed: 1, Dedup: true, Workers: 2,
			DedupMem: mem, TempDir: tmp,
		}
		if out == "streamed" {
			c.OnDrop = func(d Drop) error { streamed = append(streamed, d); return nil }
		}
		rep, err := Build(c)
		if err != nil {
			t.Fatal(err)
		}
		if left, _ := os.ReadDir(tmp); len(left) > 0 {
			t.Errorf("budget %d: %d temporary entries left", mem, len(left))
		}
		return rep
	}
	small, big := build("small", MinDedupMem), build("big", 0)
	if rep := build("streamed", 0); len(rep.Dropped) != 0 || !slices.Equal(streamed, big.Dropped) {
		t.Errorf("OnDrop: %d drops streamed, %d in the report; want the %d of Dropped", len(streamed), len(rep.Dropped), len(big.Dropped))
	}
	if small.DedupBytes > MinDedupMem || small.DedupSpill == 0 || big.DedupBudget != DefaultDedupMem {
		t.Errorf("small budget: peak %d spilled %d; default budget %d", small.DedupBytes, small.DedupSpill, big.DedupBudget)
	}
	if len(small.Dropped) != len(big.Dropped) || len(small.Dropped) == 0 {
		t.Fatalf("%d and %d dropped", len(small.Dropped), len(big.Dropped))
	}
	for i := range small.Dropped {
		if small.Dropped[i] != big.Dropped[i] {
			t.Fatalf("drop %d: %v and %v", i, small.Dropped[i], big.Dropped[i])
		}
	}
	for _, name := range append(append([]string{}, big.TrainShards...), big.ValidShards...) {
		x, _ := os.ReadFile(filepath.Join(dir, "small", name))
		y, _ := os.ReadFile(filepath.Join(dir, "big", name))
		if len(y) == 0 || !bytes.Equal(x, y) {
			t.Errorf("%s differs between the budgets", name)
		}
	}
	texts, err := readAll(t, corpus, SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var d Dedup
	i := 0
	for g, s := range texts {
		s = strings.TrimSpace(s)
		sig := MinHash(s)
		if v := d.Check(hashString(s), &sig); v != Keep {
			if i >= len(big.Dropped) || big.Dropped[i] != (Drop{Source: 0, Doc: int64(g), Why: v}) {
				t.Fatalf("document %d: Dedup.Check says %v, Build's drop %d is %v", g, v, i, big.Dropped[min(i, len(big.Dropped)-1)])
			}
			i++
		}
	}
	if i != len(big.Dropped) {
		t.Errorf("Build dropped %d, Dedup.Check %d", len(big.Dropped), i)
	}
}

func TestBuildDedupErrors(t *testing.T) {
	tok := vocab(t)
	dir := t.TempDir()
	corpus, _ := smallCorpus(t, dir, 3e5, 4)
	tmp := filepath.Join(dir, "tmp")
	os.Mkdir(tmp, 0o755)
	cfg := func(out string) Config {
		return Config{Sources: []Source{{Files: []string{corpus}, Weight: 1}}, Tokenizer: tok, Vocab: tok.NumTokens(),
			OutDir: filepath.Join(dir, out), Dedup: true, Workers: 2, DedupMem: MinDedupMem, TempDir: tmp}
	}
	c := cfg("a")
	c.TempDir = filepath.Join(dir, "missing")
	if _, err := Build(c); err == nil || !strings.Contains(err.Error(), "temporary directory") {
		t.Errorf("missing temporary directory: %v", err)
	}
	c = cfg("b")
	c.DedupMem = 1000
	if _, err := Build(c); err == nil || !strings.Contains(err.Error(), "budget") {
		t.Errorf("tiny budget: %v", err)
	}
	// A bad line in the input fails the first pass.
	bad := filepath.Join(dir, "bad.jsonl")
	b, _ := os.ReadFile(corpus)
	writeFile(t, bad, append(b, "{\"text\": 3}\n"...))
	c = cfg("c")
	c.Sources[0].Files = []string{bad}
	if _, err := Build(c); err == nil || !strings.Contains(err.Error(), "not a string") {
		t.Errorf("bad input: %v", err)
	}
	// OnDrop's error stops the build.
	c = cfg("e")
	c.OnDrop = func(Drop) error { return errors.New("log full") }
	if _, err := Build(c); err == nil || !strings.Contains(err.Error(), "log full") {
		t.Errorf("OnDrop error: %v", err)
	}
	// Cancelled.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c = cfg("d")
	c.Context = ctx
	if _, err := Build(c); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("%d temporary entries left after errors", len(left))
	}
	for _, out := range []string{"c", "d", "e"} {
		if _, err := os.Stat(filepath.Join(dir, out, ManifestFile)); err == nil {
			t.Errorf("%s: a failed build wrote a manifest", out)
		}
	}
}
