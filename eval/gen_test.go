package eval

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitnet-go/bitnet/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite testdata/eval from the TinyStories validation text")

// storyParagraphs are the paragraphs of the TinyStories validation text
// with at least minWords words.
func storyParagraphs(text string, minWords int) [][]string {
	var out [][]string
	for _, p := range strings.Split(text, "\n\n") {
		w := strings.Fields(strings.ReplaceAll(p, `"`, ""))
		if len(w) >= minWords {
			out = append(out, w)
		}
	}
	return out
}

func alpha(w string) bool {
	if len(w) < 3 {
		return false
	}
	for _, c := range w {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// genTaskFiles makes the three task files: the true continuation of a
// TinyStories paragraph against continuations of other paragraphs
// (hellaswag, multiple choice) and a word of the paragraph against a word
// from another (winogrande).
func genTaskFiles(text string) (hs, wg, mc []byte) {
	paras := storyParagraphs(text, 42)
	rng := rand.New(rand.NewPCG(11, 2026))
	other := func(not int) []string {
		for {
			if j := rng.IntN(len(paras)); j != not {
				return paras[j]
			}
		}
	}
	span := func(w []string, a, b int) string { return strings.Join(w[a:b], " ") }

	var b bytes.Buffer
	for i := 0; i < 24; i++ {
		pi := rng.IntN(len(paras))
		p := paras[pi]
		gold := rng.IntN(4)
		fmt.Fprintf(&b, "%s\n%d\n", span(p, 0, 30), gold)
		for e := 0; e < 4; e++ {
			if e == gold {
				fmt.Fprintf(&b, "%s\n", span(p, 30, 42))
			} else {
				fmt.Fprintf(&b, "%s\n", span(other(pi), 30, 42))
			}
		}
	}
	hs = bytes.Clone(b.Bytes())

	b.Reset()
	for i := 0; i < 31; i++ {
		pi := rng.IntN(len(paras))
		p := paras[pi][:26]
		var cands []int
		for k := 12; k < 21; k++ {
			if alpha(p[k]) && strings.Contains(" "+span(p, 0, k)+" ", " "+p[k]+" ") {
				cands = append(cands, k)
			}
		}
		if len(cands) == 0 {
			for k := 12; k < 21; k++ {
				if alpha(p[k]) {
					cands = append(cands, k)
				}
			}
		}
		if len(cands) == 0 {
			i--
			continue
		}
		k := cands[rng.IntN(len(cands))]
		var wrong string
		for {
			o := other(pi)
			wrong = o[rng.IntN(len(o))]
			if alpha(wrong) && wrong != p[k] {
				break
			}
		}
		sentence := span(p, 0, k) + " _ " + span(p, k+1, len(p))
		if strings.Contains(sentence, ",") {
			sentence = `"` + sentence + `"`
		}
		ans := 1 + rng.IntN(2)
		c := [2]string{p[k], wrong}
		if ans == 2 {
			c = [2]string{wrong, p[k]}
		}
		fmt.Fprintf(&b, "%d,%s,%s,%s,%d\n", i, sentence, c[0], c[1], ans)
	}
	wg = bytes.Clone(b.Bytes())

	var tasks []MultipleChoiceTask
	for i := 0; i < 24; i++ {
		pi := rng.IntN(len(paras))
		p := paras[pi]
		n := 2 + rng.IntN(3) // at most 4 answers: the fork's llama-perplexity has 4 sequences unless -np is raised
		gold := rng.IntN(n)
		t := MultipleChoiceTask{Question: span(p, 0, 30)}
		for e := 0; e < n; e++ {
			if e == gold {
				t.Answers = append(t.Answers, span(p, 30, 40))
				t.Labels = append(t.Labels, 1)
			} else {
				t.Answers = append(t.Answers, span(other(pi), 30, 40))
				t.Labels = append(t.Labels, 0)
			}
		}
		tasks = append(tasks, t)
	}
	mc, err := WriteMultipleChoice(tasks)
	if err != nil {
		panic(err)
	}
	return hs, wg, mc
}

var taskFiles = []string{"tinystories-hellaswag.txt", "tinystories-winogrande.csv", "tinystories-mc.bin"}

// TestTaskFilesReproduce regenerates the committed task files from the
// TinyStories validation text (or rewrites them with -update).
func TestTaskFilesReproduce(t *testing.T) {
	src := testutil.Shared(t, "data/tinystories/valid.txt", "that testdata/eval is made from the TinyStories text")
	text, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	hs, wg, mc := genTaskFiles(string(text))
	dir := filepath.Join(testutil.RepoRoot(), "testdata", "eval")
	for i, data := range [][]byte{hs, wg, mc} {
		path := filepath.Join(dir, taskFiles[i])
		if *update {
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		old, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(old, data) {
			t.Errorf("%s differs from what the generator makes (run go test ./eval -run TaskFiles -update)", path)
		}
	}
}
