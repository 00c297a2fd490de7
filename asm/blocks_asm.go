//go:build (amd64 || arm64) && gc && !purego

package asm

import (
	"unsafe"

	"github.com/bitnet-go/bitnet/asm/generic"
)

// blockKernel is the signature of the generated block-format GEMVs.
type blockKernel func(dst *float32, w *byte, y *byte, rows int, nblk int)

// q8kDotsAsm wraps a Q8_K-activation GEMV over rows of bs-byte blocks.
func q8kDotsAsm(kern blockKernel, bs int) func([]float32, []byte, []generic.BlockQ8K) {
	return func(dst []float32, w []byte, y []generic.BlockQ8K) {
		nb := len(y)
		w = w[:len(dst)*nb*bs]
		raceRead(unsafe.Pointer(&w[0]), len(w))
		raceRead(unsafe.Pointer(&y[0]), nb*int(unsafe.Sizeof(y[0])))
		raceWrite(unsafe.Pointer(&dst[0]), 4*len(dst))
		kern(&dst[0], &w[0], (*byte)(unsafe.Pointer(&y[0])), len(dst), nb)
	}
}

func q80DotsAsm(kern blockKernel) func([]float32, []byte, []byte) {
	return func(dst []float32, w []byte, y []byte) {
		w = w[:len(dst)*len(y)]
		raceRead(unsafe.Pointer(&w[0]), len(w))
		raceRead(unsafe.Pointer(&y[0]), len(y))
		raceWrite(unsafe.Pointer(&dst[0]), 4*len(dst))
		kern(&dst[0], &w[0], &y[0], len(dst), len(y)/generic.Q8_0BlockBytes)
	}
}

// The kernels address generic.BlockQ8K as D at 0, Qs at 4, Bsums at 260, 292
// bytes per block (gen/amd64/blocks.go); these fail to compile otherwise.
var (
	_ = [1]struct{}{}[unsafe.Sizeof(generic.BlockQ8K{})^292]
	_ = [1]struct{}{}[unsafe.Offsetof(generic.BlockQ8K{}.Qs)^4]
	_ = [1]struct{}{}[unsafe.Offsetof(generic.BlockQ8K{}.Bsums)^260]
)
