//go:build !unix

package gguf

import (
	"errors"
	"os"
)

// mmapFile is not available here; Open falls back to reading the file.
func mmapFile(fh *os.File, size int64) ([]byte, func() error, error) {
	return nil, nil, errors.New("gguf: mmap not supported on this platform")
}

// readFile reads the whole file into the Go heap.
func readFile(fh *os.File, size int64) ([]byte, func() error, error) {
	if size <= 0 || int64(int(size)) != size {
		return nil, nil, errors.New("gguf: cannot read a file of this size into memory")
	}
	b := make([]byte, size)
	if _, err := fh.ReadAt(b, 0); err != nil {
		return nil, nil, err
	}
	return b, nil, nil
}
