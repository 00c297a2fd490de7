package asm_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/bitnet-go/bitnet/asm"
	"github.com/bitnet-go/bitnet/asm/generic"
)

// forEachImpl runs f once per implementation this CPU can run (ref
// included), with that implementation selected.
func forEachImpl(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	defer asm.SetImpl("")
	for _, name := range asm.Impls() {
		t.Run(name, func(t *testing.T) {
			if err := asm.SetImpl(name); err != nil {
				t.Fatal(err)
			}
			f(t)
		})
	}
}

// Guarded slices of other element types: the last element sits right
// before an inaccessible page (on Linux).
func guardedI8(t testing.TB, n int) []int8 {
	b := guarded(t, n)
	return unsafe.Slice((*int8)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

func guardedF32(t testing.TB, n int) []float32 {
	b := guarded(t, 4*n)
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

func guardedU16(t testing.TB, n int) []uint16 {
	b := guarded(t, 2*n)
	return unsafe.Slice((*uint16)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

// guardBand wraps n outputs in sentinels: check reports any sentinel that a
// kernel overwrote.
type guardBand[T comparable] struct {
	buf      []T
	sentinel T
}

const guardLen = 19

func newGuardBand[T comparable](n int, sentinel T) *guardBand[T] {
	g := &guardBand[T]{buf: make([]T, n+2*guardLen), sentinel: sentinel}
	for i := range g.buf {
		g.buf[i] = sentinel
	}
	return g
}

func (g *guardBand[T]) out() []T { return g.buf[guardLen : len(g.buf)-guardLen : len(g.buf)-guardLen] }

func (g *guardBand[T]) check(t *testing.T) {
	t.Helper()
	for i := 0; i < guardLen; i++ {
		if g.buf[i] != g.sentinel || g.buf[len(g.buf)-1-i] != g.sentinel {
			t.Fatalf("guard band overwritten: %v … %v", g.buf[:guardLen], g.buf[len(g.buf)-guardLen:])
		}
	}
}

// ---------------------------------------------------------------------------
// I2_S
// ---------------------------------------------------------------------------

// The real row lengths: BitNet b1.58 2B4T (2560, 6912) and 1bitLLM
// bitnet_b1_58 (1536, 4096, 3200; its 8640 is not a multiple of 128, so it
// has no I2_S form), plus short and odd block counts.
var i2sKs = []int{128, 256, 384, 1536, 2560, 3200, 4096, 6912}

// The row counts exercise the 4-row tiles and every remainder.
var i2sRows = []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 17}

type i2sInput struct {
	name string
	w    func(r *rand.Rand, b []byte)
	q    func(r *rand.Rand, q []int8)
}

var i2sInputs = []i2sInput{
	{"random", randBytes, randI8},
	{"ternary", randTernaryCodes, randI8},
	// Largest magnitudes: every code 3 (unused by the format, but the
	// kernels must still match the reference) or 2, every activation at an
	// int8 extreme. This overflows the fork's int16 accumulation.
	{"codes3_q-128", fill[byte](0xff), fill[int8](-128)},
	{"codes3_q127", fill[byte](0xff), fill[int8](127)},
	{"codes2_q-128", fill[byte](0xaa), fill[int8](-128)},
	{"codes2_q127", fill[byte](0xaa), fill[int8](127)},
	{"random_q-128", randBytes, fill[int8](-128)},
	{"codes3_randq", fill[byte](0xff), randI8},
}

func randBytes(r *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(r.Uint32())
	}
}

func randI8(r *rand.Rand, q []int8) {
	for i := range q {
		q[i] = int8(r.Uint32())
	}
}

func randTernaryCodes(r *rand.Rand, b []byte) {
	for i := range b {
		var v byte
		for g := 0; g < 4; g++ {
			v = v<<2 | byte(r.IntN(3))
		}
		b[i] = v
	}
}

func fill[T any](v T) func(*rand.Rand, []T) {
	return func(_ *rand.Rand, s []T) {
		for i := range s {
			s[i] = v
		}
	}
}

func refI2S(w []byte, q []int8, rows int) []int32 {
	rb := len(q) / 4
	out := make([]int32, rows)
	for r := range out {
		out[r] = generic.DotI2S(w[r*rb:(r+1)*rb], q)
	}
	return out
}

func TestI2SDots(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		for _, in := range i2sInputs {
			for _, k := range i2sKs {
				for _, rows := range i2sRows {
					if in.name != "random" && rows > 5 {
						continue
					}
					w := guarded(t, rows*k/4)
					q := guardedI8(t, k)
					in.w(r, w)
					in.q(r, q)
					want := refI2S(w, q, rows)
					g := newGuardBand[int32](rows, math.MinInt32+7)
					asm.I2SDots(g.out(), w, q)
					g.check(t)
					if !slices.Equal(g.out(), want) {
						t.Fatalf("%s K=%d rows=%d: got %v, want %v", in.name, k, rows, head(g.out()), head(want))
					}
				}
			}
		}
	})
}

// TestI2SDotsLongRows: extreme values over the longest rows the dispatcher
// gives the scaled VNNI accumulators (8192 blocks) and rows long enough
// (10923 blocks) to overflow them, which must go to other kernels.
func TestI2SDotsLongRows(t *testing.T) {
	if testing.Short() {
		t.Skip("long rows")
	}
	forEachImpl(t, func(t *testing.T) {
		for _, nblk := range []int{8192, 10923} {
			k := nblk * 128
			w := make([]byte, 2*k/4)
			q := make([]int8, k)
			fill[byte](0xff)(nil, w)
			fill[int8](-128)(nil, q)
			q[k-1] = 127
			want := refI2S(w, q, 2)
			got := make([]int32, 2)
			asm.I2SDots(got, w, q)
			if !slices.Equal(got, want) {
				t.Fatalf("K=%d: got %v, want %v", k, got, want)
			}
			// Two tokens (the n > 1 kernels), the second all 127.
			q2 := append(slices.Clone(q), q...)
			fill[int8](127)(nil, q2[k:])
			got2 := make([]int32, 4)
			asm.I2SDotsN(got2, 2, w, q2, k, 2)
			want2 := append(want, refI2S(w, q2[k:], 2)...)
			if !slices.Equal(got2, want2) {
				t.Fatalf("K=%d, 2 tokens: got %v, want %v", k, got2, want2)
			}
		}
	})
}

func head[T any](s []T) []T { return s[:min(len(s), 8)] }

func TestI2SDotsEmpty(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		asm.I2SDots(nil, nil, make([]int8, 256))
		dst := []int32{5, 6}
		asm.I2SDots(dst, nil, nil) // K = 0: all sums are 0
		if dst[0] != 0 || dst[1] != 0 {
			t.Fatalf("K=0: got %v", dst)
		}
	})
}

