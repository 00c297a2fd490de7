//go:build gc && !purego && (amd64 || arm64)

package asm

import (
	"unsafe"

	"github.com/bitnet-go/bitnet/asm/generic"
)

// f16DotsAsm: the kernel covers the first k &^ (vl-1) columns of each row.
func f16DotsAsm(gemv func(dst *float32, w *uint16, x *float32, rows, k int), vl int) func([]float32, []uint16, []float32) {
	return func(dst []float32, w []uint16, x []float32) {
		k := len(x)
		m := k &^ (vl - 1)
		if m == 0 {
			f16DotsRef(dst, w, x)
			return
		}
		raceRead(unsafe.Pointer(&w[0]), 2*len(w))
		raceRead(unsafe.Pointer(&x[0]), 4*k)
		raceWrite(unsafe.Pointer(&dst[0]), 4*len(dst))
		gemv(&dst[0], &w[0], &x[0], len(dst), k)
		if m < k {
			for r := range dst {
				s := dst[r]
				for i, v := range w[r*k+m : (r+1)*k] {
					s += generic.F16ToF32(v) * x[m+i]
				}
				dst[r] = s
			}
		}
	}
}
