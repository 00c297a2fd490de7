// Package sysmem reports the machine's physical memory, so tools can refuse
// a size that the machine cannot back before they allocate it (the Go
// runtime ends the process on a failed allocation; it cannot be recovered).
package sysmem

// Total returns the physical memory of the machine in bytes, and false where
// the platform does not say (then callers fall back to fixed limits).
func Total() (uint64, bool) {
	n, err := total()
	if err != nil || n == 0 {
		return 0, false
	}
	return n, true
}