func TestI2SDotsPanics(t *testing.T) {
	for _, c := range []struct {
		name string
		f    func()
	}{
		{"K not multiple of 128", func() { asm.I2SDots(make([]int32, 1), make([]byte, 64), make([]int8, 200)) }},
		{"w short", func() { asm.I2SDots(make([]int32, 2), make([]byte, 63), make([]int8, 128)) }},
		{"N: rows > ldd", func() { asm.I2SDotsN(make([]int32, 7), 3, make([]byte, 1<<10), make([]int8, 256), 128, 2) }},
		{"N: K > ldq", func() { asm.I2SDotsN(make([]int32, 4), 2, make([]byte, 1<<10), make([]int8, 128+256), 128, 2) }},
		{"N: w short", func() { asm.I2SDotsN(make([]int32, 4), 2, make([]byte, 63), make([]int8, 256), 128, 2) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			c.f()
		})
	}
}

func TestI2SDotsN(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		for _, in := range i2sInputs[:4] {
			for _, k := range []int{128, 384, 2560, 3200} {
				for n := 1; n <= 11; n++ {
					for _, rows := range []int{1, 3, 4, 6} {
						// Strided operands: ldd > rows and ldq > K, with
						// sentinels / garbage in the gaps.
						ldd, ldq := rows+3, k+64
						w := guarded(t, rows*k/4)
						in.w(r, w)
						q := guardedI8(t, (n-1)*ldq+k)
						randI8(r, q)
						qs := make([][]int8, n)
						for i := range qs {
							qs[i] = q[i*ldq : i*ldq+k]
							in.q(r, qs[i])
						}
						const sentinel = math.MaxInt32 - 3
						g := newGuardBand[int32]((n-1)*ldd+rows, sentinel)
						asm.I2SDotsN(g.out(), ldd, w, q, ldq, n)
						g.check(t)
						for i := 0; i < n; i++ {
							want := refI2S(w, qs[i], rows)
							got := g.out()[i*ldd : i*ldd+rows]
							if !slices.Equal(got, want) {
								t.Fatalf("%s K=%d n=%d rows=%d token %d: got %v, want %v", in.name, k, n, rows, i, head(got), head(want))
							}
							if i < n-1 {
								for j, v := range g.out()[i*ldd+rows : (i+1)*ldd] {
									if v != sentinel {
										t.Fatalf("n=%d token %d: gap entry %d overwritten", n, i, j)
									}
								}
							}
						}
					}
				}
			}
		}
	})
}

