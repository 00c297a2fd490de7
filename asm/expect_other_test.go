//go:build (!amd64 && !arm64) || !gc || purego

package asm_test

// expectedImpl: no assembly in this build configuration.
func expectedImpl() string { return "ref" }
