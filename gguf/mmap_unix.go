//go:build unix

package gguf

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// mmapFile maps the whole file read-only.
func mmapFile(fh *os.File, size int64) ([]byte, func() error, error) {
	if size <= 0 || int64(int(size)) != size {
		return nil, nil, errors.New("gguf: cannot map a file of this size")
	}
	b, err := unix.Mmap(int(fh.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return b, func() error { return unix.Munmap(b) }, nil
}

// readFile reads the whole file into anonymous memory (huge pages where the
// system gives them) and makes it read-only.
func readFile(fh *os.File, size int64) ([]byte, func() error, error) {
	if size <= 0 || int64(int(size)) != size {
		return nil, nil, errors.New("gguf: cannot read a file of this size into memory")
	}
	b, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return nil, nil, fmt.Errorf("gguf: cannot allocate %d bytes: %w", size, err)
	}
	hugePages(b)
	if _, err := fh.ReadAt(b, 0); err != nil {
		unix.Munmap(b)
		return nil, nil, err
	}
	if err := unix.Mprotect(b, unix.PROT_READ); err != nil {
		unix.Munmap(b)
		return nil, nil, err
	}
	return b, func() error { return unix.Munmap(b) }, nil
}