// ---------------------------------------------------------------------------
// Activation quantization
// ---------------------------------------------------------------------------

var quantLens = []int{0, 1, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 1536, 2560, 6912}

func TestQuantizeI8(t *testing.T) {
	type gen struct {
		name string
		f    func(r *rand.Rand, x []float32)
	}
	gens := []gen{
		{"normal", func(r *rand.Rand, x []float32) {
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
		}},
		{"heavy", func(r *rand.Rand, x []float32) {
			for i := range x {
				x[i] = float32(r.NormFloat64() * math.Exp(3*r.NormFloat64()))
			}
		}},
		{"tiny", func(r *rand.Rand, x []float32) { // below the 1e-5 floor
			for i := range x {
				x[i] = float32(r.NormFloat64() * 3e-6)
			}
		}},
		{"zero", func(r *rand.Rand, x []float32) { clear(x) }},
		{"ties", func(r *rand.Rand, x []float32) {
			// max|x| = 127 makes the scale exactly 1, so k+0.5 values are
			// exact ties: round half to even.
			for i := range x {
				x[i] = float32(r.IntN(255)-127) + 0.5*float32(r.IntN(2))
				x[i] = max(-127, min(127, x[i]))
			}
			if len(x) > 0 {
				x[r.IntN(len(x))] = -127
			}
		}},
		{"huge", func(r *rand.Rand, x []float32) {
			for i := range x {
				x[i] = float32(r.NormFloat64() * 1e30)
			}
		}},
	}
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		for _, g := range gens {
			for _, n := range quantLens {
				x := guardedF32(t, n)
				g.f(r, x)
				want := make([]int8, n)
				ws, wsum := generic.QuantizeI8(want, x)
				gb := newGuardBand[int8](n, 99)
				s, sum := asm.QuantizeI8(gb.out(), x)
				gb.check(t)
				if math.Float32bits(s) != math.Float32bits(ws) || sum != wsum || !slices.Equal(gb.out(), want) {
					t.Fatalf("%s n=%d: got s=%v Σ=%d %v, want s=%v Σ=%d %v", g.name, n, s, sum, head(gb.out()), ws, wsum, head(want))
				}
			}
		}
	})
}

// TestQuantizeI8NaN: NaNs are skipped in the max like in the reference
// (their own quantized value is unspecified), and nothing crashes on
// infinities.
func TestQuantizeI8NaN(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		for _, n := range []int{1, 64, 100} {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(i%7) - 3
			}
			x[n/2] = float32(math.NaN())
			want := make([]int8, n)
			ws, _ := generic.QuantizeI8(want, x)
			got := make([]int8, n)
			s, _ := asm.QuantizeI8(got, x)
			if s != ws {
				t.Fatalf("n=%d: scale %v, want %v", n, s, ws)
			}
			for i := range got {
				if i != n/2 && got[i] != want[i] {
					t.Fatalf("n=%d: q[%d] = %d, want %d", n, i, got[i], want[i])
				}
			}
			x[0] = float32(math.Inf(-1))
			asm.QuantizeI8(got, x)
		}
	})
}

// ---------------------------------------------------------------------------
// Float kernels
// ---------------------------------------------------------------------------

// floatTol is the allowed difference between two float32 dot products of
// the same terms summed in different orders, relative to Σ|aᵢbᵢ|.
const floatTol = 1e-5

var floatLens = []int{0, 1, 5, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 200, 1536, 2560, 6912}

