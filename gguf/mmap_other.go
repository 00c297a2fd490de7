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
