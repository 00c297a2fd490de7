package asm_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bitnet-go/bitnet/asm"
	"github.com/bitnet-go/bitnet/asm/generic"
)

// blockFormat is one block-format GEMV under test with its reference.
type blockFormat struct {
	name string
	bs   int // bytes per block
	f16  int // offset of the block's f16 scale
	// dots runs the kernel on rows of nb blocks against the activations x
	// (K = nb·256 floats); want is the reference.
	dots, want func(dst []float32, w []byte, act any)
	act        func(x []float32) any // quantizes x as the runtime does
}

func q8kAct(x []float32) any {
	y := make([]generic.BlockQ8K, len(x)/generic.QK_K)
	generic.QuantizeQ8K(y, x)
	return y
}

func q80Act(x []float32) any {
	y := make([]byte, len(x)/generic.Q8_0Block*generic.Q8_0BlockBytes)
	generic.QuantizeQ8_0Act(y, x)
	return y
}

var blockFormats = []blockFormat{
	{"q6_K", generic.Q6_KBlockBytes, 208,
		func(d []float32, w []byte, a any) { asm.Q6KDots(d, w, a.([]generic.BlockQ8K)) },
		func(d []float32, w []byte, a any) {
			y := a.([]generic.BlockQ8K)
			for r := range d {
				d[r] = generic.DotQ6K(w[r*len(y)*generic.Q6_KBlockBytes:], y)
			}
		}, q8kAct},
	{"q4_K", generic.Q4_KBlockBytes, 0,
		func(d []float32, w []byte, a any) { asm.Q4KDots(d, w, a.([]generic.BlockQ8K)) },
		func(d []float32, w []byte, a any) {
			y := a.([]generic.BlockQ8K)
			for r := range d {
				d[r] = generic.DotQ4K(w[r*len(y)*generic.Q4_KBlockBytes:], y)
			}
		}, q8kAct},
	{"tq2_0", generic.TQ2_0BlockBytes, 64,
		func(d []float32, w []byte, a any) { asm.TQ2Dots(d, w, a.([]generic.BlockQ8K)) },
		func(d []float32, w []byte, a any) {
			y := a.([]generic.BlockQ8K)
			for r := range d {
				d[r] = generic.DotTQ(w[r*len(y)*generic.TQ2_0BlockBytes:], y, false)
			}
		}, q8kAct},
	{"tq1_0", generic.TQ1_0BlockBytes, 52,
		func(d []float32, w []byte, a any) { asm.TQ1Dots(d, w, a.([]generic.BlockQ8K)) },
		func(d []float32, w []byte, a any) {
			y := a.([]generic.BlockQ8K)
			for r := range d {
				d[r] = generic.DotTQ(w[r*len(y)*generic.TQ1_0BlockBytes:], y, true)
			}
		}, q8kAct},
	{"q8_0", generic.Q8_0BlockBytes, 0,
		func(d []float32, w []byte, a any) { asm.Q8_0Dots(d, w, a.([]byte)) },
		func(d []float32, w []byte, a any) {
			y := a.([]byte)
			for r := range d {
				d[r] = generic.DotQ8_0(w[r*len(y):], y, len(y)/generic.Q8_0BlockBytes*generic.Q8_0Block)
			}
		}, q80Act},
}

// blocksPerRow converts a row length to the format's block count.
func (f blockFormat) blocks(k int) int {
	if f.name == "q8_0" {
		return k / generic.Q8_0Block
	}
	return k / generic.QK_K
}

// blockWeights fills w with random blocks; scale picks the f16 scales.
type blockWeights struct {
	name  string
	bytes func(r *rand.Rand, b []byte)
	scale func(r *rand.Rand) uint16
}

var blockInputs = []blockWeights{
	{"random", randBytes, func(r *rand.Rand) uint16 { return generic.F32ToF16(float32(0.001 + r.Float64()*0.1)) }},
	{"random_signed_scales", randBytes, func(r *rand.Rand) uint16 { return generic.F32ToF16(float32(r.NormFloat64())) }},
	{"all_ones", fill[byte](0xff), func(r *rand.Rand) uint16 { return generic.F32ToF16(0.5) }},
	{"all_zero_bits", fill[byte](0), func(r *rand.Rand) uint16 { return generic.F32ToF16(-0.25) }},
	{"x80", fill[byte](0x80), func(r *rand.Rand) uint16 { return generic.F32ToF16(65504) }},
	{"zero_scale", randBytes, func(r *rand.Rand) uint16 { return 0 }},
	{"subnormal_scale", randBytes, func(r *rand.Rand) uint16 { return uint16(1 + r.IntN(0x3ff)) }},
}

