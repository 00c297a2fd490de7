package asm_test

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"unsafe"

	"github.com/bitnet-go/bitnet/asm"
	"github.com/bitnet-go/bitnet/asm/generic"
)

// Benchmarks:
//
//	go test -run NONE -bench 'Ternary|MemRead' -cpu 1 -count 3 ./asm
//
// BenchmarkTernary streams the weights of each GEMV from a ring larger than
// the last-level cache (-asm.ringmib), as decoding does with a real model,
// so its MB/s (packed weight bytes per second) compares directly with
// BenchmarkMemRead, a plain streaming read of the same ring.
// BenchmarkTernaryHot repeats one matrix (cache-resident: kernel speed), and
// BenchmarkTernaryN is the prompt case: n tokens per pass over the weights,
// with MB/s counting weight bytes × n.

var ringMiB = flag.Int("asm.ringmib", 1024, "size in MiB of the weight ring the streaming benchmarks read; make it larger than the last-level cache")

var ring struct {
	once sync.Once
	buf  []byte
}

// weightRing returns the shared ring, filled with random bytes (random
// 2-bit codes; the kernels' speed does not depend on the values).
func weightRing() []byte {
	ring.once.Do(func() {
		u := make([]uint64, *ringMiB<<20/8)
		x := uint64(0x9e3779b97f4a7c15)
		for i := range u {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			u[i] = x
		}
		ring.buf = unsafe.Slice((*byte)(unsafe.Pointer(&u[0])), len(u)*8)
	})
	return ring.buf
}

// The ternary projections of BitNet b1.58 2B4T: K inputs → N outputs.
var benchShapes = []struct{ k, n int }{
	{2560, 2560}, // attn_q, attn_output
	{2560, 640},  // attn_k, attn_v
	{2560, 6912}, // ffn_gate, ffn_up
	{6912, 2560}, // ffn_down
}

func shapeName(k, n int) string { return fmt.Sprintf("K%d_N%d", k, n) }

func benchImpls(b *testing.B, f func(b *testing.B)) {
	defer asm.SetImpl("")
	for _, name := range asm.Impls() {
		b.Run(name, func(b *testing.B) {
			if err := asm.SetImpl(name); err != nil {
				b.Fatal(err)
			}
			f(b)
		})
	}
}

func randQ(k int) []int8 {
	q := make([]int8, k)
	randI8(rand.New(rand.NewPCG(1, 1)), q)
	return q
}

func BenchmarkTernary(b *testing.B) {
	benchImpls(b, func(b *testing.B) {
		for _, s := range benchShapes {
			b.Run(shapeName(s.k, s.n), func(b *testing.B) {
				buf := weightRing()
				size := s.n * s.k / 4
				q := randQ(s.k)
				dst := make([]int32, s.n)
				b.SetBytes(int64(size))
				off := 0
				for b.Loop() {
					if off+size > len(buf) {
						off = 0
					}
					asm.I2SDots(dst, buf[off:off+size], q)
					off += size
				}
			})
		}
	})
}

func BenchmarkTernaryHot(b *testing.B) {
	benchImpls(b, func(b *testing.B) {
		for _, s := range benchShapes {
			b.Run(shapeName(s.k, s.n), func(b *testing.B) {
				size := s.n * s.k / 4
				w := weightRing()[:size]
				q := randQ(s.k)
				dst := make([]int32, s.n)
				b.SetBytes(int64(size))
				for b.Loop() {
					asm.I2SDots(dst, w, q)
				}
			})
		}
	})
}

func BenchmarkTernaryN(b *testing.B) {
	benchImpls(b, func(b *testing.B) {
		for _, n := range []int{4, 8, 16} {
			for _, s := range benchShapes[2:3] {
				b.Run(fmt.Sprintf("n%d/%s", n, shapeName(s.k, s.n)), func(b *testing.B) {
					buf := weightRing()
					size := s.n * s.k / 4
					q := randQ(n * s.k)
					dst := make([]int32, n*s.n)
					b.SetBytes(int64(n * size))
					off := 0
					for b.Loop() {
						if off+size > len(buf) {
							off = 0
						}
						asm.I2SDotsN(dst, s.n, buf[off:off+size], q, s.k, n)
						off += size
					}
				})
			}
		}
	})
}

// BenchmarkTernaryNHot is BenchmarkTernaryN on a cache-resident tile of
// 32 rows (what runtime's tiles hand the kernels): the kernels' arithmetic
// speed per token count, MB/s counting weight bytes × n.
func BenchmarkTernaryNHot(b *testing.B) {
	const k, rows = 2560, 32
	benchImpls(b, func(b *testing.B) {
		for _, n := range []int{1, 2, 3, 4, 8} {
			b.Run(fmt.Sprintf("n%d", n), func(b *testing.B) {
				w := weightRing()[:rows*k/4]
				q := randQ(n * k)
				dst := make([]int32, n*rows)
				b.SetBytes(int64(n * len(w)))
				for b.Loop() {
					asm.I2SDotsN(dst, rows, w, q, k, n)
				}
			})
		}
	})
}

