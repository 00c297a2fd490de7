//go:build !unix

package data

import (
	"errors"
	"os"
)

// mmapFile is not available here; OpenShard falls back to reading the file.
func mmapFile(fh *os.File, size int64) ([]byte, func() error, error) {
	return nil, nil, errors.New("mmap not supported on this platform")
}

// allocRecs allocates n records on the heap.
func allocRecs(n int) ([]rec, func()) { return make([]rec, n), func() {} }
