package convert

import (
	"math"
	"math/bits"
)

// The reference ternarizers (utils/preprocess-huggingface-bitnet.py for the
// 2B4T BF16 checkpoint, BitnetModel.weight_quant in
// convert-hf-to-gguf-bitnet.py for 1bitLLM) compute γ = W.abs().mean() in
// PyTorch float32. Torch sums float32 in float32, in a fixed order (a
// cascade of partial sums, ATen/native/cpu/SumKernel.cpp), and γ's last bit
// depends on that order: a float64 sum rounded once agrees on 19 of the 28
// 2B4T fixture tensors, this emulation on all 28 and on the 14 1bitLLM
// ones, so every ternary value and every I2_S scale comes out bit-identical.
//
// torchMean emulates a single-threaded run of torch's vectorized kernel with
// 8-lane float vectors (the AVX2 build the fixtures were made with; an
// AVX-512 build uses 16 lanes, and a multi-threaded reduction of a tensor of
// 32768 or more elements splits it into per-thread chunks, which can move
// γ by an ulp — the reference is not itself bit-reproducible across
// machines). mean = sum / n, both float32.
func torchMean(x []float32) float32 {
	return torchInnerSum(x, 8, false) / float32(len(x))
}

// torchMeanAbs is torchMean of |x| (W.abs().mean()) without a copy: the
// absolute value is exact, so taking it while summing changes nothing.
func torchMeanAbs(x []float32) float32 {
	return torchInnerSum(x, 8, true) / float32(len(x))
}

func load(x float32, abs bool) float32 {
	if abs {
		return math.Float32frombits(math.Float32bits(x) &^ (1 << 31))
	}
	return x
}

func ceilLog2(x int) int {
	if x <= 1 {
		return 0
	}
	return 64 - bits.LeadingZeros64(uint64(x-1))
}

// torchInnerSum is vectorized_inner_sum: lanes-wide vectors summed by
// torchRowSum, the n%lanes tail summed in scalar order, then the lanes
// added to it.
func torchInnerSum(x []float32, lanes int, abs bool) float32 {
	n := len(x)
	if n < lanes {
		return torchRowSum(x, 1, n, abs)[0]
	}
	nv := n / lanes
	acc := torchRowSum(x, lanes, nv, abs)
	var final float32
	for k := nv * lanes; k < n; k++ {
		final += load(x[k], abs)
	}
	for _, v := range acc {
		final += v
	}
	return final
}

// torchRowSum is row_sum with an ILP factor of 4: size vectors seen as rows
// of 4, summed by torchMultiRowSum, leftovers into the first partial, then
// the partials folded left.
func torchRowSum(x []float32, lanes, size int, abs bool) []float32 {
	const ilp = 4
	p := torchMultiRowSum(x, lanes, ilp, size/ilp, abs)
	for i := size / ilp * ilp; i < size; i++ {
		for l := 0; l < lanes; l++ {
			p[0][l] += load(x[i*lanes+l], abs)
		}
	}
	for k := 1; k < ilp; k++ {
		for l := 0; l < lanes; l++ {
			p[0][l] += p[k][l]
		}
	}
	return p[0]
}

// torchMultiRowSum is multi_row_sum: four levels of accumulators; level 0
// takes 2^levelPower rows at a time and is pushed up the levels, each
// level carrying into the next when its count wraps.
func torchMultiRowSum(x []float32, lanes, nrows, size int, abs bool) [][]float32 {
	const numLevels = 4
	levelPower := max(4, ceilLog2(size)/numLevels)
	levelStep := 1 << levelPower
	levelMask := levelStep - 1
	var acc [numLevels][][]float32
	for l := range acc {
		acc[l] = make([][]float32, nrows)
		for k := range acc[l] {
			acc[l][k] = make([]float32, lanes)
		}
	}
	addRow := func(i int) {
		base := i * nrows * lanes
		for k := 0; k < nrows; k++ {
			a := acc[0][k]
			v := x[base+k*lanes : base+(k+1)*lanes]
			for l := range a {
				a[l] += load(v[l], abs)
			}
		}
	}
	i := 0
	for i+levelStep <= size {
		for j := 0; j < levelStep; j++ {
			addRow(i)
			i++
		}
		for j := 1; j < numLevels; j++ {
			for k := 0; k < nrows; k++ {
				for l := 0; l < lanes; l++ {
					acc[j][k][l] += acc[j-1][k][l]
					acc[j-1][k][l] = 0
				}
			}
			if i&(levelMask<<(j*levelPower)) != 0 {
				break
			}
		}
	}
	for ; i < size; i++ {
		addRow(i)
	}
	for j := 1; j < numLevels; j++ {
		for k := 0; k < nrows; k++ {
			for l := 0; l < lanes; l++ {
				acc[0][k][l] += acc[j][k][l]
			}
		}
	}
	return acc[0]
}
