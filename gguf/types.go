// Package gguf reads and writes GGUF files (versions 2 and 3), the container
// format of llama.cpp and of its BitNet fork (bitnet.cpp).
//
// The package knows the container and the ggml tensor types, nothing about
// models. Tensor data is exposed zero-copy through mmap where the platform
// allows it, with a plain-read fallback.
//
// Hostile input is expected: every count and length read from a file is
// checked against the bytes that remain before anything is allocated, so a
// forged header cannot make the reader allocate far beyond the file's size.
package gguf

import "fmt"

// Type is a ggml tensor type as this package understands it. For ids where
// the BitNet fork and upstream ggml disagree (36–39), Type holds the resolved
// meaning: I2_S and TL2 are given ids outside the on-disk range so that a
// Type never depends on the file it came from. See RawType.
type Type uint32

// ggml tensor types. The values of the upstream types are their on-disk ids.
const (
	F32     Type = 0
	F16     Type = 1
	Q4_0    Type = 2
	Q4_1    Type = 3
	Q5_0    Type = 6
	Q5_1    Type = 7
	Q8_0    Type = 8
	Q8_1    Type = 9
	Q2_K    Type = 10
	Q3_K    Type = 11
	Q4_K    Type = 12
	Q5_K    Type = 13
	Q6_K    Type = 14
	Q8_K    Type = 15
	IQ2_XXS Type = 16
	IQ2_XS  Type = 17
	IQ3_XXS Type = 18
	IQ1_S   Type = 19
	IQ4_NL  Type = 20
	IQ3_S   Type = 21
	IQ2_S   Type = 22
	IQ4_XS  Type = 23
	I8      Type = 24
	I16     Type = 25
	I32     Type = 26
	I64     Type = 27
	F64     Type = 28
	IQ1_M   Type = 29
	BF16    Type = 30
	TQ1_0   Type = 34
	TQ2_0   Type = 35
	MXFP4   Type = 39 // upstream meaning of id 39

	// BitNet fork types. On disk I2_S is 36, I8_S 37, TL1 38 and TL2 39.
	I2_S Type = 1036
	I8_S Type = 1037
	TL1  Type = 1038
	TL2  Type = 1039
)

// Dialect says how the clashing tensor type ids 36–39 are read.
type Dialect int

const (
	// DialectUpstream is ggml-org/ggml: 36–38 are removed types, 39 is MXFP4.
	DialectUpstream Dialect = iota
	// DialectFork is the llama.cpp fork bitnet.cpp ships: 36 I2_S, 37 I8_S,
	// 38 TL1, 39 TL2.
	DialectFork
)

func (d Dialect) String() string {
	if d == DialectFork {
		return "bitnet-fork"
	}
	return "upstream"
}

// ResolveType maps an on-disk type id to a Type under a dialect.
// ok is false for ids this package does not know.
func ResolveType(raw uint32, d Dialect) (Type, bool) {
	if d == DialectFork && raw >= 36 && raw <= 39 {
		return Type(raw + 1000), true
	}
	t := Type(raw)
	if t >= I2_S && t <= TL2 {
		// 1036–1039 are this package's names for the fork types, not
		// on-disk ids: a file holding id 1036 must not read as I2_S.
		return t, false
	}
	_, ok := typeTraits[t]
	return t, ok
}

// RawType is the on-disk id of t (the inverse of ResolveType).
func (t Type) RawType() uint32 {
	if t >= I2_S && t <= TL2 {
		return uint32(t - 1000)
	}
	return uint32(t)
}

type traits struct {
	name      string
	blockSize int // elements per block
	typeSize  int // bytes per block
}

