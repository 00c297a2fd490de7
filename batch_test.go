package bitnet

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestBatchMatchesSessions: sessions evaluated together in a Batch get the
// logits and caches they get evaluated alone, prompts and decode steps
// mixed in one pass.
func TestBatchMatchesSessions(t *testing.T) {
	m := open(t, &Options{Threads: 2})
	ctx := context.Background()
	prompts := [][]int32{
		m.Tokenize("once upon a time", true, false),
		m.Tokenize("the dog ran to the park and", true, false),
		m.Tokenize("lily and ben", true, false),
	}
	// Alone: each prompt, then three steps of greedy decoding.
	want := make([][][]float32, len(prompts))
	steps := make([][]int32, len(prompts))
	for i, p := range prompts {
		s, _ := m.NewSession()
		logits, err := s.Eval(ctx, p, false)
		for range 3 {
			if err != nil {
				t.Fatal(err)
			}
			want[i] = append(want[i], slices.Clone(logits))
			tok := argmax(logits)
			steps[i] = append(steps[i], tok)
			logits, err = s.Eval(ctx, []int32{tok}, false)
		}
		want[i] = append(want[i], slices.Clone(logits))
	}

	b, err := m.NewBatch(&BatchOptions{Rows: 32, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Rows() != 32 {
		t.Errorf("%d rows", b.Rows())
	}
	sess := make([]*Session, len(prompts))
	for i := range sess {
		sess[i], _ = m.NewSessionWith(&SessionOptions{Context: 32, Batch: 1})
	}
	// Pass 1: the first prompt alone. Pass 2: its first decode step next to
	// the other two prompts. Then the decode steps of all three.
	got := make([][][]float32, len(prompts))
	eval := func(chunks ...BatchChunk) {
		t.Helper()
		out, err := b.Eval(ctx, chunks)
		if err != nil {
			t.Fatal(err)
		}
		for k, c := range chunks {
			i := slices.Index(sess, c.Session)
			got[i] = append(got[i], slices.Clone(out[k]))
		}
	}
	eval(BatchChunk{Session: sess[0], Tokens: prompts[0], Logits: true})
	eval(BatchChunk{Session: sess[0], Tokens: steps[0][:1], Logits: true},
		BatchChunk{Session: sess[1], Tokens: prompts[1], Logits: true},
		BatchChunk{Session: sess[2], Tokens: prompts[2], Logits: true})
	for k := range 3 {
		var chunks []BatchChunk
		for i := range sess {
			if k < 2 || i > 0 { // the first session is a step ahead
				n := k
				if i == 0 {
					n = k + 1
				}
				chunks = append(chunks, BatchChunk{Session: sess[i], Tokens: steps[i][n : n+1], Logits: true})
			}
		}
		eval(chunks...)
	}
	for i := range prompts {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("session %d: %d rows of logits, want %d", i, len(got[i]), len(want[i]))
		}
		for k := range got[i] {
			if !slices.Equal(got[i][k], want[i][k]) {
				t.Errorf("session %d, row %d: batched logits differ from the session's alone", i, k)
			}
		}
		if wantCache := append(slices.Clone(prompts[i]), steps[i]...); !slices.Equal(sess[i].Cached(), wantCache) {
			t.Errorf("session %d caches %v, want %v", i, sess[i].Cached(), wantCache)
		}
	}
}

func argmax(row []float32) int32 {
	best := 0
	for i, v := range row {
		if v > row[best] {
			best = i
		}
	}
	return int32(best)
}

func TestBatchErrors(t *testing.T) {
	m := open(t, &Options{Threads: 1})
	other := open(t, &Options{Threads: 1})
	ctx := context.Background()
	for _, o := range []BatchOptions{{Rows: -1}, {Threads: -2}} {
		if _, err := m.NewBatch(&o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	b, err := m.NewBatch(&BatchOptions{Rows: 8})
	if err != nil {
		t.Fatal(err)
	}
	s1, _ := m.NewSessionWith(&SessionOptions{Context: 6})
	s2, _ := m.NewSession()
	so, _ := other.NewSession()
	if _, err := b.Eval(ctx, []BatchChunk{{Session: s1, Tokens: []int32{1, 2, 3}}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		chunks []BatchChunk
		want   string
	}{
		{nil, "no chunks"},
		{[]BatchChunk{{Tokens: []int32{1}}}, "not a session"},
		{[]BatchChunk{{Session: so, Tokens: []int32{1}}}, "not a session of the batch's model"},
		{[]BatchChunk{{Session: s2, Tokens: []int32{1}}, {Session: s2, Tokens: []int32{2}}}, "same sequence"},
		{[]BatchChunk{{Session: s2, Tokens: nil}}, "no tokens"},
		{[]BatchChunk{{Session: s2, Tokens: []int32{1, -1}}}, "outside the vocabulary"},
		{[]BatchChunk{{Session: s2, Tokens: []int32{1}}, {Session: s1, Tokens: []int32{1, 2, 3, 4}}}, "exceed the context"},
		{[]BatchChunk{{Session: s2, Tokens: make([]int32, 9)}}, "exceed the batch size"},
	} {
		if _, err := b.Eval(ctx, c.chunks); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%d chunks: %v, want %q", len(c.chunks), err, c.want)
		}
	}
	if _, err := b.Eval(ctx, []BatchChunk{{Session: s1, Tokens: []int32{1, 2, 3, 4}}}); !errors.Is(err, ErrContextFull) {
		t.Errorf("past the context: %v", err)
	}
	if s1.Len() != 3 || s2.Len() != 0 {
		t.Errorf("refused passes changed the caches: %d and %d tokens", s1.Len(), s2.Len())
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.Eval(cctx, []BatchChunk{{Session: s2, Tokens: []int32{1}}}); !errors.Is(err, context.Canceled) || s2.Len() != 0 {
		t.Errorf("cancelled: %v", err)
	}
	m.Close()
	if _, err := b.Eval(ctx, []BatchChunk{{Session: s2, Tokens: []int32{1}}}); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	if _, err := m.NewBatch(nil); !errors.Is(err, ErrClosed) {
		t.Errorf("NewBatch after Close: %v", err)
	}
}
