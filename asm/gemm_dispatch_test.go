package asm_test

import (
	"math/rand/v2"
	"testing"

	"github.com/bitnet-go/bitnet/asm"
	"github.com/bitnet-go/bitnet/asm/ref"
	"golang.org/x/sys/cpu"
)

// expectedGemm is the GEMM micro-kernel each implementation must use.
func expectedGemm(impl string) string {
	switch impl {
	case "avx512vnni", "avx512bw":
		if cpu.X86.HasAVX512DQ {
			return "avx512"
		}
		return "avx2"
	case "avx2":
		return "avx2"
	}
	return "go"
}

// The GEMM kernels follow SetImpl (and so BITNET_ASM_REQUIRE and GODEBUG
// cpu.… settings) like every other kernel: they used to have a CPU
// selection of their own.
func TestGemmDispatch(t *testing.T) {
	defer asm.SetImpl("")
	tiles := map[string][2]int{"avx512": {12, 32}, "avx2": {6, 16}, "go": {4, 16}}
	for _, impl := range asm.Impls() {
		if err := asm.SetImpl(impl); err != nil {
			t.Fatal(err)
		}
		want := expectedGemm(impl)
		if got := asm.GemmKernel(); got != want {
			t.Errorf("implementation %s: GEMM kernel %q, want %q", impl, got, want)
		}
		if mr, nr := asm.GemmTile(); [2]int{mr, nr} != tiles[want] {
			t.Errorf("implementation %s: tile %d×%d", impl, mr, nr)
		}
	}
	asm.SetImpl("")
	if asm.GemmKernel() != expectedGemm(asm.Impl()) {
		t.Errorf("default: GEMM kernel %q for implementation %s", asm.GemmKernel(), asm.Impl())
	}
}

// A B operand packed under one implementation multiplies correctly after
// SetImpl switched to another (it keeps its micro-kernel).
func TestGemmPackedAcrossSetImpl(t *testing.T) {
	defer asm.SetImpl("")
	impls := asm.Impls()
	r := rand.New(rand.NewPCG(11, 12))
	m, n, k := 29, 45, 70
	a := make([]float32, m*k)
	b := make([]float32, k*n)
	for i := range a {
		a[i] = float32(r.IntN(21) - 10)
	}
	for i := range b {
		b[i] = float32(r.IntN(3) - 1)
	}
	want := make([]float32, m*n)
	ref.GemmF32(false, false, m, n, k, a, k, b, n, want, n, false)
	for _, from := range impls {
		for _, to := range impls {
			asm.SetImpl(from)
			var pb asm.PackedB
			pb.Reset(k, n)
			pb.Pack(false, b, n, 0, n)
			asm.SetImpl(to)
			got := make([]float32, m*n)
			asm.GemmF32Packed(false, m, a, k, &pb, got, n, false, new(asm.GemmWork))
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("packed under %s, multiplied under %s: C[%d] = %v, want %v", from, to, i, got[i], want[i])
				}
			}
		}
	}
}
