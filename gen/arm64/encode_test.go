package main

import "testing"

// The expected words come from GNU as (aarch64-linux-gnu-as
// -march=armv8.2-a+dotprod) and objdump, or llvm-mc where noted.
func TestEncodings(t *testing.T) {
	for _, c := range []struct {
		in   inst
		want uint32
	}{
		{sdotEnc(16, 20, 2), 0x4e829690},
		{smullEnc(28, 20, 2, false), 0x0e22c29c},
		{smlalEnc(28, 21, 3, false), 0x0e2382bc},
		{smlalEnc(28, 20, 2, true), 0x4e22829c},
		{sadalpEnc(16, 28), 0x4e606b90},
		{saddlpEnc(7, 6), 0x4e2028c7},
		{fmulEnc(0, 0, 30), 0x6e3edc00},
		{fcvtnsEnc(0, 0), 0x4e21a800},
		{sqxtnEnc(4, 0, false, false), 0x0e614804},
		{sqxtnEnc(4, 1, false, true), 0x4e614824},
		{sqxtnEnc(6, 4, true, false), 0x0e214886},
		{sqxtnEnc(6, 5, true, true), 0x4e2148a6},
		{fabsEnc(0, 1), 0x4ea0f820},
		{fmaxnmEnc(4, 4, 0), 0x4e20c484},
		{fmaxnmvEnc(0, 4), 0x6e30c880},
		// The block kernels' encoders, from llvm-mc -triple=aarch64
		// -mattr=+dotprod -show-encoding.
		{scvtfEnc(24, 24), 0x4e21db18},
		{faddEnc(26, 26, 24), 0x4e38d75a},
		{fmlaEnc(26, 24, 20), 0x4e34cf1a},
		{faddpScalarEnc(26, 26), 0x7e30db5a},
		{sshllEnc(21, 20, false, false), 0x0f08a695},
		{sshllEnc(22, 20, false, true), 0x4f08a696},
		{sshllEnc(16, 21, true, false), 0x0f10a6b0},
		{sshllEnc(17, 21, true, true), 0x4f10a6b1},
		{mlaElemEnc(24, 15, 17, 3), 0x6fb109f8},
		{mlaElemEnc(25, 15, 19, 1), 0x6fb301f9},
		{cmhiEnc(30, 20, 28), 0x6e3c369e},
		{negEnc(30, 30), 0x6e20bbde},
		{saddlp4sEnc(20, 20), 0x4e602a94},
		{ushllEnc(21, 20, false, false), 0x2f08a695},
		{ushllEnc(22, 20, false, true), 0x6f08a696},
		{ushllEnc(16, 21, true, false), 0x2f10a6b0},
		{ushllEnc(17, 21, true, true), 0x6f10a6b1},
		{smull16Enc(23, 22, 18, false), 0x0e72c2d7},
		{smull16Enc(21, 22, 18, true), 0x4e72c2d5},
		// The F16 head's, from llvm-mc -triple=aarch64 -show-encoding.
		{fcvtlEnc(1, 2, false), 0x0e217841},
		{fcvtlEnc(1, 2, true), 0x4e217841},
		{faddpEnc(16, 16, 16), 0x6e30d610},
		// The attention kernels' (kv.go), from GNU as.
		{fcvtnEnc(4, 0, false), 0x0e216804},
		{fcvtnEnc(4, 1, true), 0x4e216824},
		{fcvtnEnc(5, 2, false), 0x0e216845},
		{fcvtnEnc(5, 3, true), 0x4e216865},
		{fmulElemEnc(0, 0, 8, 0), 0x4f889000},
		{fmulElemEnc(7, 3, 8, 0), 0x4f889067},
		{fmulElemEnc(1, 2, 31, 3), 0x4fbf9841},
		{fmulElemEnc(1, 2, 17, 2), 0x4f919841},
		{fmulElemEnc(1, 2, 9, 1), 0x4fa99041},
		// The I2_S output scaling's (i2sout.go), from llvm-mc -triple=aarch64
		// -show-encoding.
		{fsubEnc(0, 0, 28), 0x4ebcd400},
		{fsubEnc(3, 17, 28), 0x4ebcd623},
		{fdivEnc(0, 0, 29), 0x6e3dfc00},
		{fdivEnc(2, 5, 29), 0x6e3dfca2},
	} {
		if c.in.enc != c.want {
			t.Errorf("%s: got %#08x, want %#08x", c.in.text, c.in.enc, c.want)
		}
	}
}
