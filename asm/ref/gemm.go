package ref

// GemmF32 is the reference of asm.GemmF32: C = op(A)·op(B), or C += op(A)·op(B)
// when acc is set, with op(A) m×k and op(B) k×n, all row-major:
//   - A(i,p) is a[i*lda+p], or a[p*lda+i] when transA;
//   - B(p,j) is b[p*ldb+j], or b[j*ldb+p] when transB;
//   - C(i,j) is c[i*ldc+j].
//
// Each element is one float32 sum over p in increasing order (no FMA), so the
// result is exact whenever every partial sum is (integer-valued inputs whose
// sums stay below 2^24).
func GemmF32(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for p := 0; p < k; p++ {
				var x, y float32
				if transA {
					x = a[p*lda+i]
				} else {
					x = a[i*lda+p]
				}
				if transB {
					y = b[j*ldb+p]
				} else {
					y = b[p*ldb+j]
				}
				s += x * y
			}
			if acc {
				c[i*ldc+j] += s
			} else {
				c[i*ldc+j] = s
			}
		}
	}
}
