package train

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
)

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed)) }

func TestShardRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, vocab := range []int{300, 70000} {
		ids := make([]int32, 1000)
		for i := range ids {
			ids[i] = int32(newRand(uint64(i)).IntN(vocab))
		}
		p := filepath.Join(dir, "s.tok")
		if err := WriteShard(p, ids, vocab); err != nil {
			t.Fatal(err)
		}
		got, v, err := ReadShard(p)
		if err != nil || v != vocab || !slices.Equal(got, ids) {
			t.Fatalf("vocab %d: round trip failed: %v", vocab, err)
		}
	}
	if err := WriteShard(filepath.Join(dir, "bad.tok"), []int32{5}, 5); err == nil {
		t.Fatal("id outside the vocabulary accepted")
	}
}

func TestTokenizeTextDocuments(t *testing.T) {
	got := TokenizeText(byteTokenizer{}, "ab<|sep|> c <|sep|><|sep|>d", "<|sep|>")
	want := []int32{'a', 'b', 257, 'c', 257, 'd', 257}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got := TokenizeText(byteTokenizer{}, "a\nb", ""); !slices.Equal(got, []int32{'a', '\n', 'b'}) {
		t.Fatalf("one document: %v", got)
	}
}

func TestBatchSampler(t *testing.T) {
	stream := byteTokenizer{}.Encode("one two.\nthree four five.\nsix seven eight nine.\nten eleven twelve thirteen\n", false, false)
	nl := func(t int32) bool { return t == '\n' }
	const ctx = 8
	for _, mode := range []string{SampleRef, SamplePacked} {
		s, err := NewBatchSampler(stream, ctx, 256, mode, 3, nl)
		if err != nil {
			t.Fatal(err)
		}
		in, tg := make([]int32, ctx), make([]int32, ctx)
		var rows [][]int32
		var state BatchSamplerState
		for r := 0; r < 40; r++ {
			if r == 17 {
				state = s.State()
			}
			s.Next(in, tg)
			if in[0] != 256 || !slices.Equal(in[1:], tg[:ctx-1]) {
				t.Fatalf("%s: row %d: inputs %v are not BOS + targets %v", mode, r, in, tg)
			}
			// Targets are consecutive tokens of the stream.
			if !slices.ContainsFunc(windowsOf(stream, ctx), func(w []int32) bool { return slices.Equal(w, tg) }) {
				t.Fatalf("%s: row %d: %v is not a window of the stream", mode, r, tg)
			}
			if mode == SampleRef && r%2 == 0 {
				if st := indexOfWindow(stream, tg); st != 0 && stream[st-1] != '\n' {
					t.Fatalf("ref row %d starts at %d, not at a paragraph", r, st)
				}
			}
			rows = append(rows, slices.Clone(tg))
		}
		// Restoring a saved state replays the same rows.
		s2, _ := NewBatchSampler(stream, ctx, 256, mode, 3, nl)
		if err := s2.Restore(state); err != nil {
			t.Fatal(err)
		}
		for r := 17; r < 40; r++ {
			s2.Next(in, tg)
			if !slices.Equal(tg, rows[r]) {
				t.Fatalf("%s: restored row %d differs", mode, r)
			}
		}
		if mode == SamplePacked {
			// One epoch serves every packed sequence once.
			n := len(stream) / ctx
			seen := map[int]bool{}
			for _, r := range rows[:n] {
				seen[indexOfWindow(stream, r)] = true
			}
			if len(seen) != n {
				t.Fatalf("packed epoch served %d distinct sequences of %d", len(seen), n)
			}
		}
	}
}

func windowsOf(s []int32, n int) [][]int32 {
	var w [][]int32
	for i := 0; i+n <= len(s); i++ {
		w = append(w, s[i:i+n])
	}
	return w
}

func indexOfWindow(s, w []int32) int {
	for i := 0; i+len(w) <= len(s); i++ {
		if slices.Equal(s[i:i+len(w)], w) {
			return i
		}
	}
	return -1
}

// TestValWindows checks the reference's evaluation windows: BOS + 256
// tokens at stride 255 over valid.txt's 215,043 tokens give 843 windows,
// 215,808 scored tokens.
func TestValWindows(t *testing.T) {
	w := ValWindows(215043, 256)
	if len(w) != 843 || len(w)*256 != 215808 || w[1] != 255 || w[842]+256 > 215043 {
		t.Fatalf("%d windows, last at %d", len(w), w[len(w)-1])
	}
}
