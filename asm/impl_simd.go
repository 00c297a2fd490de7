//go:build gc && !purego && (amd64 || arm64)

package asm

import (
	"unsafe"

	"github.com/bitnet-go/bitnet/asm/generic"
	"github.com/bitnet-go/bitnet/asm/ref"
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

func dotF32Asm(dot func(a, b *float32, n int) float32, vl int) func(a, b []float32) float32 {
	return func(a, b []float32) float32 {
		m := len(a) &^ (vl - 1)
		var s float32
		if m > 0 {
			raceRead(unsafe.Pointer(&a[0]), 4*m)
			raceRead(unsafe.Pointer(&b[0]), 4*m)
			s = dot(&a[0], &b[0], m)
		}
		for i := m; i < len(a); i++ {
			s += a[i] * b[i]
		}
		return s
	}
}

func dotF16Asm(dot func(a, b *uint16, n int) float32, vl int) func(a, b []uint16) float32 {
	return func(a, b []uint16) float32 {
		m := len(a) &^ (vl - 1)
		var s float32
		if m > 0 {
			raceRead(unsafe.Pointer(&a[0]), 2*m)
			raceRead(unsafe.Pointer(&b[0]), 2*m)
			s = dot(&a[0], &b[0], m)
		}
		if m < len(a) {
			s += refKernels.dotF16(a[m:], b[m:])
		}
		return s
	}
}

// f16NKernel is the signature of the generated n-token F16 head kernels.
type f16NKernel func(dst *float32, ldd int, w *uint16, x *float32, ldx int, rows int, k int)

// f16DotsNAsm runs the n-token kernels over the tokens, up to len(kern)-1
// at a time (one token: the single-token kernel), and adds the columns
// past the last whole vector in Go exactly as f16DotsAsm does. The
// arguments were validated by F16DotsN.
func f16DotsNAsm(kern []f16NKernel, one func(dst *float32, w *uint16, x *float32, rows, k int), vl int) func([]float32, int, []uint16, []float32, int, int, int, int) {
	single := f16DotsAsm(one, vl)
	return func(dst []float32, ldd int, w []uint16, x []float32, ldx, n, rows, k int) {
		m := k &^ (vl - 1)
		if m == 0 {
			for t := range n {
				single(dst[t*ldd:t*ldd+rows], w, x[t*ldx:t*ldx+k])
			}
			return
		}
		_ = dst[(n-1)*ldd+rows-1]
		_ = x[(n-1)*ldx+k-1]
		raceRead(unsafe.Pointer(&w[0]), 2*rows*k)
		for t := range n {
			raceRead(unsafe.Pointer(&x[t*ldx]), 4*k)
			raceWrite(unsafe.Pointer(&dst[t*ldd]), 4*rows)
		}
		maxN := len(kern) - 1
		for t := 0; t < n; {
			c := min(maxN, n-t)
			if c == 1 {
				one(&dst[t*ldd], &w[0], &x[t*ldx], rows, k)
			} else {
				kern[c](&dst[t*ldd], ldd, &w[0], &x[t*ldx], ldx, rows, k)
			}
			t += c
		}
		if m < k {
			for t := range n {
				xt := x[t*ldx:]
				for r := range rows {
					s := dst[t*ldd+r]
					for i, v := range w[r*k+m : (r+1)*k] {
						s += generic.F16ToF32(v) * xt[m+i]
					}
					dst[t*ldd+r] = s
				}
			}
		}
	}
}

func f32ToF16sAsm(cvt func(dst *uint16, src *float32, n int), vl int) func([]uint16, []float32) {
	return func(dst []uint16, src []float32) {
		m := len(src) &^ (vl - 1)
		if m > 0 {
			raceRead(unsafe.Pointer(&src[0]), 4*m)
			raceWrite(unsafe.Pointer(&dst[0]), 2*m)
			cvt(&dst[0], &src[0], m)
		}
		f32ToF16sRef(dst[m:], src[m:])
	}
}

// i2sOutputsAsm: the kernel takes the first len(raw) &^ (vl-1) outputs,
// Go the rest with the same formula. float32(sum) is converted here, as
// the reference converts it.
func i2sOutputsAsm(kern func(y *float32, raw *int32, n int, sum, s, gamma float32), vl int) func([]float32, []int32, int32, float32, float32) {
	return func(y []float32, raw []int32, sum int32, s, gamma float32) {
		m := len(raw) &^ (vl - 1)
		if m > 0 {
			raceRead(unsafe.Pointer(&raw[0]), 4*m)
			raceWrite(unsafe.Pointer(&y[0]), 4*m)
			kern(&y[0], &raw[0], m, float32(sum), s, gamma)
		}
		if m < len(raw) {
			i2sOutputsRef(y[m:], raw[m:], sum, s, gamma)
		}
	}
}

// The kernels below take whole vectors of vl floats; Go does the rest.

func f16ToF32sAsm(cvt func(dst *float32, src *uint16, n int), vl int) func([]float32, []uint16) {
	return func(dst []float32, src []uint16) {
		m := len(src) &^ (vl - 1)
		if m > 0 {
			raceRead(unsafe.Pointer(&src[0]), 2*m)
			raceWrite(unsafe.Pointer(&dst[0]), 4*m)
			cvt(&dst[0], &src[0], m)
		}
		ref.F16ToF32s(dst[m:], src[m:])
	}
}

func f16AXPYAsm(axpy func(dst *float32, a float32, x *uint16, n int), vl int) func([]float32, float32, []uint16) {
	return func(dst []float32, a float32, x []uint16) {
		m := len(dst) &^ (vl - 1)
		if m > 0 {
			raceRead(unsafe.Pointer(&x[0]), 2*m)
			raceWrite(unsafe.Pointer(&dst[0]), 4*m)
			axpy(&dst[0], a, &x[0], m)
		}
		ref.F16AXPY(dst[m:], a, x[m:])
	}
}

// f16AXPYStridedAsm: the kernel covers the first len(dst) &^ (vl-1)
// elements of dst; the elements are independent, so Go adds the rest.
func f16AXPYStridedAsm(kern func(dst *float32, a *float32, x *uint16, stride, rows, n int), vl int) func([]float32, []float32, []uint16, int) {
	return func(dst []float32, a []float32, x []uint16, stride int) {
		n := len(dst)
		m := n &^ (vl - 1)
		if m > 0 {
			_ = x[(len(a)-1)*stride+n-1]
			if raceEnabled {
				raceRead(unsafe.Pointer(&a[0]), 4*len(a))
				raceWrite(unsafe.Pointer(&dst[0]), 4*m)
				for j := range a {
					raceRead(unsafe.Pointer(&x[j*stride]), 2*m)
				}
			}
			kern(&dst[0], &a[0], &x[0], stride, len(a), m)
		}
		if m < n {
			ref.F16AXPYStrided(dst[m:], a, x[m:], stride)
		}
	}
}

// f16DotsStridedAsm: the kernel covers the first len(q) &^ (vl-1) elements
// of each row.
func f16DotsStridedAsm(kern func(dst *float32, k *uint16, stride int, q *uint16, rows, n int), vl int) func([]float32, []uint16, int, []uint16) {
	return func(dst []float32, k []uint16, stride int, q []uint16) {
		n := len(q)
		m := n &^ (vl - 1)
		if m == 0 {
			ref.F16DotsStrided(dst, k, stride, q)
			return
		}
		_ = k[(len(dst)-1)*stride+n-1]
		if raceEnabled {
			raceRead(unsafe.Pointer(&q[0]), 2*n)
			raceWrite(unsafe.Pointer(&dst[0]), 4*len(dst))
			for j := range dst {
				raceRead(unsafe.Pointer(&k[j*stride]), 2*n)
			}
		}
		kern(&dst[0], &k[0], stride, &q[0], len(dst), n)
		if m < n {
			for j := range dst {
				s := dst[j]
				for i, h := range k[j*stride+m : j*stride+n] {
					s += generic.F16ToF32(h) * generic.F16ToF32(q[m+i])
				}
				dst[j] = s
			}
		}
	}
}

// i8DotsAsm: the kernel covers the first len(q) &^ 63 columns of each row.
func i8DotsAsm(kern func(dst *int32, w *int8, q *int8, rows, k int)) func([]int32, []int8, []int8) {
	return func(dst []int32, w []int8, q []int8) {
		k := len(q)
		m := k &^ 63
		if m == 0 {
			ref.I8Dots(dst, w, q)
			return
		}
		w = w[:len(dst)*k]
		raceRead(unsafe.Pointer(&w[0]), len(w))
		raceRead(unsafe.Pointer(&q[0]), k)
		raceWrite(unsafe.Pointer(&dst[0]), 4*len(dst))
		kern(&dst[0], &w[0], &q[0], len(dst), k)
		if m < k {
			for r := range dst {
				s := dst[r]
				for i, v := range w[r*k+m : (r+1)*k] {
					s += int32(v) * int32(q[m+i])
				}
				dst[r] = s
			}
		}
	}
}
