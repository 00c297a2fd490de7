//go:build !linux && !darwin

package train

// systemMemory is the machine's physical memory in bytes (0: unknown).
func systemMemory() uint64 { return 0 }
