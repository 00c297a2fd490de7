//go:build gc && !purego

package asm_test

import "golang.org/x/sys/cpu"

// expectedImpl is the implementation this CPU must select by default.
func expectedImpl() string {
	x := cpu.X86
	avx2 := x.HasAVX2 && x.HasFMA && x.HasF16C
	avx512 := avx2 && x.HasAVX512F && x.HasAVX512BW && x.HasAVX512VL
	switch {
	case avx512 && x.HasAVX512VNNI:
		return "avx512vnni"
	case avx512:
		return "avx512bw"
	case avx2:
		return "avx2"
	}
	return "ref"
}
