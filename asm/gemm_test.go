package asm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bitnet-go/bitnet/asm/ref"
)

// forEachGemmKernel runs f once per micro-kernel this CPU supports,
// selecting each through SetImpl like every other kernel.
func forEachGemmKernel(t *testing.T, f func(t *testing.T)) {
	ks, impls := gemmKernels()
	defer SetImpl("")
	for i, k := range ks {
		t.Run(k.name, func(t *testing.T) {
			if err := SetImpl(impls[i]); err != nil {
				t.Fatal(err)
			}
			if GemmKernel() != k.name {
				t.Fatalf("SetImpl(%q) selected GEMM kernel %q, want %q", impls[i], GemmKernel(), k.name)
			}
			f(t)
		})
	}
}

func gemmRandSlice(r *rand.Rand, n int, integer bool) []float32 {
	s := make([]float32, n)
	for i := range s {
		if integer {
			s[i] = float32(r.IntN(255) - 127)
		} else {
			s[i] = float32(r.NormFloat64())
		}
	}
	return s
}

func TestGemmF32(t *testing.T) {
	shapes := []struct{ m, n, k int }{
		{1, 1, 1}, {3, 5, 7}, {12, 32, 256}, {13, 33, 257}, {6, 16, 1},
		{64, 64, 64}, {200, 100, 300}, {25, 70, 600}, {1, 200, 5}, {250, 3, 9},
	}
	forEachGemmKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		w := new(GemmWork)
		for _, s := range shapes {
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				for _, acc := range []bool{false, true} {
					name := fmt.Sprintf("%dx%dx%d/tA=%v/tB=%v/acc=%v", s.m, s.n, s.k, tr[0], tr[1], acc)
					// Strides larger than the rows, and guard bands after C.
					lda, ldb, ldc := s.k+3, s.n+2, s.n+5
					ar, br := s.m, s.k
					if tr[0] {
						lda, ar = s.m+1, s.k
					}
					if tr[1] {
						ldb, br = s.k+4, s.n
					}
					a := gemmRandSlice(r, ar*lda, false)
					b := gemmRandSlice(r, br*ldb, false)
					c0 := gemmRandSlice(r, s.m*ldc+16, false)
					got := append([]float32(nil), c0...)
					want := append([]float32(nil), c0...)
					GemmF32(tr[0], tr[1], s.m, s.n, s.k, a, lda, b, ldb, got, ldc, acc, w)
					ref.GemmF32(tr[0], tr[1], s.m, s.n, s.k, a, lda, b, ldb, want, ldc, acc)
					for i := range got {
						inC := i < s.m*ldc && i%ldc < s.n
						if !inC {
							if got[i] != c0[i] {
								t.Fatalf("%s: wrote outside C at %d", name, i)
							}
							continue
						}
						tol := 1e-5 * float64(s.k) * 4
						if d := math.Abs(float64(got[i] - want[i])); d > tol {
							t.Fatalf("%s: C[%d] = %g, want %g (|diff| %g > %g)", name, i, got[i], want[i], d, tol)
						}
					}
				}
			}
		}
	})
}

// Integer-valued products are exact, whatever the blocking: the trainer's
// BitLinear forward relies on it to reproduce the runtime's int8 × ternary
// dot bit for bit.
func TestGemmF32ExactIntegers(t *testing.T) {
	forEachGemmKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		m, n, k := 37, 70, 700
		a := gemmRandSlice(r, m*k, true)
		b := make([]float32, n*k)
		for i := range b {
			b[i] = float32(r.IntN(3) - 1)
		}
		got := make([]float32, m*n)
		want := make([]float32, m*n)
		GemmF32(false, true, m, n, k, a, k, b, k, got, n, false, nil)
		ref.GemmF32(false, true, m, n, k, a, k, b, k, want, n, false)
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("C[%d] = %v, want %v", i, got[i], want[i])
			}
		}
	})
}

func TestGemmF32ZeroK(t *testing.T) {
	c := []float32{1, 2, 3, 4}
	GemmF32(false, false, 2, 2, 0, nil, 1, nil, 2, c, 2, true, nil)
	if c[0] != 1 || c[3] != 4 {
		t.Fatalf("acc with k=0 changed C: %v", c)
	}
	GemmF32(false, false, 2, 2, 0, nil, 1, nil, 2, c, 2, false, nil)
	for _, v := range c {
		if v != 0 {
			t.Fatalf("k=0 without acc must zero C: %v", c)
		}
	}
}

