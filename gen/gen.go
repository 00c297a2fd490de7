// Package gen holds the generators of the SIMD kernels in package asm. It
// is never imported; `go generate ./gen` rewrites every generated file:
//
//   - ./amd64 is an avo program that writes asm/kernels_amd64.s and its Go
//     stubs asm/kernels_amd64.go (AVX2, AVX-512BW and AVX-512 VNNI kernels);
//   - ./arm64 is a small text emitter of our own (avo is amd64-only) that
//     writes asm/kernels_arm64.s and asm/kernels_arm64.go (NEON kernels with
//     and without the dot-product extension; instructions the Go arm64
//     assembler has no mnemonic for, such as SDOT, are emitted as WORD
//     directives with the instruction in a comment).
//
// The output is deterministic: regenerating must reproduce the committed
// files byte for byte (CI checks this with git diff --exit-code).
package gen

//go:generate go run ./amd64 -out ../asm/kernels_amd64.s -stubs ../asm/kernels_amd64.go -pkg asm
//go:generate go run ./arm64 -out ../asm/kernels_arm64.s -stubs ../asm/kernels_arm64.go
