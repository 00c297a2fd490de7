// Package atomicfile writes output files so that a reader never sees a
// half-written one and nothing already on disk is lost by a failed write.
//
// A File is written under a temporary name in the destination's directory
// and renamed over the destination by Commit, after the data is flushed and
// synced. The destination may only be a regular file (or not exist yet):
// devices, FIFOs, sockets and directories are refused up front, so
// `--out /dev/null` is never replaced by a regular file. A symbolic link is
// followed and its target replaced. Every live temporary is registered, so
// a signal handler can remove them all with Cleanup before exiting.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// Mode is the permission of files other users may read (the default of
// most tools); use 0o600 for secrets.
const Mode fs.FileMode = 0o644

// live holds the temporaries not yet committed or aborted.
var live = struct {
	sync.Mutex
	m      map[*File]struct{}
	closed bool // Cleanup was called: no new temporaries
}{m: map[*File]struct{}{}}

// File is an output file being written atomically.
type File struct {
	f    *os.File
	bw   *bufio.Writer
	path string // the resolved destination
	mode fs.FileMode
	done bool
}

// CheckDestination returns an error if path exists and is not a regular file
// (after following symbolic links). It lets a tool refuse a bad output path
// before doing any work.
func CheckDestination(path string) error {
	_, err := resolve(path)
	return err
}

func resolve(path string) (string, error) {
	if path == "" {
		return "", errors.New("empty output path")
	}
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return path, nil
	}
	if err != nil {
		return "", err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		target, err := filepath.EvalSymlinks(path)
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%s: a symbolic link to a missing file", path)
		}
		if err != nil {
			return "", err
		}
		if fi, err = os.Stat(target); err != nil {
			return "", err
		}
		path = target
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s exists and is not a regular file (%s): refusing to replace it", path, fi.Mode().Type())
	}
	return path, nil
}

// Create starts writing path with the given permission bits.
func Create(path string, mode fs.FileMode) (*File, error) {
	dst, err := resolve(path)
	if err != nil {
		return nil, err
	}
	// The temporary is created and registered under the lock, so a
	// concurrent Cleanup (a signal handler) either sees it or runs first and
	// makes Create fail: no temporary escapes it.
	live.Lock()
	defer live.Unlock()
	if live.closed {
		return nil, errors.New("atomicfile: the process is exiting (Cleanup was called)")
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp*")
	if err != nil {
		return nil, err
	}
	a := &File{f: tmp, bw: bufio.NewWriterSize(tmp, 1<<20), path: dst, mode: mode}
	live.m[a] = struct{}{}
	return a, nil
}

// Write writes to the temporary file.
func (a *File) Write(p []byte) (int, error) {
	if a.done {
		return 0, errors.New("atomicfile: write after Commit or Abort")
	}
	return a.bw.Write(p)
}

// Name is the destination path.
func (a *File) Name() string { return a.path }

func (a *File) forget() {
	live.Lock()
	delete(live.m, a)
	live.Unlock()
}

// Commit flushes, syncs and renames the temporary over the destination.
// On error the temporary is removed and the destination is untouched.
func (a *File) Commit() error {
	if a.done {
		return errors.New("atomicfile: Commit after Commit or Abort")
	}
	err := a.bw.Flush()
	if err == nil {
		err = a.f.Sync()
	}
	if err == nil {
		err = a.f.Chmod(a.mode)
	}
	if cerr := a.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(a.f.Name(), a.path)
	}
	a.done = true
	a.forget()
	if err != nil {
		os.Remove(a.f.Name())
		return fmt.Errorf("writing %s: %w", a.path, err)
	}
	if d, derr := os.Open(filepath.Dir(a.path)); derr == nil {
		d.Sync() // best effort: not every platform syncs directories
		d.Close()
	}
	return nil
}

// Abort removes the temporary; it is a no-op after Commit, so it can be
// deferred.
func (a *File) Abort() {
	if a.done {
		return
	}
	a.done = true
	a.f.Close()
	os.Remove(a.f.Name())
	a.forget()
}

// WriteFile writes path atomically with the content that write produces.
func WriteFile(path string, mode fs.FileMode, write func(w io.Writer) error) error {
	a, err := Create(path, mode)
	if err != nil {
		return err
	}
	defer a.Abort()
	if err := write(a); err != nil {
		return fmt.Errorf("writing %s: %w", a.path, err)
	}
	return a.Commit()
}

// Cleanup removes every temporary not yet committed or aborted, and makes
// every later Create fail. Signal handlers call it just before exiting; it
// is safe to call from any goroutine.
func Cleanup() {
	live.Lock()
	defer live.Unlock()
	live.closed = true
	for a := range live.m {
		a.f.Close()
		os.Remove(a.f.Name())
	}
	live.m = map[*File]struct{}{}
}
