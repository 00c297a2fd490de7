package asm_test

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkBlockHead is a 2560-wide output head or matmul in each block
// format (8192 rows per call, streamed from the ring like
// BenchmarkF16Head): its MB/s are weight bytes per second, comparable with
// BenchmarkMemRead.
//
//	go test -run NONE -bench 'BlockHead|MemRead' -cpu 1 ./asm
func BenchmarkBlockHead(b *testing.B) {
	const k, rows = 2560, 8192
	x := make([]float32, k)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	benchImpls(b, func(b *testing.B) {
		for _, f := range blockFormats {
			b.Run(f.name, func(b *testing.B) {
				buf := weightRing()
				act := f.act(x)
				size := rows * f.blocks(k) * f.bs
				dst := make([]float32, rows)
				b.SetBytes(int64(size))
				off := 0
				for b.Loop() {
					if off+size > len(buf) {
						off = 0
					}
					f.dots(dst, buf[off:off+size], act)
					off += size
				}
			})
		}
	})
}
