package layout

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/bitnet-go/bitnet/gguf"
)

// I2_S (the fork's 2-bit format, x86 layout; formats.md §2.3). A tensor of
// n elements is stored as n/4 bytes of codes followed by a 32-byte tail
// whose first 4 bytes are the float32 per-tensor scale. The flat row-major
// tensor is cut into blocks of 128 elements; in block b, byte b·32+p holds
// elements b·128+p+32g for g = 0..3, group g at bit shift 6−2g (MSB
// first). Codes are value+1: −1 → 0, 0 → 1, +1 → 2.
const (
	I2SBlock      = 128 // elements per block
	I2SBlockBytes = 32  // bytes per block
	I2STailBytes  = 32  // scale (4 bytes) and padding after the codes
)

// I2SType is the gguf type of I2_S tensors.
const I2SType = gguf.I2_S

// I2SSize is the byte size of an I2_S tensor of n elements.
func I2SSize(n int) int { return n/4 + I2STailBytes }

// I2STernary is the fork's quantizer rule for one value (quantize_i2_s):
// 0 when |v| < 1e-6 compared in double precision (so float32(1e-6), which
// is just below 1e-6, is 0), else its sign. The per-tensor scale is max|v|.
func I2STernary(v float32) int8 {
	switch {
	case math.Abs(float64(v)) < 1e-6:
		return 0
	case v > 0:
		return 1
	}
	return -1
}

// PackI2S packs ternary values (−1, 0, +1) into I2_S code bytes: len(t)
// must be a multiple of I2SBlock and dst len(t)/4 bytes. A tensor can be
// packed in pieces that each start at a block boundary.
func PackI2S(dst []byte, t []int8) error {
	if len(t)%I2SBlock != 0 || len(dst) != len(t)/4 {
		return fmt.Errorf("layout: I2_S packing needs whole %d-element blocks (%d values into %d bytes)", I2SBlock, len(t), len(dst))
	}
	clear(dst)
	for k, v := range t {
		if v < -1 || v > 1 {
			return fmt.Errorf("layout: I2_S value %d at %d is not ternary", v, k)
		}
		dst[k/I2SBlock*I2SBlockBytes+k%32] |= byte(v+1) << (6 - 2*uint(k%I2SBlock/32))
	}
	return nil
}

// I2STail is the 32-byte tail that follows the codes: the float32 scale,
// then zeros (the fork's Python writer zero-fills; llama-quantize leaves
// those 28 bytes as whatever its buffer held, and no reader uses them).
func I2STail(scale float32) [I2STailBytes]byte {
	var b [I2STailBytes]byte
	binary.LittleEndian.PutUint32(b[:], math.Float32bits(scale))
	return b
}

// UnpackI2S decodes the first len(dst) values of I2_S code bytes.
func UnpackI2S(dst []int8, data []byte) {
	for k := range dst {
		dst[k] = int8(data[k/I2SBlock*I2SBlockBytes+k%32]>>(6-2*uint(k%I2SBlock/32))&3) - 1
	}
}

// I2SScale reads the per-tensor scale of an I2_S tensor of n elements.
func I2SScale(data []byte, n int) (float32, error) {
	if n%I2SBlock != 0 || len(data) < I2SSize(n) {
		return 0, fmt.Errorf("layout: I2_S tensor of %d elements needs %d bytes, has %d", n, I2SSize(n), len(data))
	}
	return math.Float32frombits(binary.LittleEndian.Uint32(data[n/4:])), nil
}