func checkClose(t *testing.T, what string, got, want float32, abs float64) {
	t.Helper()
	if d := math.Abs(float64(got) - float64(want)); d > floatTol*abs || math.IsNaN(float64(got)) {
		t.Fatalf("%s: got %v, want %v (diff %.3g, Σ|ab| %.3g)", what, got, want, d, abs)
	}
}

func TestDotF32(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 8))
		for _, n := range floatLens {
			a, b := guardedF32(t, n), guardedF32(t, n)
			var abs float64
			for i := range a {
				a[i], b[i] = float32(r.NormFloat64()), float32(r.NormFloat64()*10)
				abs += math.Abs(float64(a[i] * b[i]))
			}
			checkClose(t, fmt.Sprint("n=", n), asm.DotF32(a, b), generic.DotF32(a, b), abs)
		}
	})
}

func randF16(r *rand.Rand, scale float64) uint16 {
	return generic.F32ToF16(float32(r.NormFloat64() * scale))
}

func TestDotF16(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(9, 10))
		for _, n := range floatLens {
			a, b := guardedU16(t, n), guardedU16(t, n)
			var abs float64
			for i := range a {
				a[i], b[i] = randF16(r, 0.05), randF16(r, 3)
				abs += math.Abs(float64(generic.F16ToF32(a[i]) * generic.F16ToF32(b[i])))
			}
			checkClose(t, fmt.Sprint("n=", n), asm.DotF16(a, b), generic.DotF16(a, b), abs)
		}
	})
}

func TestF16Dots(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(11, 12))
		for _, k := range []int{1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 100, 2560} {
			for _, rows := range []int{1, 2, 5} {
				w := guardedU16(t, rows*k)
				x := guardedF32(t, k)
				xh := make([]uint16, k)
				for i := range x {
					x[i] = generic.RoundF16(float32(r.NormFloat64() * 2))
					xh[i] = generic.F32ToF16(x[i])
				}
				for i := range w {
					w[i] = randF16(r, 0.05)
				}
				g := newGuardBand[float32](rows, -12345)
				asm.F16Dots(g.out(), w, x)
				g.check(t)
				for row := 0; row < rows; row++ {
					wr := w[row*k : (row+1)*k]
					var abs float64
					for i := range wr {
						abs += math.Abs(float64(generic.F16ToF32(wr[i]) * x[i]))
					}
					checkClose(t, fmt.Sprintf("k=%d row %d", k, row), g.out()[row], generic.DotF16(wr, xh), abs)
				}
			}
		}
		asm.F16Dots(nil, nil, make([]float32, 3))
		d := []float32{1}
		asm.F16Dots(d, nil, nil)
		if d[0] != 0 {
			t.Fatalf("K=0: got %v", d[0])
		}
	})
}

// f16Probes returns floats around every binary16 value: the value itself,
// its float32 neighbours, and the midpoints (ties) to the next value.
func f16Probes() []float32 {
	var out []float32
	for h := 0; h < 1<<16; h++ {
		f := generic.F16ToF32(uint16(h))
		b := math.Float32bits(f)
		out = append(out, f, math.Float32frombits(b+1), math.Float32frombits(b-1))
		if h&0x7fff < 0x7c00 {
			next := generic.F16ToF32(uint16(h + 1))
			mid := float32((float64(f) + float64(next)) / 2)
			out = append(out, mid, math.Float32frombits(math.Float32bits(mid)+1), math.Float32frombits(math.Float32bits(mid)-1))
		}
	}
	return out
}

func TestF32ToF16s(t *testing.T) {
	src := f16Probes()
	r := rand.New(rand.NewPCG(13, 14))
	for i := 0; i < 1<<16; i++ {
		src = append(src, math.Float32frombits(r.Uint32()))
	}
	src = append(src, float32(math.Inf(1)), float32(math.Inf(-1)), 65504, 65519.99, 65520, 1e-8, -1e-8, 6e-8, 3e-8)
	want := make([]uint16, len(src))
	for i, v := range src {
		want[i] = generic.F32ToF16(v)
	}
	forEachImpl(t, func(t *testing.T) {
		for _, n := range []int{len(src), 1, 63, 64, 65, 1000} {
			s := src[len(src)-n:]
			g := newGuardBand[uint16](n, 0x1234)
			asm.F32ToF16s(g.out(), s)
			g.check(t)
			for i, h := range g.out() {
				if h != want[len(src)-n+i] {
					t.Fatalf("n=%d: F32ToF16(%v = %#08x) = %#04x, want %#04x", n, s[i], math.Float32bits(s[i]), h, want[len(src)-n+i])
				}
			}
		}
	})
}

