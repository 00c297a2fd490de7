package gguf

import (
	"fmt"
	"sort"
)

// The dialect rule (docs/FORMATS.md §1 states it for users).
//
// Only the tensor type ids 36–39 mean different things in the BitNet fork
// (I2_S, I8_S, TL1, TL2) and in upstream ggml (36–38 removed, 39 MXFP4); every
// other id means the same in both, and ids ≥ 40 exist only upstream (the
// fork's GGML_TYPE_COUNT is 40). The architecture name cannot decide: the fork
// writes `llama` files with I2_S tensors (HF1BitLLM, Falcon3-1.58bit,
// Falcon-E), and upstream writes `bitnet` files. Nor can general.file_type:
// 38, 39 and 40 are TL1, TL2 and I2_S in the fork but MXFP4_MOE, NVFP4 and
// Q1_0 upstream. The fork writes no key of its own. So the tensors decide:
//
//  1. an id 36, 37 or 38 is fork evidence: upstream's gguf reader refuses those
//     ids (their traits were removed), so no file upstream loads holds them;
//  2. an id ≥ 40 is upstream evidence;
//  3. an id 39 is decided by its data slot (the bytes from its offset to the
//     next tensor's, or to the end of the file, rounded up to the alignment):
//     the slot fits TL2's size (the fork's packed layout plus its 32-byte
//     tail) or MXFP4's (17 bytes per 32 values), where "fits" means
//     size ≤ slot < size + alignment, as every writer packs tensors. For real
//     tensors the two sizes differ by far more than the alignment; a slot
//     that fits both or neither is no evidence;
//  4. fork and upstream evidence in one file is an error naming a tensor of
//     each;
//  5. with no evidence (no clashing id, or only undecided 39s), the
//     architecture names the dialect: the fork-only names bitnet-b1.58,
//     bitnet-25 and bitnet-1.58 read as the fork, everything else as
//     upstream. Without clashing ids this is only a label: all ids read the
//     same.
//
// A file whose ids 36–38 are read as fork types still has its sizes checked
// like any other: the I2_S layout (n/4 bytes of codes plus a 32-byte tail)
// must lie inside the file without overlapping another tensor.

// forkOnlyArchs are the general.architecture values only the BitNet fork
// writes (see docs/FORMATS.md §2).
var forkOnlyArchs = map[string]bool{
	"bitnet-b1.58": true,
	"bitnet-25":    true,
	"bitnet-1.58":  true,
}

// dialectTensor is what the dialect rule reads of a tensor.
type dialectTensor struct {
	name   string
	raw    uint32
	dims   []uint64
	offset uint64
}

// decideDialect applies the rule above. dataBytes is the size of the data
// section (file size minus data offset); align the data alignment.
func decideDialect(ts []dialectTensor, dataBytes, align uint64, arch string) (Dialect, error) {
	var forkWhy, upWhy string // the first evidence of each, for messages
	clash := false
	for _, t := range ts {
		switch {
		case t.raw >= 36 && t.raw <= 38:
			clash = true
			if forkWhy == "" {
				forkWhy = fmt.Sprintf("tensor %q has type id %d, which only the BitNet fork defines (%s)", t.name, t.raw, Type(t.raw+1000))
			}
		case t.raw == 39:
			clash = true
		case t.raw >= 40:
			if upWhy == "" {
				upWhy = fmt.Sprintf("tensor %q has type id %d, which only upstream ggml defines", t.name, t.raw)
			}
		}
	}
	if !clash && upWhy == "" {
		return archDialect(arch), nil
	}
	// Slots of the id-39 tensors, from the offsets in file order.
	var order []int
	for i, t := range ts {
		if t.raw == 39 {
			order = append(order, i)
		}
	}
	if len(order) > 0 {
		offs := make([]uint64, len(ts))
		for i, t := range ts {
			offs[i] = t.offset
		}
		sort.Slice(offs, func(a, b int) bool { return offs[a] < offs[b] })
		for _, i := range order {
			t := ts[i]
			k := sort.Search(len(offs), func(j int) bool { return offs[j] > t.offset })
			end := dataBytes
			if k < len(offs) {
				end = offs[k]
			}
			if t.offset > end {
				continue // outside the file: checkExtents reports it
			}
			// Offsets are multiples of the alignment; rounding the distance
			// to the end of the file up to one too makes the slot the same
			// whether or not a writer pads after the last tensor, so a
			// rewritten file reads back with the same types.
			slot := end - t.offset
			if r := slot % align; r != 0 {
				slot += align - r
			}
			fits := func(typ Type) bool {
				sz, err := TensorSize(typ, t.dims)
				return err == nil && sz <= slot && slot-sz < align
			}
			fork, up := fits(TL2), fits(MXFP4)
			switch {
			case fork && !up && forkWhy == "":
				forkWhy = fmt.Sprintf("tensor %q (type id 39) has a %d-byte slot that fits the fork's TL2 layout, not MXFP4", t.name, slot)
			case up && !fork && upWhy == "":
				upWhy = fmt.Sprintf("tensor %q (type id 39) has a %d-byte slot that fits MXFP4, not the fork's TL2 layout", t.name, slot)
			}
		}
	}
	switch {
	case forkWhy != "" && upWhy != "":
		return 0, fmt.Errorf("%w: the file mixes the BitNet fork's and upstream's tensor types: %s, but %s", ErrFormat, forkWhy, upWhy)
	case forkWhy != "":
		return DialectFork, nil
	case upWhy != "":
		return DialectUpstream, nil
	}
	return archDialect(arch), nil
}

// archDialect is the fallback of the rule: the fork-only architecture names
// read as the fork.
func archDialect(arch string) Dialect {
	if forkOnlyArchs[arch] {
		return DialectFork
	}
	return DialectUpstream
}
