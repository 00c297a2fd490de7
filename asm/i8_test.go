package asm_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/bitnet-go/bitnet/asm"
	"github.com/bitnet-go/bitnet/asm/ref"
)

// The int8 output head: I8Dots.

// Row lengths: tails on both sides of the 64-column steps, the 2B4T width
// (2560) and the longest rows the runtime plans for (8192).
var i8Ks = []int{1, 5, 63, 64, 65, 127, 128, 129, 191, 192, 256, 2560, 2561, 4103, 8192}

var i8Rows = []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 13}

type i8Input struct {
	name string
	w, q func(r *rand.Rand, s []int8)
}

// Random values and every combination of int8 extremes: w = −128 with
// q = −128 is the case a sign trick (VPSIGNB, negating q) gets wrong, and
// w + 128 = 255 with q = −128 the one VPMADDUBSW saturates on.
var i8Inputs = []i8Input{
	{"random", randI8, randI8},
	{"w-128_q-128", fill[int8](-128), fill[int8](-128)},
	{"w-128_q127", fill[int8](-128), fill[int8](127)},
	{"w127_q-128", fill[int8](127), fill[int8](-128)},
	{"w127_q127", fill[int8](127), fill[int8](127)},
	{"random_q-128", randI8, fill[int8](-128)},
	{"w-128_randq", fill[int8](-128), randI8},
	{"extremes", randExtremeI8, randExtremeI8},
}

func randExtremeI8(r *rand.Rand, s []int8) {
	for i := range s {
		s[i] = []int8{-128, -127, 127, 0}[r.IntN(4)]
	}
}

func TestI8Dots(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(31, 32))
		for _, in := range i8Inputs {
			for _, k := range i8Ks {
				for _, rows := range i8Rows {
					if in.name != "random" && rows > 5 {
						continue
					}
					w := guardedI8(t, rows*k)
					q := guardedI8(t, k)
					in.w(r, w)
					in.q(r, q)
					want := make([]int32, rows)
					ref.I8Dots(want, w, q)
					g := newGuardBand[int32](rows, -0x5a5a5a5a)
					asm.I8Dots(g.out(), w, q)
					g.check(t)
					if !slices.Equal(g.out(), want) {
						t.Fatalf("%s K=%d rows=%d: got %v, want %v", in.name, k, rows, head(g.out()), head(want))
					}
				}
			}
		}
		// A longer w than rows·K: the rest is not read.
		w := make([]int8, 3*64+17)
		randI8(r, w)
		q := randQ(64)
		want := make([]int32, 3)
		ref.I8Dots(want, w[:3*64], q)
		got := make([]int32, 3)
		asm.I8Dots(got, w, q)
		if !slices.Equal(got, want) {
			t.Fatalf("long w: got %v, want %v", got, want)
		}
	})
}

// TestI8DotsWrap: K = 2¹⁷ (+ a tail) of −128·−128 reaches 2³¹, where the
// int32 sums wrap; every implementation must wrap like the reference.
func TestI8DotsWrap(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		for _, k := range []int{1 << 17, 1<<17 + 65} {
			w := make([]int8, 5*k)
			q := make([]int8, k)
			fill[int8](-128)(nil, w)
			fill[int8](-128)(nil, q)
			for i := 3 * k; i < 4*k; i++ {
				w[i] = 127
			}
			want := make([]int32, 5)
			ref.I8Dots(want, w, q)
			got := make([]int32, 5)
			asm.I8Dots(got, w, q)
			if !slices.Equal(got, want) {
				t.Fatalf("K=%d: got %v, want %v", k, got, want)
			}
		}
	})
}

func TestI8DotsEdges(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		asm.I8Dots(nil, nil, make([]int8, 100))
		d := []int32{5, 6}
		asm.I8Dots(d, nil, nil) // K = 0: all sums are 0
		if d[0] != 0 || d[1] != 0 {
			t.Fatalf("K=0: got %v", d)
		}
	})
	defer func() {
		if recover() == nil {
			t.Fatal("short w: no panic")
		}
	}()
	asm.I8Dots(make([]int32, 3), make([]int8, 3*64-1), make([]int8, 64))
}

// FuzzI8Dots compares every implementation with the reference on
// arbitrary weights and activations: K up to 300, 1–9 rows.
func FuzzI8Dots(f *testing.F) {
	f.Add(uint16(64), uint8(4), []byte{0x80})
	f.Add(uint16(257), uint8(5), []byte{0x7f, 0x80, 0x01})
	f.Fuzz(func(t *testing.T, kk uint16, rows uint8, data []byte) {
		k := int(kk) % 301
		nr := int(rows)%9 + 1
		if len(data) == 0 {
			data = []byte{0}
		}
		w := make([]int8, nr*k)
		for i := range w {
			w[i] = int8(data[i%len(data)] ^ byte(i/len(data)))
		}
		q := make([]int8, k)
		for i := range q {
			q[i] = int8(data[(i*5+1)%len(data)] + byte(i/len(data)))
		}
		want := make([]int32, nr)
		ref.I8Dots(want, w, q)
		defer asm.SetImpl("")
		for _, name := range asm.Impls() {
			asm.SetImpl(name)
			got := make([]int32, nr)
			asm.I8Dots(got, w, q)
			if !slices.Equal(got, want) {
				t.Fatalf("%s K=%d rows=%d: got %v, want %v", name, k, nr, head(got), head(want))
			}
		}
	})
}
