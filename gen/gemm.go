package gen

// The float32 GEMM micro-kernels and packing routines of the trainer
// (asm.GemmF32, asm.GemmF32Packed).
//go:generate go run ./gemm -out ../asm/gemm_amd64.s -stubs ../asm/gemm_stub_amd64.go -pkg asm
