package train

import (
	"math"

	"github.com/bitnet-go/bitnet/asm"
)

// The element-wise operations of the graph and their backward passes. Each
// works on one row (one token) so that callers can split rows between
// workers.

// expf is a float32 e^x with about 1 ulp of error, several times faster
// than math.Exp and branch-free for x in [−87.3, 88.7] (the caller clamps):
// n = round(x·log2 e) by the 1.5·2^23 trick, r = x − n·ln2 (Cody–Waite),
// a degree-6 polynomial for e^r, and 2^n put into the exponent bits.
func expf(x float32) float32 {
	const (
		ln2hi = 0.693145751953125
		ln2lo = 1.428606765330187e-06
		log2e = 1.4426950408889634
		magic = 12582912 // 1.5·2^23
	)
	if x < -87.3 {
		x = -87.3
	}
	if x > 88.7 {
		x = 88.7
	}
	t := x*log2e + magic
	n := int32(math.Float32bits(t) - math.Float32bits(magic))
	fn := t - magic
	r := x - fn*ln2hi - fn*ln2lo
	p := float32(1.0/720)*r + 1.0/120
	p = p*r + 1.0/24
	p = p*r + 1.0/6
	p = p*r + 0.5
	p = p*r + 1
	p = p*r + 1
	return p * math.Float32frombits(uint32(n+127)<<23)
}

// rmsNorm writes x·r·w into y and returns r = 1/sqrt(mean(x²)+eps), with the
// runtime's rounding points (asm.RMSNorm): squares in float32 summed in
// float64, mean and r in float32.
func rmsNorm(y, x, w []float32, eps float32) float32 {
	var sum float64
	for _, v := range x {
		sum += float64(v * v)
	}
	mean := float32(sum / float64(len(x)))
	r := 1 / float32(math.Sqrt(float64(mean+eps)))
	y = y[:len(x)]
	w = w[:len(x)]
	for i, v := range x {
		y[i] = (v * r) * w[i]
	}
	return r
}

// rmsNormBackward adds the input gradient of y = x·r·w to dx (dx += …) and
// the weight gradient to dw, given dy and the r of the forward pass:
//
//	dx_i = r·w_i·dy_i − x_i·r³/n·Σ_j w_j·dy_j·x_j,  dw_i += dy_i·x_i·r.
//
// When overwrite is set dx is written rather than accumulated.
func rmsNormBackward(dx, dw, x, w, dy []float32, r float32, overwrite bool) {
	n := len(x)
	dx, dw, w, dy = dx[:n], dw[:n], w[:n], dy[:n]
	var dot float64
	for i, v := range x {
		g := w[i] * dy[i]
		dot += float64(g * v)
		dw[i] += dy[i] * v * r
	}
	c := float32(dot) * r * r * r / float32(n)
	if overwrite {
		for i, v := range x {
			dx[i] = r*w[i]*dy[i] - v*c
		}
		return
	}
	for i, v := range x {
		dx[i] += r*w[i]*dy[i] - v*c
	}
}

// quantizeRow applies the runtime's per-token int8 quantizer
// (asm.QuantizeI8) to x: qi receives the integer codes as floats (the input
// of the exact integer GEMM), qd the dequantized values q/s (the quantized
// activations the weight gradient sees). It returns s.
func quantizeRow(qi, qd, x []float32, scratch []int8) float32 {
	s, _ := asm.QuantizeI8(scratch[:len(x)], x)
	qi, qd = qi[:len(x)], qd[:len(x)]
	for i, q := range scratch[:len(x)] {
		qi[i] = float32(q)
		qd[i] = float32(q) / s
	}
	return s
}

// ropeRows rotates the heads of one token's q or k in place (NeoX pairing:
// element i with i+hd/2) with the position's cos/sin table.
func ropeRows(x []float32, heads, hd int, cos, sin []float32) {
	h := hd / 2
	for hh := 0; hh < heads; hh++ {
		v := x[hh*hd : hh*hd+hd]
		lo, hi := v[:h], v[h:hd]
		for i := range lo {
			x0, x1 := lo[i], hi[i]
			lo[i] = x0*cos[i] - x1*sin[i]
			hi[i] = x0*sin[i] + x1*cos[i]
		}
	}
}

// ropeRowsBackward applies the transposed rotation to the gradient of a
// rotated row, giving the gradient of the row before the rotation.
func ropeRowsBackward(dx []float32, heads, hd int, cos, sin []float32) {
	h := hd / 2
	for hh := 0; hh < heads; hh++ {
		v := dx[hh*hd : hh*hd+hd]
		lo, hi := v[:h], v[h:hd]
		for i := range lo {
			d0, d1 := lo[i], hi[i]
			lo[i] = d0*cos[i] + d1*sin[i]
			hi[i] = -d0*sin[i] + d1*cos[i]
		}
	}
}

// reluSqGate writes f = relu(g)²·u.
func reluSqGate(f, g, u []float32) {
	f, u = f[:len(g)], u[:len(g)]
	for i, gv := range g {
		r := max(gv, 0)
		f[i] = (r * r) * u[i]
	}
}

// reluSqGateBackward writes dg = df·u·2·relu(g) and du = df·relu(g)².
func reluSqGateBackward(dg, du, df, g, u []float32) {
	n := len(g)
	dg, du, df, u = dg[:n], du[:n], df[:n], u[:n]
	for i, gv := range g {
		r := max(gv, 0)
		dg[i] = df[i] * u[i] * 2 * r
		du[i] = df[i] * (r * r)
	}
}

// crossEntropyRow returns −log softmax(logits)[target] and, when dlogits is
// not nil, writes its gradient times scale: (softmax − onehot)·scale.
// dlogits may alias logits.
func crossEntropyRow(dlogits, logits []float32, target int32, scale float32) float64 {
	lt := logits[target]
	m := float32(math.Inf(-1))
	for _, v := range logits {
		m = max(m, v)
	}
	var sum float64
	if dlogits == nil {
		for _, v := range logits {
			sum += float64(expf(v - m))
		}
	} else {
		dlogits = dlogits[:len(logits)]
		for i, v := range logits {
			e := expf(v - m)
			dlogits[i] = e
			sum += float64(e)
		}
	}
	loss := math.Log(sum) - float64(lt-m)
	if dlogits != nil {
		k := scale / float32(sum)
		for i := range dlogits {
			dlogits[i] *= k
		}
		dlogits[target] -= scale
	}
	return loss
}

// softmaxRow turns s into softmax(s) in place (masked entries must already
// be excluded from s by the caller: it works on the causal prefix).
func softmaxRow(s []float32) {
	m := float32(math.Inf(-1))
	for _, v := range s {
		m = max(m, v)
	}
	var sum float32
	for i, v := range s {
		e := expf(v - m)
		s[i] = e
		sum += e
	}
	inv := 1 / sum
	for i := range s {
		s[i] *= inv
	}
}

// quantizeI8 is the runtime's per-token quantizer (asm.QuantizeI8).
func quantizeI8(dst []int8, x []float32) (float32, int32) { return asm.QuantizeI8(dst, x) }
