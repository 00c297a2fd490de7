package ref

// I8Dots is an int8 × int8 GEMV: dst[r] = Σ_k w[r·K + k]·q[k] for
// r < len(dst), K = len(q), in int32 (exact while the sum fits, which it
// does for every input when K < 2¹⁷; beyond that it wraps like Go's int32
// arithmetic). len(w) ≥ len(dst)·K.
func I8Dots(dst []int32, w []int8, q []int8) {
	k := len(q)
	for r := range dst {
		var s int32
		for i, v := range w[r*k : (r+1)*k] {
			s += int32(v) * int32(q[i])
		}
		dst[r] = s
	}
}
