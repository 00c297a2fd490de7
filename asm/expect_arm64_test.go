//go:build gc && !purego

package asm_test

import "golang.org/x/sys/cpu"

// expectedImpl is the implementation this CPU must select by default.
func expectedImpl() string {
	if cpu.ARM64.HasASIMDDP {
		return "neondot"
	}
	return "neon"
}
