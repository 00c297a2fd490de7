package sysmem

import (
	"runtime"
	"testing"
)

// TestTotal checks that the platforms the project supports report a
// plausible amount of memory: at least 64 MiB, at most 1 PiB.
func TestTotal(t *testing.T) {
	n, ok := Total()
	switch runtime.GOOS {
	case "linux", "darwin", "windows":
		if !ok {
			t.Fatalf("Total() is unknown on %s", runtime.GOOS)
		}
	}
	if ok && (n < 64<<20 || n > 1<<50) {
		t.Fatalf("Total() = %d bytes: implausible", n)
	}
	t.Logf("%d MiB", n>>20)
}
