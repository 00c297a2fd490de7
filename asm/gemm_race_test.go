package asm

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestGemmRaceChild is the process TestGemmRaceAnnotations runs: a GEMM
// under $BITNET_GEMM_RACE_IMPL while another goroutine writes one of its
// operands without synchronization.
func TestGemmRaceChild(t *testing.T) {
	impl, what := os.Getenv("BITNET_GEMM_RACE_IMPL"), os.Getenv("BITNET_GEMM_RACE_WHAT")
	if impl == "" {
		t.Skip("helper process of TestGemmRaceAnnotations")
	}
	if err := SetImpl(impl); err != nil {
		t.Fatal(err)
	}
	mr, nr := GemmTile()
	m, n, k := mr, nr, 8 // one whole tile: C is written by the micro-kernel only
	a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	done := make(chan struct{})
	// A middle element: the wrappers' bounds checks read the last one,
	// which the race detector would see without any annotation.
	go func() {
		switch what {
		case "a":
			a[len(a)/2+1] = 1
		case "b":
			b[len(b)/2+1] = 1
		case "c":
			c[len(c)/2+1] = 1
		}
		close(done)
	}()
	GemmF32(false, false, m, n, k, a, k, b, n, c, n, false, nil)
	<-done
}

// The assembly GEMM kernels (micro-kernels and AVX-512 packing) tell the
// race detector what they read and write, as the other kernels do: an
// unsynchronized write to A, B or C during a product is reported.
func TestGemmRaceAnnotations(t *testing.T) {
	if !raceEnabled {
		t.Skip("checks the race detector's view of the kernels: run with -race")
	}
	ks, impls := gemmKernels()
	for i, k := range ks {
		for _, what := range []string{"a", "b", "c"} {
			cmd := exec.Command(os.Args[0], "-test.run=^TestGemmRaceChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), "BITNET_GEMM_RACE_IMPL="+impls[i], "BITNET_GEMM_RACE_WHAT="+what)
			out, _ := cmd.CombinedOutput()
			if !strings.Contains(string(out), "WARNING: DATA RACE") {
				t.Errorf("kernel %s: a write to %s racing with the product was not reported:\n%s", k.name, strings.ToUpper(what), out)
			}
		}
	}
}
