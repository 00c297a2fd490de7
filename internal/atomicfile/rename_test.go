package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

// TestFailedRenameLeavesNoTemporary: when the final rename fails (here the
// destination became a non-empty directory while the file was written),
// Commit reports it and removes the temporary.
func TestFailedRenameLeavesNoTemporary(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out")
	a, err := Create(p, Mode)
	if err != nil {
		t.Fatal(err)
	}
	a.Write([]byte("data"))
	if err := os.MkdirAll(filepath.Join(p, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := a.Commit(); err == nil {
		t.Fatal("Commit over a non-empty directory succeeded")
	}
	if l := leftovers(t, dir); len(l) != 0 {
		t.Errorf("temporaries left: %v", l)
	}
	if fi, err := os.Stat(filepath.Join(p, "sub")); err != nil || !fi.IsDir() {
		t.Errorf("the directory was changed: %v", err)
	}
}
