package generic

import "math"

// The block-format dot products (DotQ6K, DotQ4K, DotTQ, DotQ8_0) follow the float
// summation order of ggml's x86 AVX2 vec_dot kernels, which is what the
// reference engines run on x86 (built with -march=native; these formats
// have no AVX-512 variant in ggml): per block the integer products are
// summed into eight int32 lanes, each lane is converted to float32 and
// multiplied by the block scale d (fused, as _mm256_fmadd_ps, or rounded,
// as _mm256_mul_ps followed by _mm256_add_ps) into eight float32
// accumulators, and these are reduced at the end by Hsum8. Lane m of a
// block holds the products of the elements 4m..4m+3 of every 32-element
// chunk of the block (the int32 lanes of VPMADDWD after VPMADDUBSW, or of
// VPDPBUSD).

// Hsum8 is ggml's hsum_float_8: ((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7)).
func Hsum8(a *[8]float32) float32 {
	lo := [4]float32{a[0] + a[4], a[1] + a[5], a[2] + a[6], a[3] + a[7]}
	return (lo[0] + lo[2]) + (lo[1] + lo[3])
}

// FMA32 returns a·b + c rounded once to float32 (VFMADD231PS).
func FMA32(a, b, c float32) float32 {
	p := float64(a) * float64(b) // exact: 24+24 bits
	s := p + float64(c)
	// float32(s) rounds twice (to float64, then float32); that differs from
	// one rounding only when s lies exactly halfway between two float32
	// values, that is when its 29 low mantissa bits are 1 followed by
	// zeros (normal float32 range) — or, below it, in the subnormals.
	if bits := math.Float64bits(s); bits&(1<<29-1) != 1<<28 && math.Abs(s) >= 0x1p-125 {
		return float32(s)
	}
	return fma32Slow(p, float64(c), s)
}

func fma32Slow(p, cc, s float64) float32 {
	// TwoSum: p + c = s + e exactly.
	bb := s - p
	e := (p - (s - bb)) + (cc - bb)
	r := float32(s)
	if e == 0 || math.IsInf(s, 0) || math.IsNaN(s) {
		return r
	}
	// float32(s) rounds s correctly unless s lies exactly halfway between
	// two float32 values; then the sign of e decides.
	lo, hi := r, r
	if float64(r) < s {
		hi = math.Nextafter32(r, float32(math.Inf(1)))
	} else if float64(r) > s {
		lo = math.Nextafter32(r, float32(math.Inf(-1)))
	} else {
		return r // s is a float32: |e| is far below half its ulp
	}
	if (float64(lo)+float64(hi))/2 != s {
		return r
	}
	if e > 0 {
		return hi
	}
	return lo
}

// mulAdd32 is _mm256_add_ps(_mm256_mul_ps(a, b), c) on one lane: two
// roundings (the explicit conversion keeps Go from fusing them).
func mulAdd32(a, b, c float32) float32 { return float32(a*b) + c }
