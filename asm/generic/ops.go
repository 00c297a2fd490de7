package generic

import "math"

// RMSNorm writes x/sqrt(mean(x²)+eps)·w into dst, with ggml's rounding
// points: squares in float32 summed in float64, the mean and the scale in
// float32, then x·scale, then ·w. w may be nil (no weight).
func RMSNorm(dst, x, w []float32, eps float32) {
	var sum float64
	for _, v := range x {
		sum += float64(v * v)
	}
	mean := float32(sum / float64(len(x)))
	scale := 1 / float32(math.Sqrt(float64(mean+eps)))
	if w == nil {
		for i, v := range x {
			dst[i] = v * scale
		}
		return
	}
	for i, v := range x {
		dst[i] = (v * scale) * w[i]
	}
}

// SoftmaxInPlace computes softmax(x·scale) over x in place, ggml-style:
// exp in float32, the sum in float64, then a float32 multiply by 1/sum.
// Entries equal to -Inf (masked) become 0.
func SoftmaxInPlace(x []float32, scale float32) {
	m := float32(math.Inf(-1))
	for i := range x {
		x[i] *= scale
		m = max(m, x[i])
	}
	var sum float64
	for i, v := range x {
		e := float32(math.Exp(float64(v - m)))
		x[i] = e
		sum += float64(e)
	}
	inv := float32(1 / sum)
	for i := range x {
		x[i] *= inv
	}
}

// RopeCache fills cos and sin (len n/2) for position pos with ggml's NeoX
// RoPE angles: theta starts at pos and is multiplied by base^(−2/n) once per
// pair, in float32.
func RopeCache(cos, sin []float32, pos int, base float32, n int) {
	thetaScale := float32(math.Pow(float64(base), float64(float32(-2)/float32(n))))
	theta := float32(pos)
	for i := range cos {
		cos[i] = float32(math.Cos(float64(theta)))
		sin[i] = float32(math.Sin(float64(theta)))
		theta *= thetaScale
	}
}

// RopeNeoX rotates one head vector x (len n) in place: element i pairs with
// i + n/2.
func RopeNeoX(x, cos, sin []float32) {
	h := len(x) / 2
	for i := 0; i < h; i++ {
		x0, x1 := x[i], x[i+h]
		x[i] = x0*cos[i] - x1*sin[i]
		x[i+h] = x0*sin[i] + x1*cos[i]
	}
}

// DotF32 is a plain float32 dot product.
func DotF32(a, b []float32) float32 {
	var s float32
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// DotF16 is the dot product of a binary16 row with binary16 activations,
// accumulated in float32.
func DotF16(a, b []uint16) float32 {
	var s float32
	for i, v := range a {
		s += F16ToF32(v) * F16ToF32(b[i])
	}
	return s
}

// DotBF16 is the dot product of a bfloat16 row with bfloat16 activations.
func DotBF16(a, b []uint16) float32 {
	var s float32
	for i, v := range a {
		s += BF16ToF32(v) * BF16ToF32(b[i])
	}
	return s
}