// ---------------------------------------------------------------------------
// Dispatch
// ---------------------------------------------------------------------------

func TestImpls(t *testing.T) {
	impls := asm.Impls()
	if len(impls) == 0 || impls[len(impls)-1] != "ref" {
		t.Fatalf("Impls() = %v: want ref last", impls)
	}
	if asm.Impl() != impls[0] {
		t.Fatalf("Impl() = %q, want the best available %q", asm.Impl(), impls[0])
	}
	if err := asm.SetImpl("no-such-isa"); err == nil {
		t.Fatal("SetImpl accepted an unknown name")
	}
	if asm.Impl() != impls[0] {
		t.Fatalf("a failed SetImpl changed the implementation to %q", asm.Impl())
	}
	t.Logf("implementations: %v", impls)
}

// TestDefaultImpl fails when this CPU has the best instruction set the
// build supports but the dispatcher does not pick its kernels.
func TestDefaultImpl(t *testing.T) {
	want := expectedImpl()
	if asm.Impl() != want {
		t.Fatalf("default implementation is %q; this CPU and build should select %q (Impls: %v)", asm.Impl(), want, asm.Impls())
	}
}

// TestRequireImpl fails unless every implementation named in
// $BITNET_ASM_REQUIRE (comma-separated) is available, so CI jobs on known
// hardware (or under GODEBUG=cpu.…=off / qemu -cpu) catch a silent fallback.
func TestRequireImpl(t *testing.T) {
	req := os.Getenv("BITNET_ASM_REQUIRE")
	if req == "" {
		t.Skip("BITNET_ASM_REQUIRE not set")
	}
	for _, name := range strings.Split(req, ",") {
		if !slices.Contains(asm.Impls(), strings.TrimSpace(name)) {
			t.Errorf("implementation %q required but not available (have %v)", name, asm.Impls())
		}
	}
}

func TestMemSum(t *testing.T) {
	b := make([]byte, 4096+8*13)
	randBytes(rand.New(rand.NewPCG(1, 9)), b)
	for _, n := range []int{0, 8, 128, 256, 4096, len(b)} {
		u := unsafe.Slice((*uint64)(unsafe.Pointer(&b[0])), n/8)
		var want uint64
		for _, v := range u {
			want += v
		}
		if got := asm.MemSum(b[:n]); got != want {
			t.Fatalf("n=%d: got %#x, want %#x", n, got, want)
		}
	}
}

// FuzzI2SDots compares every implementation with the reference on
// arbitrary codes and activations, 1–3 blocks per row, 1–6 rows and 1–10
// tokens.
func FuzzI2SDots(f *testing.F) {
	f.Add(uint8(0), uint8(0), uint8(0), []byte{0xff, 0x80})
	f.Add(uint8(2), uint8(5), uint8(9), []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, nb, rows, n uint8, data []byte) {
		k := (int(nb)%3 + 1) * 128
		nr := int(rows)%6 + 1
		nt := int(n)%10 + 1
		if len(data) == 0 {
			data = []byte{0}
		}
		w := make([]byte, nr*k/4)
		for i := range w {
			w[i] = data[i%len(data)] ^ byte(i/len(data))
		}
		q := make([]int8, nt*k)
		for i := range q {
			q[i] = int8(data[(i*7+3)%len(data)] + byte(i/len(data)))
		}
		want := make([]int32, nt*nr)
		for tk := 0; tk < nt; tk++ {
			copy(want[tk*nr:], refI2S(w, q[tk*k:(tk+1)*k], nr))
		}
		defer asm.SetImpl("")
		for _, name := range asm.Impls() {
			asm.SetImpl(name)
			got := make([]int32, nt*nr)
			asm.I2SDotsN(got, nr, w, q, k, nt)
			if !slices.Equal(got, want) {
				t.Fatalf("%s K=%d rows=%d n=%d: got %v, want %v", name, k, nr, nt, head(got), head(want))
			}
		}
	})
}
