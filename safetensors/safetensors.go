// Package safetensors reads and writes the safetensors format of Hugging
// Face checkpoints: an 8-byte little-endian header length, a JSON header
// mapping tensor names to {dtype, shape, data_offsets} (plus an optional
// "__metadata__" object of strings), then the raw little-endian tensor data.
//
// The reader is built for hostile input. The header is limited in size
// (MaxHeaderSize) and read in full before anything else; every tensor's
// dtype must be known, its shape non-negative with an element count that
// does not overflow, its byte range [begin, end) consistent with dtype and
// shape, inside the data section, and disjoint from every other tensor.
// Duplicate names are refused (Go's JSON maps would silently keep the last).
// Tensor data is never loaded by Open: it is read on demand, so a
// multi-gigabyte checkpoint is converted tensor by tensor (or row by row).
//
// Sharded checkpoints (model-00001-of-0000N.safetensors with a
// model.safetensors.index.json) open as one Checkpoint with OpenDir.
package safetensors

import (
	"fmt"
	"math"
)

// MaxHeaderSize bounds the JSON header (the reference implementation's
// limit is 100 MB; real headers are well under 1 MB per shard).
const MaxHeaderSize = 100 << 20

// DType is a safetensors element type as written in the header.
type DType string

// The element types of the format.
const (
	BOOL    DType = "BOOL"
	U8      DType = "U8"
	I8      DType = "I8"
	F8_E5M2 DType = "F8_E5M2"
	F8_E4M3 DType = "F8_E4M3"
	I16     DType = "I16"
	U16     DType = "U16"
	F16     DType = "F16"
	BF16    DType = "BF16"
	I32     DType = "I32"
	U32     DType = "U32"
	F32     DType = "F32"
	F64     DType = "F64"
	I64     DType = "I64"
	U64     DType = "U64"
)

var dtypeSizes = map[DType]int{
	BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1,
	I16: 2, U16: 2, F16: 2, BF16: 2,
	I32: 4, U32: 4, F32: 4,
	F64: 8, I64: 8, U64: 8,
}

// dtypeRank orders dtypes the way the reference serializer sorts tensors
// (descending by this rank, then by name): the order of its Dtype enum.
var dtypeRank = map[DType]int{
	BOOL: 0, U8: 1, I8: 2, F8_E5M2: 3, F8_E4M3: 4, I16: 5, U16: 6, F16: 7,
	BF16: 8, I32: 9, U32: 10, F32: 11, F64: 12, I64: 13, U64: 14,
}

// Size is the number of bytes of one element (0 for an unknown dtype).
func (d DType) Size() int { return dtypeSizes[d] }

// Known reports whether d is a dtype of the format.
func (d DType) Known() bool { _, ok := dtypeSizes[d]; return ok }

// Rank orders dtypes as the reference serializer does (see Writer).
func (d DType) Rank() int { return dtypeRank[d] }

// TensorInfo describes one tensor of a file.
type TensorInfo struct {
	Name  string
	DType DType
	Shape []int64
	// Begin and End delimit the tensor's bytes relative to the start of the
	// data section (the header's data_offsets).
	Begin, End int64
}

// Elements is the number of elements (1 for a scalar of shape []).
func (t *TensorInfo) Elements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Size is the number of data bytes.
func (t *TensorInfo) Size() int64 { return t.End - t.Begin }

// elements multiplies a shape, failing on negative dimensions or overflow
// of the byte count.
func elements(shape []int64, elemSize int) (int64, error) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension %d", d)
		}
		if d != 0 && n > math.MaxInt64/int64(elemSize)/d {
			return 0, fmt.Errorf("shape %v is too large", shape)
		}
		n *= d
	}
	return n, nil
}
