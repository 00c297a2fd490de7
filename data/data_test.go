package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"

	"github.com/bitnet-go/bitnet/gguf"
	"github.com/bitnet-go/bitnet/internal/testutil"
	"github.com/bitnet-go/bitnet/loader/tokenizer"
)

func vocab(t testing.TB) *tokenizer.Tokenizer {
	t.Helper()
	f, err := gguf.Open(filepath.Join(testutil.RepoRoot(), "testdata", "tinystories-bitnet-i2_s.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	tok, err := tokenizer.FromGGUF(f, tokenizer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func readAll(t *testing.T, path string, o SourceOptions) ([]string, error) {
	t.Helper()
	r, err := Open(path, o)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var docs []string
	for {
		d, err := r.Next()
		if err == io.EOF {
			return docs, nil
		}
		if err != nil {
			return docs, err
		}
		docs = append(docs, d)
	}
}

var docs = []string{"once upon a time there was a cat.", "the cat had a hat,\nand a \"big\" smile.", "the end — ünïcode ok"}

func writeFile(t *testing.T, path string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFormats(t *testing.T) {
	dir := t.TempDir()
	var jl bytes.Buffer
	for _, d := range docs {
		b, _ := json.Marshal(map[string]any{"text": d, "n": 1})
		jl.Write(append(b, '\n'))
	}
	jl.WriteString("\n") // blank lines are skipped
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(jl.Bytes())
	zw.Close()
	enc, _ := zstd.NewWriter(nil)
	zs := enc.EncodeAll(jl.Bytes(), nil)
	pq := filepath.Join(dir, "d.parquet")
	{
		type row struct {
			Text string `parquet:"text"`
			N    int64  `parquet:"n"`
		}
		var rows []row
		for _, d := range docs {
			rows = append(rows, row{Text: d, N: 1})
		}
		if err := parquet.WriteFile(pq, rows, parquet.PageBufferSize(64)); err != nil {
			t.Fatal(err)
		}
	}
	txt := strings.Join(docs, "\n\n") + "\n\n\n"
	for _, c := range []struct {
		path string
		o    SourceOptions
		want []string
	}{
		{writeFile(t, filepath.Join(dir, "d.jsonl"), jl.Bytes()), SourceOptions{}, docs},
		{writeFile(t, filepath.Join(dir, "d.jsonl.gz"), gz.Bytes()), SourceOptions{}, docs},
		{writeFile(t, filepath.Join(dir, "d.jsonl.zst"), zs), SourceOptions{}, docs},
		{pq, SourceOptions{}, docs},
		{writeFile(t, filepath.Join(dir, "d.txt"), []byte(txt)), SourceOptions{}, docs},
		{writeFile(t, filepath.Join(dir, "l.txt"), []byte("a\nb\n\nc")), SourceOptions{Sep: "\n"}, []string{"a", "b", "c"}},
		{writeFile(t, filepath.Join(dir, "n.txt"), []byte("a\nb\n\nc")), SourceOptions{Sep: "none"}, []string{"a\nb\n\nc"}},
	} {
		got, err := readAll(t, c.path, c.o)
		if err != nil || !equalStrings(got, c.want) {
			t.Errorf("%s: %q, %v", filepath.Base(c.path), got, err)
		}
	}
	for _, c := range []struct {
		name, content string
		o             SourceOptions
		want          string
	}{
		{"bad.jsonl", "{\"text\":\"a\"}\n{\"text\":", SourceOptions{}, "line 2"},
		{"field.jsonl", "{\"body\":\"a\"}\n", SourceOptions{}, `no field "text"`},
		{"num.jsonl", "{\"text\":3}\n", SourceOptions{}, "not a string"},
		{"long.jsonl", "{\"text\":\"" + strings.Repeat("x", 100) + "\"}\n", SourceOptions{MaxDoc: 50}, "longer than 50"},
		{"long.txt", strings.Repeat("x", 200), SourceOptions{MaxDoc: 50}, "longer than 50"},
		{"bad.jsonl.gz", "not gzip", SourceOptions{}, "gzip"},
		{"bad.jsonl.zst", "not zstd at all", SourceOptions{}, "magic"},
		{"x.csv", "a", SourceOptions{}, "unknown input format"},
		{"bad.parquet", "PAR1 not really", SourceOptions{}, "bad.parquet"},
	} {
		_, err := readAll(t, writeFile(t, filepath.Join(dir, c.name), []byte(c.content)), c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
	if _, err := readAll(t, pq, SourceOptions{Field: "body"}); err == nil || !strings.Contains(err.Error(), "no such column") {
		t.Errorf("parquet without the column: %v", err)
	}
	if _, err := readAll(t, pq, SourceOptions{Field: "n"}); err == nil || !strings.Contains(err.Error(), "not strings") {
		t.Errorf("parquet int column: %v", err)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// smallCorpus writes a JSONL corpus with planted duplicates and returns
// its path and the planted documents.
func smallCorpus(t *testing.T, dir string, size int64, seed uint64) (string, map[int64]string) {
	t.Helper()
	src := testutil.Shared(t, "data/tinystories/train.txt", "the data pipeline on TinyStories")
	paras := paragraphs(t, src)
	path := filepath.Join(dir, fmt.Sprintf("c%d.jsonl", seed))
	f, _ := os.Create(path)
	var truth bytes.Buffer
	w, tw := bufio.NewWriter(f), bufio.NewWriter(&truth)
	if err := makeCorpus(paras, w, tw, size, 0.05, 0.05, seed); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	tw.Flush()
	f.Close()
	planted := map[int64]string{}
	for _, l := range strings.Split(strings.TrimSpace(truth.String()), "\n") {
		var i int64
		var k string
		fmt.Sscan(l, &i, &k)
		planted[i] = k
	}
	return path, planted
}

func TestBuildDeterministicAndDedup(t *testing.T) {
	tok := vocab(t)
	dir := t.TempDir()
	corpus, planted := smallCorpus(t, dir, 3e6, 1)
	build := func(out string, seed uint64) *Report {
		rep, err := Build(Config{
			Sources: []Source{{Files: []string{corpus}, Weight: 1}}, Tokenizer: tok, Vocab: tok.NumTokens(),
			OutDir: filepath.Join(dir, out), ShardTokens: 100000, ValidFraction: 0.01, Seed: seed, Dedup: true, Workers: 2,
		})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	a, _, c := build("a", 7), build("b", 7), build("c", 8)
	if len(a.TrainShards) < 2 {
		t.Fatalf("want several shards, got %v", a.TrainShards)
	}
	for _, name := range append(append([]string{}, a.TrainShards...), a.ValidShards...) {
		x, _ := os.ReadFile(filepath.Join(dir, "a", name))
		y, _ := os.ReadFile(filepath.Join(dir, "b", name))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("%s differs between two runs with one seed", name)
		}
	}
	if a.ValidTokens == c.ValidTokens {
		t.Errorf("another seed holds out the same %d tokens", a.ValidTokens)
	}
	// Planted duplicates: every exact copy is found as exact; near copies
	// (1% of the words replaced, Jaccard ≈ 0.9) are found as near.
	tp, fp := 0, 0
	found := map[int64]bool{}
	for _, d := range a.Dropped {
		found[d.Doc] = true
		if k, ok := planted[d.Doc]; ok {
			tp++
			if k == "exact" && d.Why != ExactDup {
				t.Errorf("doc %d: planted exact copy flagged %v", d.Doc, d.Why)
			}
		} else {
			fp++
		}
	}
	precision := float64(tp) / float64(tp+fp)
	recall := float64(tp) / float64(len(planted))
	t.Logf("%d planted, %d dropped: precision %.4f recall %.4f", len(planted), len(a.Dropped), precision, recall)
	if precision < 0.98 || recall < 0.97 {
		t.Errorf("dedup precision %.4f recall %.4f", precision, recall)
	}
	// The shards hold exactly the kept documents' tokens, each with EOS.
	var n int64
	for _, name := range a.TrainShards {
		s, err := OpenShard(filepath.Join(dir, "a", name))
		if err != nil {
			t.Fatal(err)
		}
		if s.Width() != 2 || s.Vocab() != tok.NumTokens() {
			t.Errorf("%s: width %d vocab %d", name, s.Width(), s.Vocab())
		}
		n += int64(s.Len())
		s.Close()
	}
	if n != a.TrainTokens {
		t.Errorf("shards hold %d tokens, report %d", n, a.TrainTokens)
	}
	if _, err := Build(Config{Sources: []Source{{Files: []string{corpus}, Weight: 1}}, Tokenizer: tok, Vocab: tok.NumTokens(), OutDir: filepath.Join(dir, "a")}); err == nil {
		t.Error("building into a directory with a data set: no error")
	}
}

func TestMixtureShares(t *testing.T) {
	tok := vocab(t)
	dir := t.TempDir()
	c1, _ := smallCorpus(t, dir, 1e6, 1)
	c2, _ := smallCorpus(t, dir, 1e6, 2)
	txt := testutil.Shared(t, "data/tinystories/valid.txt", "mixing")
	rep, err := Build(Config{
		Sources:   []Source{{Files: []string{c1}, Weight: 5}, {Files: []string{c2}, Weight: 3}, {Files: []string{txt}, Weight: 2}},
		Tokenizer: tok, Vocab: tok.NumTokens(), OutDir: filepath.Join(dir, "m"), Lowercase: true, Dedup: true, Workers: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range []float64{0.5, 0.3, 0.2} {
		if s := rep.Sources[i].Share; s < w-0.005 || s > w+0.005 {
			t.Errorf("source %d: share %.4f, weight %.2f", i, s, w)
		}
	}
	exhausted := 0
	for _, s := range rep.Sources {
		if s.Exhausted {
			exhausted++
		}
	}
	if exhausted != 1 {
		t.Errorf("%d sources exhausted, want the first to end the mix", exhausted)
	}
	var b bytes.Buffer
	rep.Print(&b)
	t.Log("\n" + b.String())
}

func TestOpenShardRejects(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "s.tok")
	if err := WriteShard(p, []int32{1, 2, 3, 70000}, 80000); err != nil {
		t.Fatal(err)
	}
	s, err := OpenShard(p)
	if err != nil || s.Width() != 4 || s.Len() != 4 || s.At(3) != 70000 {
		t.Fatalf("u32 shard: %v", err)
	}
	s.Close()
	if err := WriteShard(p, []int32{5}, 4); err == nil {
		t.Error("id outside the vocabulary: no error")
	}
	good, _ := os.ReadFile(p)
	for name, b := range map[string][]byte{
		"short":   good[:10],
		"magic":   append([]byte("XXXX"), good[4:]...),
		"trunc":   good[:len(good)-1],
		"dtype":   append(append(append([]byte(nil), good[:8]...), 9, 0, 0, 0), good[12:]...),
		"version": append(append(append([]byte(nil), good[:4]...), 2, 0, 0, 0), good[8:]...),
	} {
		q := writeFile(t, filepath.Join(dir, name), b)
		if _, err := OpenShard(q); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestMinHashSimilarity(t *testing.T) {
	a := strings.Repeat("the quick brown fox jumps over the lazy dog and ", 3) + "then it ran far away into the woods to sleep"
	words := strings.Fields(a)
	words[10] = "cat"
	b := strings.Join(words, " ")
	sa, sb := MinHash(a), MinHash(b)
	same := 0
	for i := range sa {
		if sa[i] == sb[i] {
			same++
		}
	}
	if same == 0 {
		t.Error("near-identical texts share no band")
	}
	sc := MinHash("a completely different text about cats and their hats in the rain today")
	for i := range sa {
		if sa[i] == sc[i] {
			t.Error("unrelated texts share a band")
		}
	}
	var d Dedup
	if d.Check(hashString(a), &sa) != Keep || d.Check(hashString(a), &sa) != ExactDup || d.Check(hashString(b), &sb) != NearDup || d.Check(hashString("x"), &sc) != Keep {
		t.Error("verdicts")
	}
}
