//go:build unix

package atomicfile

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestRefusesDevicesAndFIFOs(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal("mkfifo:", err)
	}
	if err := CheckDestination(fifo); err == nil {
		t.Error("a FIFO was accepted as destination")
	}
	if _, err := Create(os.DevNull, Mode); err == nil {
		t.Error("/dev/null was accepted as destination")
	}
	if l := leftovers(t, dir); len(l) != 0 {
		t.Errorf("temporaries left: %v", l)
	}
}
