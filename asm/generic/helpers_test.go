package generic

import (
	"encoding/binary"
	"math/rand/v2"
)

// randBlocks returns n random blocks of blockBytes bytes each, with a sane
// f16 scale (0.01 to 0.11) written at each offset in f16at of every block.
func randBlocks(rng *rand.Rand, n, blockBytes int, f16at ...int) []byte {
	row := make([]byte, n*blockBytes)
	for i := range row {
		row[i] = byte(rng.IntN(256))
	}
	for b := 0; b < n; b++ {
		for _, off := range f16at {
			binary.LittleEndian.PutUint16(row[b*blockBytes+off:], F32ToF16(float32(0.01+rng.Float64()*0.1)))
		}
	}
	return row
}