// BenchmarkGemmF32 measures the three products of a 256→768 BitLinear layer
// over 1024 tokens (forward X·Wᵀ, dX = dY·W, dW = dYᵀ·X) on one goroutine.
func BenchmarkGemmF32(b *testing.B) {
	const tokens, in, out = 1024, 256, 768
	cases := []struct {
		name          string
		tA, tB        bool
		m, n, k       int
		lda, ldb, ldc int
		asz, bsz, csz int
	}{
		{"fwd", false, true, tokens, out, in, in, in, out, tokens * in, out * in, tokens * out},
		{"dx", false, false, tokens, in, out, out, in, in, tokens * out, out * in, tokens * in},
		{"dw", true, false, out, in, tokens, out, in, in, tokens * out, tokens * in, out * in},
		{"attn-qk", false, true, 256, 256, 64, 512, 512, 256, 256 * 512, 256 * 512, 256 * 256},
	}
	ks, impls := gemmKernels()
	defer SetImpl("")
	for i, kern := range ks {
		for _, c := range cases {
			b.Run(kern.name+"/"+c.name, func(b *testing.B) {
				SetImpl(impls[i])
				r := rand.New(rand.NewPCG(5, 6))
				A := gemmRandSlice(r, c.asz, false)
				B := gemmRandSlice(r, c.bsz, false)
				C := make([]float32, c.csz)
				w := new(GemmWork)
				b.ReportAllocs()
				for b.Loop() {
					GemmF32(c.tA, c.tB, c.m, c.n, c.k, A, c.lda, B, c.ldb, C, c.ldc, false, w)
				}
				flops := 2 * float64(c.m) * float64(c.n) * float64(c.k)
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// TestGemmF32PackedSplit packs B in two column ranges and computes C in two
// row ranges, as a caller splitting the product between goroutines does:
// the result must equal the one-piece product bit for bit.
func TestGemmF32PackedSplit(t *testing.T) {
	forEachGemmKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 8))
		mr, nr := GemmTile()
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			m, n, k := 5*mr+3, 3*nr+7, 300
			a := gemmRandSlice(r, m*k, false)
			b := gemmRandSlice(r, n*k, false)
			lda, ldb := k, n
			if tr[0] {
				lda = m
			}
			if tr[1] {
				ldb = k
			}
			want := make([]float32, m*n)
			GemmF32(tr[0], tr[1], m, n, k, a, lda, b, ldb, want, n, false, nil)
			var pb PackedB
			pb.Reset(k, n)
			pb.Pack(tr[1], b, ldb, nr, n)
			pb.Pack(tr[1], b, ldb, 0, nr)
			got := make([]float32, m*n)
			split := 2 * mr
			aoff := split * lda
			if tr[0] {
				aoff = split
			}
			GemmF32Packed(tr[0], split, a, lda, &pb, got, n, false, new(GemmWork))
			GemmF32Packed(tr[0], m-split, a[aoff:], lda, &pb, got[split*n:], n, false, new(GemmWork))
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("trans %v: C[%d] = %v, want %v", tr, i, got[i], want[i])
				}
			}
		}
	})
}

// FuzzGemmF32 compares the selected kernel with the reference on random
// shapes, transposes and strides.
func FuzzGemmF32(f *testing.F) {
	f.Add(uint8(13), uint8(33), uint16(257), uint8(0), uint64(1))
	f.Add(uint8(1), uint8(1), uint16(1), uint8(3), uint64(2))
	f.Add(uint8(40), uint8(70), uint16(600), uint8(5), uint64(3))
	f.Fuzz(func(t *testing.T, m8, n8 uint8, k16 uint16, flags uint8, seed uint64) {
		m, n, k := int(m8)%64+1, int(n8)%96+1, int(k16)%700+1
		tA, tB, acc := flags&1 != 0, flags&2 != 0, flags&4 != 0
		r := rand.New(rand.NewPCG(seed, 9))
		pad := int(flags>>3) % 5
		lda, ldb, ldc := k+pad, n+pad, n+pad
		ar, br := m, k
		if tA {
			lda, ar = m+pad, k
		}
		if tB {
			ldb, br = k+pad, n
		}
		a, b := gemmRandSlice(r, ar*lda, true), gemmRandSlice(r, br*ldb, true)
		for i := range b {
			b[i] = float32(int(b[i]) % 2) // keep integer sums exact
		}
		got := gemmRandSlice(r, m*ldc, true)
		want := append([]float32(nil), got...)
		GemmF32(tA, tB, m, n, k, a, lda, b, ldb, got, ldc, acc, nil)
		ref.GemmF32(tA, tB, m, n, k, a, lda, b, ldb, want, ldc, acc)
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("m=%d n=%d k=%d tA=%v tB=%v acc=%v: C[%d] = %v, want %v", m, n, k, tA, tB, acc, i, got[i], want[i])
			}
		}
	})
}
