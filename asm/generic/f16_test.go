package generic

import (
	"math"
	"testing"
)

// TestF16ToF32 checks every binary16 value: numbers survive the round trip
// through F32ToF16 and keep their value class; NaNs keep sign and payload
// and come back quiet.
func TestF16ToF32(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := F16ToF32(h)
		if h&0x7c00 == 0x7c00 && h&0x3ff != 0 {
			b := math.Float32bits(f)
			if f == f || b&0x400000 == 0 || b>>31 != uint32(h>>15) || b>>13&0x3ff != uint32(h&0x3ff)|0x200 {
				t.Fatalf("F16ToF32(%#04x) = %#08x: want a quiet NaN with the same sign and payload", h, b)
			}
			continue
		}
		if back := F32ToF16(f); back != h {
			t.Fatalf("F32ToF16(F16ToF32(%#04x) = %v) = %#04x", h, f, back)
		}
	}
}