// BenchmarkMemRead is the streaming read bandwidth of one core over the
// ring: "go" is a Go loop summing uint64s with 8 accumulators (hardware
// prefetch only), "simd" a vector loop with the same software prefetch as
// the ternary GEMV (the ceiling the memory-bound kernels are measured
// against).
func BenchmarkMemRead(b *testing.B) {
	buf := weightRing()
	b.Run("go", func(b *testing.B) {
		u := unsafe.Slice((*uint64)(unsafe.Pointer(&buf[0])), len(buf)/8)
		b.SetBytes(int64(len(buf)))
		var total uint64
		for b.Loop() {
			total += sum64(u)
		}
		sink = total
	})
	b.Run("simd", func(b *testing.B) {
		b.SetBytes(int64(len(buf)))
		var total uint64
		for b.Loop() {
			total += asm.MemSum(buf)
		}
		sink = total
	})
}

var (
	sink  uint64
	sinkF float32
)

func sum64(u []uint64) uint64 {
	var s0, s1, s2, s3, s4, s5, s6, s7 uint64
	for len(u) >= 8 {
		s0 += u[0]
		s1 += u[1]
		s2 += u[2]
		s3 += u[3]
		s4 += u[4]
		s5 += u[5]
		s6 += u[6]
		s7 += u[7]
		u = u[8:]
	}
	return s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7
}

func BenchmarkQuantizeI8(b *testing.B) {
	benchImpls(b, func(b *testing.B) {
		for _, k := range []int{2560, 6912} {
			b.Run(fmt.Sprint("K", k), func(b *testing.B) {
				x := make([]float32, k)
				r := rand.New(rand.NewPCG(1, 2))
				for i := range x {
					x[i] = float32(r.NormFloat64())
				}
				dst := make([]int8, k)
				b.SetBytes(int64(4 * k))
				for b.Loop() {
					asm.QuantizeI8(dst, x)
				}
			})
		}
	})
}

// BenchmarkF16Head is the output head (binary16 token_embd, 2560 wide):
// 8192 rows per call streamed from the ring.
func BenchmarkF16Head(b *testing.B) {
	const k, rows = 2560, 8192
	benchImpls(b, func(b *testing.B) {
		buf := weightRing()
		w := unsafe.Slice((*uint16)(unsafe.Pointer(&buf[0])), len(buf)/2)
		x := make([]float32, k)
		for i := range x {
			x[i] = generic.RoundF16(float32(i%17) - 8)
		}
		dst := make([]float32, rows)
		b.SetBytes(2 * k * rows)
		off := 0
		for b.Loop() {
			if off+k*rows > len(w) {
				off = 0
			}
			asm.F16Dots(dst, w[off:off+k*rows], x)
			off += k * rows
		}
	})
}

// BenchmarkF16HeadN is the output head of a batched decode step: n tokens
// per pass over 8192 rows streamed from the ring, in the 32-row tiles
// package runtime hands the kernel. MB/s counts weight bytes (not × n), so
// it compares with BenchmarkF16Head and BenchmarkMemRead.
func BenchmarkF16HeadN(b *testing.B) {
	const k, rows, tile = 2560, 8192, 32
	benchImpls(b, func(b *testing.B) {
		for _, n := range []int{2, 4} {
			b.Run(fmtN(n), func(b *testing.B) {
				buf := weightRing()
				w := unsafe.Slice((*uint16)(unsafe.Pointer(&buf[0])), len(buf)/2)
				x := make([]float32, n*k)
				for i := range x {
					x[i] = generic.RoundF16(float32(i%17) - 8)
				}
				dst := make([]float32, n*rows)
				b.SetBytes(2 * k * rows)
				off := 0
				for b.Loop() {
					if off+k*rows > len(w) {
						off = 0
					}
					for lo := 0; lo < rows; lo += tile {
						asm.F16DotsN(dst[lo:(n-1)*rows+lo+tile], rows, w[off+lo*k:off+(lo+tile)*k], x, k, n)
					}
					off += k * rows
				}
			})
		}
	})
}

func BenchmarkF32ToF16s(b *testing.B) {
	benchImpls(b, func(b *testing.B) {
		src := make([]float32, 2560)
		for i := range src {
			src[i] = float32(i) * 0.37
		}
		dst := make([]uint16, len(src))
		b.SetBytes(4 * 2560)
		for b.Loop() {
			asm.F32ToF16s(dst, src)
		}
	})
}

// BenchmarkI2SOutputs scales one token's raw I2_S dots of the 2B4T FFN
// up/gate projection (6912 rows) into outputs.
func BenchmarkI2SOutputs(b *testing.B) {
	benchImpls(b, func(b *testing.B) {
		raw := make([]int32, 6912)
		for i := range raw {
			raw[i] = int32(i*7919%40000) - 20000
		}
		y := make([]float32, len(raw))
		b.SetBytes(4 * 6912)
		for b.Loop() {
			asm.I2SOutputs(y, raw, 1234, 127/3.7, 0.8134)
		}
	})
}

