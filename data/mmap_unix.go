//go:build unix

package data

import (
	"errors"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmapFile maps the whole file read-only.
func mmapFile(fh *os.File, size int64) ([]byte, func() error, error) {
	if size <= 0 || int64(int(size)) != size {
		return nil, nil, errors.New("cannot map a file of this size")
	}
	b, err := unix.Mmap(int(fh.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return b, func() error { return unix.Munmap(b) }, nil
}

// allocRecs allocates n records outside the Go heap (anonymous memory, so
// the collector neither scans them nor lets its headroom double them).
func allocRecs(n int) ([]rec, func()) {
	b, err := unix.Mmap(-1, 0, n*recBytes, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		r := make([]rec, n)
		return r, func() {}
	}
	return unsafe.Slice((*rec)(unsafe.Pointer(&b[0])), n), func() { unix.Munmap(b) }
}
