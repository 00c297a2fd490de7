package asm

// MemSum returns the wrapping sum of the uint64 words of b (len(b) a
// multiple of 8) with the best vector loop this build has: the streaming
// read baseline of BenchmarkMemRead.
func MemSum(b []byte) uint64 { return memSum(b) }