// BenchmarkI8Head is the int8 output head (2560 wide, 8192 rows per call)
// streamed from the ring like BenchmarkF16Head: MB/s is weight bytes per
// second, comparable with BenchmarkMemRead. BenchmarkI8HeadHot repeats 256
// rows (cache-resident: the kernel's compute ceiling).
func BenchmarkI8Head(b *testing.B) {
	const k, rows = 2560, 8192
	benchImpls(b, func(b *testing.B) {
		buf := weightRing()
		w := unsafe.Slice((*int8)(unsafe.Pointer(&buf[0])), len(buf))
		q := randQ(k)
		dst := make([]int32, rows)
		b.SetBytes(k * rows)
		off := 0
		for b.Loop() {
			if off+k*rows > len(w) {
				off = 0
			}
			asm.I8Dots(dst, w[off:off+k*rows], q)
			off += k * rows
		}
	})
}

func BenchmarkI8HeadHot(b *testing.B) {
	const k, rows = 2560, 256
	benchImpls(b, func(b *testing.B) {
		buf := weightRing()
		w := unsafe.Slice((*int8)(unsafe.Pointer(&buf[0])), k*rows)
		q := randQ(k)
		dst := make([]int32, rows)
		b.SetBytes(k * rows)
		for b.Loop() {
			asm.I8Dots(dst, w, q)
		}
	})
}

// The attention of one query head over a binary16 KV cache of the 2B4T
// shape (head dim 128, 5 KV heads: rows of 640 elements): the scores
// (F16DotsStrided) and the value accumulation (one F16AXPY per position),
// for 1024 and 4096 cached positions. MB/s counts the bytes of this head's
// keys or values read. BenchmarkF16AXPY is a single call (per-call cost).

const attnHD, attnStride = 128, 640

func kvCache(pos int) []uint16 {
	r := rand.New(rand.NewPCG(5, 5))
	kv := make([]uint16, pos*attnStride)
	for i := range kv {
		kv[i] = generic.F32ToF16(float32(r.NormFloat64()))
	}
	return kv
}

func BenchmarkF16DotsStrided(b *testing.B) {
	benchImpls(b, func(b *testing.B) {
		for _, pos := range []int{1024, 4096} {
			b.Run(fmt.Sprint("pos", pos), func(b *testing.B) {
				k := kvCache(pos)
				q := k[attnStride-attnHD:][:attnHD] // any 128 values
				dst := make([]float32, pos)
				b.SetBytes(2 * attnHD * int64(pos))
				for b.Loop() {
					asm.F16DotsStrided(dst, k, attnStride, q)
				}
			})
		}
	})
}

func BenchmarkF16AXPYRows(b *testing.B) {
	benchImpls(b, func(b *testing.B) {
		for _, pos := range []int{1024, 4096} {
			b.Run(fmt.Sprint("pos", pos), func(b *testing.B) {
				v := kvCache(pos)
				p := make([]float32, pos)
				for i := range p {
					p[i] = 1 / float32(pos)
				}
				out := make([]float32, attnHD)
				b.SetBytes(2 * attnHD * int64(pos))
				for b.Loop() {
					clear(out)
					for j, pj := range p {
						asm.F16AXPY(out, pj, v[j*attnStride:])
					}
				}
			})
		}
	})
}

// BenchmarkF16AXPYStrided is BenchmarkF16AXPYRows in one call.
func BenchmarkF16AXPYStrided(b *testing.B) {
	benchImpls(b, func(b *testing.B) {
		for _, pos := range []int{1024, 4096} {
			b.Run(fmt.Sprint("pos", pos), func(b *testing.B) {
				v := kvCache(pos)
				p := make([]float32, pos)
				for i := range p {
					p[i] = 1 / float32(pos)
				}
				out := make([]float32, attnHD)
				b.SetBytes(2 * attnHD * int64(pos))
				for b.Loop() {
					clear(out)
					asm.F16AXPYStrided(out, p, v, attnStride)
				}
			})
		}
	})
}

func BenchmarkF16AXPY(b *testing.B) {
	benchImpls(b, func(b *testing.B) {
		for _, n := range []int{64, 128} {
			b.Run(fmt.Sprint("n", n), func(b *testing.B) {
				x := kvCache(1)[:n]
				dst := make([]float32, n)
				b.SetBytes(int64(2 * n))
				for b.Loop() {
					asm.F16AXPY(dst, 0.5, x)
				}
			})
		}
	})
}

func BenchmarkF16ToF32s(b *testing.B) {
	benchImpls(b, func(b *testing.B) {
		src := kvCache(4)[:2560]
		dst := make([]float32, len(src))
		b.SetBytes(2 * 2560)
		for b.Loop() {
			asm.F16ToF32s(dst, src)
		}
	})
}