var typeTraits = map[Type]traits{
	F32:     {"f32", 1, 4},
	F16:     {"f16", 1, 2},
	Q4_0:    {"q4_0", 32, 18},
	Q4_1:    {"q4_1", 32, 20},
	Q5_0:    {"q5_0", 32, 22},
	Q5_1:    {"q5_1", 32, 24},
	Q8_0:    {"q8_0", 32, 34},
	Q8_1:    {"q8_1", 32, 36},
	Q2_K:    {"q2_K", 256, 84},
	Q3_K:    {"q3_K", 256, 110},
	Q4_K:    {"q4_K", 256, 144},
	Q5_K:    {"q5_K", 256, 176},
	Q6_K:    {"q6_K", 256, 210},
	Q8_K:    {"q8_K", 256, 292},
	IQ2_XXS: {"iq2_xxs", 256, 66},
	IQ2_XS:  {"iq2_xs", 256, 74},
	IQ3_XXS: {"iq3_xxs", 256, 98},
	IQ1_S:   {"iq1_s", 256, 50},
	IQ4_NL:  {"iq4_nl", 32, 18},
	IQ3_S:   {"iq3_s", 256, 110},
	IQ2_S:   {"iq2_s", 256, 82},
	IQ4_XS:  {"iq4_xs", 256, 136},
	I8:      {"i8", 1, 1},
	I16:     {"i16", 1, 2},
	I32:     {"i32", 1, 4},
	I64:     {"i64", 1, 8},
	F64:     {"f64", 1, 8},
	IQ1_M:   {"iq1_m", 256, 56},
	BF16:    {"bf16", 1, 2},
	TQ1_0:   {"tq1_0", 256, 54},
	TQ2_0:   {"tq2_0", 256, 66},
	MXFP4:   {"mxfp4", 32, 17},
	// The fork declares these with block 1 / size 1 and special-cases the
	// byte size of a tensor; see TensorSize.
	I2_S: {"i2_s", 1, 1},
	I8_S: {"i8_s", 1, 1},
	TL1:  {"tl1", 1, 1},
	TL2:  {"tl2", 1, 1},
}

func (t Type) String() string {
	if tr, ok := typeTraits[t]; ok {
		return tr.name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// BlockSize is the number of elements in one block of t (1 for plain types).
func (t Type) BlockSize() int { return typeTraits[t].blockSize }

// TypeSize is the number of bytes in one block of t.
func (t Type) TypeSize() int { return typeTraits[t].typeSize }

// Known reports whether t is a type this package can size.
func (t Type) Known() bool { _, ok := typeTraits[t]; return ok }

// maxTensorBytes bounds both the element count and the byte size of a
// tensor, so that neither can overflow a uint64 (or an int64 file offset).
const maxTensorBytes = 1 << 62

// TensorSize returns the number of data bytes of a tensor of type t and the
// given dims (dims[0] is the row length). It fails when the row length is not
// a whole number of blocks, when the type is unknown, or on overflow.
func TensorSize(t Type, dims []uint64) (uint64, error) {
	tr, ok := typeTraits[t]
	if !ok {
		return 0, fmt.Errorf("unknown tensor type %d", uint32(t))
	}
	n := uint64(1)
	for _, d := range dims {
		if d == 0 {
			// An empty tensor, whatever the other dims (checked so that
			// the result does not depend on the order of the dims).
			n = 0
			break
		}
		if n > maxTensorBytes/d {
			return 0, fmt.Errorf("tensor of %v elements is too large", dims)
		}
		n *= d
	}
	switch t {
	case I2_S, TL1:
		// 2 bits per element plus a 32-byte tail holding the f32 scale.
		if n%4 != 0 {
			return 0, fmt.Errorf("%s tensor of %d elements: not a multiple of 4", t, n)
		}
		return n/4 + 32, nil
	case I8_S:
		return n + 32, nil
	case TL2:
		if len(dims) < 2 || dims[0] < 256 {
			return 0, fmt.Errorf("tl2 tensor with dims %v: row shorter than 256", dims)
		}
		rows := n / dims[0]
		s := (dims[0]-256)*rows/3*5/8 + 256*rows/2*4/8
		s = (s + 31) / 32 * 32
		return s + 32, nil
	}
	if len(dims) > 0 && dims[0]%uint64(tr.blockSize) != 0 {
		return 0, fmt.Errorf("%s tensor with row length %d: not a multiple of the block size %d", t, dims[0], tr.blockSize)
	}
	blocks := n / uint64(tr.blockSize)
	if blocks > maxTensorBytes/uint64(tr.typeSize) {
		// Without this check 2^62 f32 elements wrap around to 0 bytes.
		return 0, fmt.Errorf("%s tensor of %v elements is too large", t, dims)
	}
	return blocks * uint64(tr.typeSize), nil
}
