package gguf

import "golang.org/x/sys/unix"

// hugePages asks for transparent huge pages behind b (a hint: the system
// may say no, and that only costs speed).
func hugePages(b []byte) { _ = unix.Madvise(b, unix.MADV_HUGEPAGE) }
