package data

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

var genCorpus = flag.String("gen-corpus", "", "write a benchmark JSONL corpus to this path (with -gen-bytes, -gen-exact, -gen-near) and its planted duplicates to PATH.truth")
var genBytes = flag.Int64("gen-bytes", 2e9, "size of the generated corpus")
var genExact = flag.Float64("gen-exact", 0.05, "share of planted exact duplicates")
var genNear = flag.Float64("gen-near", 0.05, "share of planted near duplicates (1% of the words replaced)")

// makeCorpus writes JSONL documents of 4-8 random TinyStories paragraphs,
// with exact and near copies of earlier original documents planted at the
// given rates; truth gets "index kind" for each planted document.
func makeCorpus(paras []string, w, truth *bufio.Writer, size int64, exact, near float64, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 7))
	var recent []string
	var written int64
	for i := 0; written < size; i++ {
		var text string
		kind := ""
		r := rng.Float64()
		switch {
		case len(recent) > 0 && r < exact:
			text, kind = recent[rng.IntN(len(recent))], "exact"
		case len(recent) > 0 && r < exact+near:
			words := strings.Fields(recent[rng.IntN(len(recent))])
			for e := 0; e < max(1, len(words)/100); e++ {
				words[rng.IntN(len(words))] = fmt.Sprintf("w%d", rng.IntN(1000))
			}
			text, kind = strings.Join(words, " "), "near"
		default:
			n := 4 + rng.IntN(5)
			ps := make([]string, n)
			for j := range ps {
				ps[j] = paras[rng.IntN(len(paras))]
			}
			text = strings.Join(ps, "\n\n")
			if len(recent) < 2000 {
				recent = append(recent, text)
			} else {
				recent[rng.IntN(len(recent))] = text
			}
		}
		b, _ := json.Marshal(map[string]string{"id": fmt.Sprint(i), "text": text})
		b = append(b, '\n')
		if _, err := w.Write(b); err != nil {
			return err
		}
		written += int64(len(b))
		if kind != "" {
			fmt.Fprintf(truth, "%d %s\n", i, kind)
		}
	}
	return nil
}

func paragraphs(t testing.TB, path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range strings.Split(string(b), "\n\n") {
		if p = strings.TrimSpace(p); len(strings.Fields(p)) >= 20 {
			out = append(out, p)
		}
	}
	return out
}

// TestGenerateCorpus writes the benchmark corpus when -gen-corpus is given
// (it never goes into the repository); without it there is nothing to do.
func TestGenerateCorpus(t *testing.T) {
	if *genCorpus == "" {
		return
	}
	paras := paragraphs(t, "../../shared/testdata/data/tinystories/train.txt")
	f, err := os.Create(*genCorpus)
	if err != nil {
		t.Fatal(err)
	}
	tf, err := os.Create(*genCorpus + ".truth")
	if err != nil {
		t.Fatal(err)
	}
	w, tw := bufio.NewWriterSize(f, 1<<20), bufio.NewWriter(tf)
	if err := makeCorpus(paras, w, tw, *genBytes, *genExact, *genNear, 1); err != nil {
		t.Fatal(err)
	}
	for _, c := range []interface{ Flush() error }{w, tw} {
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	tf.Close()
}