// blockActs makes the activations: random, one dominant value, all equal,
// all zero (a zero Q8_K block), and huge magnitudes.
var blockActs = []struct {
	name string
	x    func(r *rand.Rand, x []float32)
}{
	{"normal", func(r *rand.Rand, x []float32) {
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
	}},
	{"spiky", func(r *rand.Rand, x []float32) {
		for i := range x {
			x[i] = float32(r.NormFloat64()) * 0.01
		}
		x[r.IntN(len(x))] = -50
	}},
	{"equal", func(r *rand.Rand, x []float32) {
		for i := range x {
			x[i] = -3
		}
	}},
	{"zero", func(r *rand.Rand, x []float32) { clear(x) }},
	{"huge", func(r *rand.Rand, x []float32) {
		for i := range x {
			x[i] = float32(r.NormFloat64()) * 1e30
		}
	}},
}

// TestBlockDots checks every block-format GEMV bit for bit against its
// reference on every implementation, with guard bands around the output
// and the weights ending at an inaccessible page.
func TestBlockDots(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 8))
		for _, f := range blockFormats {
			for _, k := range []int{256, 512, 768, 2560} {
				for _, rows := range []int{1, 2, 5, 17} {
					for _, in := range blockInputs {
						for _, ac := range blockActs {
							nb := f.blocks(k)
							w := guarded(t, rows*nb*f.bs)
							in.bytes(r, w)
							for b := 0; b < rows*nb; b++ {
								binary.LittleEndian.PutUint16(w[b*f.bs+f.f16:], in.scale(r))
								if f.name == "q4_K" { // and dmin
									binary.LittleEndian.PutUint16(w[b*f.bs+2:], in.scale(r))
								}
							}
							x := make([]float32, k)
							ac.x(r, x)
							act := f.act(x)
							want := make([]float32, rows)
							f.want(want, w, act)
							g := newGuardBand[float32](rows, -7)
							f.dots(g.out(), w, act)
							g.check(t)
							for i, v := range g.out() {
								if !sameF32(v, want[i]) {
									t.Fatalf("%s K=%d rows=%d %s/%s: row %d = %v, want %v", f.name, k, rows, in.name, ac.name, i, v, want[i])
								}
							}
						}
					}
				}
			}
		}
	})
}

// TestBlockDotsExtremeActs feeds the Q8_K kernels activation quants at the
// int8 extremes (including −128, which QuantizeQ8K never makes) with
// consistent group sums: the int16 pair sums must not saturate.
func TestBlockDotsExtremeActs(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(9, 10))
		for _, f := range blockFormats[:4] {
			for _, q := range []int8{127, -127, -128} {
				const nb, rows = 3, 4
				y := make([]generic.BlockQ8K, nb)
				for i := range y {
					y[i].D = 0.01
					for j := range y[i].Qs {
						y[i].Qs[j] = q
						if r.IntN(4) == 0 {
							y[i].Qs[j] = int8(r.Uint32())
						}
					}
					for j := range y[i].Bsums {
						var s int16
						for _, v := range y[i].Qs[16*j : 16*j+16] {
							s += int16(v)
						}
						y[i].Bsums[j] = s
					}
				}
				for _, wb := range []byte{0xff, 0xaa, 0x00} {
					w := make([]byte, rows*nb*f.bs)
					fill[byte](wb)(r, w)
					for b := 0; b < rows*nb; b++ {
						binary.LittleEndian.PutUint16(w[b*f.bs+f.f16:], generic.F32ToF16(1))
						if f.name == "q4_K" {
							binary.LittleEndian.PutUint16(w[b*f.bs+2:], generic.F32ToF16(0.5))
						}
					}
					got, want := make([]float32, rows), make([]float32, rows)
					f.dots(got, w, y)
					f.want(want, w, y)
					for i := range got {
						if !sameF32(got[i], want[i]) {
							t.Fatalf("%s q=%d w=%#x: row %d = %v, want %v", f.name, q, wb, i, got[i], want[i])
						}
					}
				}
			}
		}
	})
}

