package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".*.tmp*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestWriteFileReplacesAndKeepsOldOnError(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.bin")
	if err := WriteFile(p, Mode, func(w io.Writer) error { _, err := w.Write([]byte("old")); return err }); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	boom := errors.New("boom")
	err = WriteFile(p, Mode, func(w io.Writer) error { w.Write([]byte("partial")); return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Errorf("destination = %q after a failed write, want the old content", b)
	}
	if l := leftovers(t, dir); len(l) != 0 {
		t.Errorf("temporaries left: %v", l)
	}
}

func TestRefusesDirectory(t *testing.T) {
	dir := t.TempDir()
	if _, err := Create(dir, Mode); err == nil {
		t.Error("Create over a directory succeeded")
	}
	if l := leftovers(t, dir); len(l) != 0 {
		t.Errorf("temporaries left: %v", l)
	}
}

func TestSymlinkTargetReplaced(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symlinks need privileges on windows")
	}
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	link := filepath.Join(dir, "link")
	os.WriteFile(target, []byte("a"), 0o644)
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(link, Mode, func(w io.Writer) error { _, err := w.Write([]byte("b")); return err }); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the link was replaced by a file")
	}
	if b, _ := os.ReadFile(target); string(b) != "b" {
		t.Errorf("target = %q, want b", b)
	}
}

func TestCleanupRemovesLiveTemporaries(t *testing.T) {
	dir := t.TempDir()
	a, err := Create(filepath.Join(dir, "x"), Mode)
	if err != nil {
		t.Fatal(err)
	}
	a.Write([]byte("data"))
	if len(leftovers(t, dir)) != 1 {
		t.Fatal("no temporary while writing")
	}
	Cleanup()
	if l := leftovers(t, dir); len(l) != 0 {
		t.Errorf("temporaries left after Cleanup: %v", l)
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); !os.IsNotExist(err) {
		t.Error("destination created by Cleanup")
	}
	a.Abort() // must not panic after Cleanup
	if _, err := Create(filepath.Join(dir, "y"), Mode); err == nil {
		t.Error("Create after Cleanup succeeded: a temporary could outlive the exiting process")
	}
	live.Lock()
	live.closed = false // for the other tests of this binary
	live.Unlock()
}