func TestBlockDotsPanics(t *testing.T) {
	y := make([]generic.BlockQ8K, 2)
	for _, c := range []struct {
		name string
		f    func()
	}{
		{"q6_K short w", func() { asm.Q6KDots(make([]float32, 2), make([]byte, 3*generic.Q6_KBlockBytes), y) }},
		{"tq2_0 short w", func() { asm.TQ2Dots(make([]float32, 1), make([]byte, generic.TQ2_0BlockBytes), y) }},
		{"tq1_0 short w", func() { asm.TQ1Dots(make([]float32, 3), make([]byte, 5*generic.TQ1_0BlockBytes), y) }},
		{"q8_0 partial block", func() { asm.Q8_0Dots(make([]float32, 1), make([]byte, 100), make([]byte, 33)) }},
		{"q8_0 short w", func() { asm.Q8_0Dots(make([]float32, 2), make([]byte, 67), make([]byte, 34)) }},
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
	// No rows: nothing to do; no blocks: empty sums.
	asm.Q6KDots(nil, nil, y)
	d := []float32{5}
	asm.TQ2Dots(d, nil, nil)
	if d[0] != 0 {
		t.Fatal(fmt.Sprint("TQ2Dots with no blocks gave ", d[0]))
	}
}

// tqNFormats are the n-token ternary GEMVs with their one-token versions.
var tqNFormats = []struct {
	name  string
	bs    int
	f16   int
	tq1   bool
	one   func([]float32, []byte, []generic.BlockQ8K)
	multi func([]float32, int, []byte, []generic.BlockQ8K, int, int)
}{
	{"tq2_0", generic.TQ2_0BlockBytes, 64, false, asm.TQ2Dots, asm.TQ2DotsN},
	{"tq1_0", generic.TQ1_0BlockBytes, 52, true, asm.TQ1Dots, asm.TQ1DotsN},
}

// TestTQDotsN checks the n-token ternary GEMVs on every implementation:
// every value must have the bits of the one-token GEMV on the same
// implementation (the runtime mixes them) and match the reference; the
// gaps between the tokens' outputs stay untouched.
func TestTQDotsN(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(11, 12))
		for _, f := range tqNFormats {
			for _, nb := range []int{1, 2, 3} {
				for _, rows := range []int{1, 3, 17, 33} {
					for n := 1; n <= 9; n++ {
						for _, in := range blockInputs {
							ldd, ldy := rows+r.IntN(3), nb+r.IntN(2)
							if n == 1 {
								ldd, ldy = rows, nb
							}
							w := guarded(t, rows*nb*f.bs)
							in.bytes(r, w)
							for b := 0; b < rows*nb; b++ {
								binary.LittleEndian.PutUint16(w[b*f.bs+f.f16:], in.scale(r))
							}
							y := make([]generic.BlockQ8K, (n-1)*ldy+nb)
							for i := range y {
								y[i].D = float32(r.NormFloat64()) // the gaps: garbage
								for j := range y[i].Qs {
									y[i].Qs[j] = int8(r.Uint32())
								}
							}
							acts := make([]int, n)
							for tk := range n {
								acts[tk] = r.IntN(len(blockActs))
								x := make([]float32, nb*generic.QK_K)
								blockActs[acts[tk]].x(r, x)
								generic.QuantizeQ8K(y[tk*ldy:tk*ldy+nb], x)
							}
							const sentinel = -7
							dst := make([]float32, (n-1)*ldd+rows)
							for i := range dst {
								dst[i] = sentinel
							}
							f.multi(dst, ldd, w, y, ldy, n)
							one := make([]float32, rows)
							for tk := range n {
								yt := y[tk*ldy : tk*ldy+nb]
								f.one(one, w, yt)
								for i := range rows {
									got := dst[tk*ldd+i]
									if math.Float32bits(got) != math.Float32bits(one[i]) {
										t.Fatalf("%s nb=%d rows=%d n=%d %s/%s: token %d row %d = %v (%#x), one-token %v (%#x)",
											f.name, nb, rows, n, in.name, blockActs[acts[tk]].name, tk, i, got, math.Float32bits(got), one[i], math.Float32bits(one[i]))
									}
									if want := generic.DotTQ(w[i*nb*f.bs:], yt, f.tq1); !sameF32(got, want) {
										t.Fatalf("%s nb=%d rows=%d n=%d %s/%s: token %d row %d = %v, want %v",
											f.name, nb, rows, n, in.name, blockActs[acts[tk]].name, tk, i, got, want)
									}
								}
								if tk < n-1 {
									for i := tk*ldd + rows; i < (tk+1)*ldd; i++ {
										if dst[i] != sentinel {
											t.Fatalf("%s nb=%d rows=%d n=%d: gap dst[%d] = %v", f.name, nb, rows, n, i, dst[i])
										}
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

func TestTQDotsNShapes(t *testing.T) {
	y := make([]generic.BlockQ8K, 5)
	for _, f := range tqNFormats {
		for _, c := range []struct {
			name string
			fn   func()
		}{
			{"negative n", func() { f.multi(make([]float32, 4), 2, make([]byte, 4*f.bs), y, 2, -1) }},
			{"short dst", func() { f.multi(make([]float32, 2), 3, make([]byte, 4*f.bs), y[:4], 2, 2) }},
			{"rows > ldd", func() { f.multi(make([]float32, 7), 2, make([]byte, 9*f.bs), y[:4], 2, 2) }},
			{"short y", func() { f.multi(make([]float32, 4), 2, make([]byte, 4*f.bs), y[:1], 2, 2) }},
			{"short w", func() { f.multi(make([]float32, 4), 2, make([]byte, 4*f.bs-1), y[:4], 2, 2) }},
		} {
			t.Run(f.name+"/"+c.name, func(t *testing.T) {
				defer func() {
					if recover() == nil {
						t.Fatal("no panic")
					}
				}()
				c.fn()
			})
		}
		// n = 0, no rows: nothing; no blocks: zeros for every token.
		f.multi(nil, 0, nil, nil, 0, 0)
		f.multi(make([]float32, 2), 3, nil, y[:2], 2, 0)
		d := []float32{1, 2, 3, 4, 5}
		f.multi(d, 3, nil, y[:0], 0, 2)
		if d[0] != 0 || d[1] != 0 || d[2] != 3 || d[3] != 0 || d[4] != 0 {
			t.Fatalf("%s with no blocks: %v", f.name, d)
		}
	}
}

// TestTQDotsNExtremeActs is TestBlockDotsExtremeActs for the n-token
// ternary GEMVs: int8 extremes (−128 included) with consistent group sums,
// each value bit-identical to the one-token GEMV and equal to the
// reference.
func TestTQDotsNExtremeActs(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(13, 14))
		for _, f := range tqNFormats {
			const nb, rows, n = 3, 5, 7
			y := make([]generic.BlockQ8K, n*nb)
			qs := []int8{127, -127, -128}
			for i := range y {
				q := qs[i/nb%len(qs)]
				y[i].D = 0.01
				for j := range y[i].Qs {
					y[i].Qs[j] = q
					if r.IntN(4) == 0 {
						y[i].Qs[j] = int8(r.Uint32())
					}
				}
				for j := range y[i].Bsums {
					var s int16
					for _, v := range y[i].Qs[16*j : 16*j+16] {
						s += int16(v)
					}
					y[i].Bsums[j] = s
				}
			}
			for _, wb := range []byte{0xff, 0xaa, 0x00, 0xf2} {
				w := make([]byte, rows*nb*f.bs)
				fill[byte](wb)(r, w)
				for b := 0; b < rows*nb; b++ {
					binary.LittleEndian.PutUint16(w[b*f.bs+f.f16:], generic.F32ToF16(1))
				}
				dst := make([]float32, n*rows)
				f.multi(dst, rows, w, y, nb, n)
				one := make([]float32, rows)
				for tk := range n {
					yt := y[tk*nb : (tk+1)*nb]
					f.one(one, w, yt)
					for i := range rows {
						got := dst[tk*rows+i]
						want := generic.DotTQ(w[i*nb*f.bs:], yt, f.tq1)
						if math.Float32bits(got) != math.Float32bits(one[i]) || !sameF32(got, want) {
							t.Fatalf("%s w=%#x token %d row %d = %v, one-token %v, want %v", f.name, wb, tk, i, got, one[i], want)
						}
					}
				}
			}
		}
	})
}
