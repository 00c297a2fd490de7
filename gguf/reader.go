package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"

	"github.com/bitnet-go/bitnet/internal/sysmem"
)

// Magic is the first four bytes of every GGUF file.
const Magic = "GGUF"

// DefaultAlignment is the data alignment when general.alignment is absent.
const DefaultAlignment = 32

// Limits that upstream enforces too.
const (
	maxNameLen = 64 // GGML_MAX_NAME, including the NUL of the C string
	maxDims    = 4
	maxKeyLen  = 65535
)

// ErrFormat is wrapped by every error about malformed file contents.
var ErrFormat = errors.New("gguf: malformed file")

// TensorInfo describes one tensor of a file.
type TensorInfo struct {
	Name    string
	Dims    []uint64 // Dims[0] is the row length (ne0)
	RawType uint32   // the id stored in the file
	Type    Type     // RawType resolved under the file's dialect
	Offset  uint64   // relative to the start of the data section
	Size    uint64   // bytes of data
}

// Elements is the number of elements of the tensor.
func (t *TensorInfo) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// KV is one metadata key/value pair.
type KV struct {
	Key   string
	Value Value
}

// File is a parsed GGUF file. Metadata and tensor infos are read eagerly;
// tensor data is mapped (or read) and sliced on demand.
type File struct {
	Version    uint32
	KVs        []KV
	Tensors    []TensorInfo
	Alignment  uint64
	DataOffset uint64 // absolute file offset of the data section
	Dialect    Dialect
	Mapped     bool // tensor data is an mmap of the file

	kvIndex     map[string]int
	tensorIndex map[string]int
	data        []byte // the whole file (mapped or read) or nil before attach
	unmap       func() error
}

// Get returns the value of a metadata key.
func (f *File) Get(key string) (Value, bool) {
	i, ok := f.kvIndex[key]
	if !ok {
		return Value{}, false
	}
	return f.KVs[i].Value, true
}

// Tensor returns the info of a named tensor.
func (f *File) Tensor(name string) (*TensorInfo, bool) {
	i, ok := f.tensorIndex[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

// TensorData returns the bytes of a tensor. The slice aliases the mapping:
// it is valid until Close and must not be written.
func (f *File) TensorData(t *TensorInfo) ([]byte, error) {
	if f.data == nil {
		return nil, fmt.Errorf("gguf: tensor %q: file has no data attached", t.Name)
	}
	start := f.DataOffset + t.Offset
	end := start + t.Size
	if end > uint64(len(f.data)) || start > end {
		return nil, fmt.Errorf("%w: tensor %q data [%d,%d) is outside the file (%d bytes)", ErrFormat, t.Name, start, end, len(f.data))
	}
	return f.data[start:end:end], nil
}

// Close releases the mapping. Slices returned by TensorData become invalid.
func (f *File) Close() error {
	var err error
	if f.unmap != nil {
		err = f.unmap()
		f.unmap = nil
	}
	f.data = nil
	return err
}

// Open parses a GGUF file and maps its data read-only (reading it into
// memory where mmap is not available).
func Open(path string) (*File, error) { return OpenWith(path, OpenOptions{}) }

// OpenOptions choose how Open makes the tensor data available.
type OpenOptions struct {
	// NoMmap reads the whole file into anonymous memory instead of mapping
	// it (llama.cpp's --no-mmap): loading takes the time to read the file
	// and the memory stays resident, but on Linux the copy is backed by
	// transparent huge pages, which can stream several times faster than a
	// mapping of the page cache on virtual machines (see docs/BENCHMARKS.md).
	// A file larger than the machine's memory is refused.
	NoMmap bool
}

// OpenWith is Open with options.
func OpenWith(path string, o OpenOptions) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("gguf: %s is not a regular file", path)
	}
	size := st.Size()
	f, err := Decode(bufio.NewReaderSize(fh, 1<<16), size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if !o.NoMmap {
		if data, unmap, err := mmapFile(fh, size); err == nil {
			f.data, f.unmap, f.Mapped = data, unmap, true
			return f, nil
		}
	}
	if mem, ok := sysmem.Total(); ok && uint64(size) > mem {
		return nil, fmt.Errorf("%s: the file is %d bytes, more than this machine's memory (%d bytes): it cannot be read into memory", path, size, mem)
	}
	data, free, err := readFile(fh, size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.data, f.unmap = data, free
	return f, nil
}

// Parse parses a whole GGUF file held in memory; TensorData slices b.
func Parse(b []byte) (*File, error) {
	f, err := Decode(bytesReader(b), int64(len(b)))
	if err != nil {
		return nil, err
	}
	f.data = b
	return f, nil
}

type byteSliceReader struct{ b []byte }

func (r *byteSliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func bytesReader(b []byte) io.Reader { return &byteSliceReader{b} }

// decoder reads little-endian values and tracks how many bytes of the file
// remain, so that no count can ask for more than the file holds.
type decoder struct {
	r    io.Reader
	left int64 // bytes of the file not yet consumed
	off  int64
	buf  [8]byte
	err  error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: at byte %d: %s", ErrFormat, d.off, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) read(p []byte) bool {
	if d.err != nil {
		return false
	}
	if int64(len(p)) > d.left {
		d.fail("truncated file: need %d bytes, %d left", len(p), d.left)
		return false
	}
	if _, err := io.ReadFull(d.r, p); err != nil {
		d.fail("truncated file: %v", err)
		return false
	}
	d.left -= int64(len(p))
	d.off += int64(len(p))
	return true
}

func (d *decoder) u8() uint8 {
	if !d.read(d.buf[:1]) {
		return 0
	}
	return d.buf[0]
}
func (d *decoder) u16() uint16 {
	if !d.read(d.buf[:2]) {
		return 0
	}
	return binary.LittleEndian.Uint16(d.buf[:])
}
func (d *decoder) u32() uint32 {
	if !d.read(d.buf[:4]) {
		return 0
	}
	return binary.LittleEndian.Uint32(d.buf[:])
}
func (d *decoder) u64() uint64 {
	if !d.read(d.buf[:8]) {
		return 0
	}
	return binary.LittleEndian.Uint64(d.buf[:])
}

// count reads a u64 element count and checks that count elements of at
// least minSize bytes each fit in what is left of the file.
func (d *decoder) count(what string, minSize int64) int {
	n := d.u64()
	if d.err != nil {
		return 0
	}
	if minSize < 1 {
		minSize = 1
	}
	if n > uint64(d.left/minSize) {
		d.fail("%s count %d cannot fit in the %d bytes left", what, n, d.left)
		return 0
	}
	return int(n)
}

func (d *decoder) str(what string) string {
	n := d.u64()
	if d.err != nil {
		return ""
	}
	if n > uint64(d.left) {
		d.fail("%s of %d bytes is longer than the %d bytes left", what, n, d.left)
		return ""
	}
	b := make([]byte, n)
	if !d.read(b) {
		return ""
	}
	return string(b)
}

const maxArrayDepth = 8

func (d *decoder) value(t ValueType, depth int) any {
	switch t {
	case TypeUint8:
		return d.u8()
	case TypeInt8:
		return int8(d.u8())
	case TypeUint16:
		return d.u16()
	case TypeInt16:
		return int16(d.u16())
	case TypeUint32:
		return d.u32()
	case TypeInt32:
		return int32(d.u32())
	case TypeFloat32:
		return math.Float32frombits(d.u32())
	case TypeBool:
		b := d.u8()
		if b > 1 {
			d.fail("bool value %d is neither 0 nor 1", b)
		}
		return b == 1
	case TypeString:
		return d.str("string")
	case TypeUint64:
		return d.u64()
	case TypeInt64:
		return int64(d.u64())
	case TypeFloat64:
		return math.Float64frombits(d.u64())
	case TypeArray:
		return d.array(depth + 1)
	}
	d.fail("unknown metadata value type %d", uint32(t))
	return nil
}

func (d *decoder) array(depth int) Array {
	if depth > maxArrayDepth {
		d.fail("arrays nested deeper than %d", maxArrayDepth)
		return Array{}
	}
	et := ValueType(d.u32())
	if d.err != nil {
		return Array{}
	}
	minSize := int64(et.size())
	switch et {
	case TypeString:
		minSize = 8
	case TypeArray:
		minSize = 12
	}
	if minSize == 0 {
		d.fail("unknown array element type %d", uint32(et))
		return Array{}
	}
	n := d.count("array element", minSize)
	a := Array{Elem: et}
	switch et {
	case TypeUint8:
		v := make([]uint8, n)
		d.read(v)
		a.Values = v
	case TypeInt8:
		v := make([]int8, n)
		for i := range v {
			v[i] = int8(d.u8())
		}
		a.Values = v
	case TypeUint16:
		v := make([]uint16, n)
		for i := range v {
			v[i] = d.u16()
		}
		a.Values = v
	case TypeInt16:
		v := make([]int16, n)
		for i := range v {
			v[i] = int16(d.u16())
		}
		a.Values = v
	case TypeUint32:
		v := make([]uint32, n)
		for i := range v {
			v[i] = d.u32()
		}
		a.Values = v
	case TypeInt32:
		v := make([]int32, n)
		for i := range v {
			v[i] = int32(d.u32())
		}
		a.Values = v
	case TypeFloat32:
		v := make([]float32, n)
		for i := range v {
			v[i] = math.Float32frombits(d.u32())
		}
		a.Values = v
	case TypeBool:
		v := make([]bool, n)
		for i := range v {
			b := d.u8()
			if b > 1 {
				d.fail("bool value %d is neither 0 nor 1", b)
			}
			v[i] = b == 1
		}
		a.Values = v
	case TypeString:
		v := make([]string, n)
		for i := range v {
			v[i] = d.str("string")
			if d.err != nil {
				break
			}
		}
		a.Values = v
	case TypeUint64:
		v := make([]uint64, n)
		for i := range v {
			v[i] = d.u64()
		}
		a.Values = v
	case TypeInt64:
		v := make([]int64, n)
		for i := range v {
			v[i] = int64(d.u64())
		}
		a.Values = v
	case TypeFloat64:
		v := make([]float64, n)
		for i := range v {
			v[i] = math.Float64frombits(d.u64())
		}
		a.Values = v
	case TypeArray:
		v := make([]Array, n)
		for i := range v {
			v[i] = d.array(depth + 1)
			if d.err != nil {
				break
			}
		}
		a.Values = v
	}
	return a
}

// Decode parses the header, metadata and tensor infos of a GGUF file of the
// given total size from r (positioned at the start of the file). The result
// has no tensor data attached; Open and Parse attach it.
func Decode(r io.Reader, size int64) (*File, error) {
	d := &decoder{r: r, left: size}
	var magic [4]byte
	if !d.read(magic[:]) {
		return nil, fmt.Errorf("%w: file too short for a GGUF header (%d bytes)", ErrFormat, size)
	}
	if string(magic[:]) != Magic {
		return nil, fmt.Errorf("%w: bad magic %q, want %q", ErrFormat, magic[:], Magic)
	}
	f := &File{Version: d.u32()}
	if d.err != nil {
		return nil, d.err
	}
	switch {
	case f.Version == 2 || f.Version == 3:
	case f.Version&0xFFFF == 0 && f.Version != 0:
		return nil, fmt.Errorf("%w: version %#x looks byte-swapped: big-endian files are not supported", ErrFormat, f.Version)
	default:
		return nil, fmt.Errorf("%w: unsupported GGUF version %d (want 2 or 3)", ErrFormat, f.Version)
	}
	// A tensor info is at least 8 (name) + 4 + 8 (one dim) + 4 + 8 bytes;
	// a KV at least 8 (key) + 4 + 1.
	nTensors := d.count("tensor", 32)
	nKV := d.count("metadata", 13)
	if d.err != nil {
		return nil, d.err
	}
	f.KVs = make([]KV, 0, nKV)
	f.kvIndex = make(map[string]int, nKV)
	for i := 0; i < nKV; i++ {
		key := d.str("key")
		if d.err != nil {
			return nil, d.err
		}
		if len(key) > maxKeyLen {
			return nil, fmt.Errorf("%w: metadata key %.40q... of %d bytes (max %d)", ErrFormat, key, len(key), maxKeyLen)
		}
		vt := ValueType(d.u32())
		v := d.value(vt, 0)
		if d.err != nil {
			return nil, fmt.Errorf("metadata key %q: %w", key, d.err)
		}
		if _, dup := f.kvIndex[key]; dup {
			return nil, fmt.Errorf("%w: duplicate metadata key %q", ErrFormat, key)
		}
		f.kvIndex[key] = len(f.KVs)
		f.KVs = append(f.KVs, KV{key, Value{vt, v}})
	}

	f.Alignment = DefaultAlignment
	if v, ok := f.Get("general.alignment"); ok {
		a, err := alignmentOf(v)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrFormat, err)
		}
		f.Alignment = a
	}
	f.Tensors = make([]TensorInfo, nTensors)
	f.tensorIndex = make(map[string]int, nTensors)
	for i := range f.Tensors {
		t := &f.Tensors[i]
		t.Name = d.str("tensor name")
		nd := d.u32()
		if d.err != nil {
			return nil, fmt.Errorf("tensor %d: %w", i, d.err)
		}
		if len(t.Name) >= maxNameLen {
			return nil, fmt.Errorf("%w: tensor %d: name %.70q is %d bytes (max %d)", ErrFormat, i, t.Name, len(t.Name), maxNameLen-1)
		}
		if nd == 0 || nd > maxDims {
			return nil, fmt.Errorf("%w: tensor %q has %d dimensions (want 1..%d)", ErrFormat, t.Name, nd, maxDims)
		}
		t.Dims = make([]uint64, nd)
		for j := range t.Dims {
			t.Dims[j] = d.u64()
		}
		t.RawType = d.u32()
		t.Offset = d.u64()
		if d.err != nil {
			return nil, fmt.Errorf("tensor %q: %w", t.Name, d.err)
		}
		if _, dup := f.tensorIndex[t.Name]; dup {
			return nil, fmt.Errorf("%w: duplicate tensor name %q", ErrFormat, t.Name)
		}
		f.tensorIndex[t.Name] = i
	}
	pos := uint64(d.off)
	f.DataOffset = pos + (f.Alignment-pos%f.Alignment)%f.Alignment
	arch := ""
	if v, ok := f.Get("general.architecture"); ok {
		arch, _ = v.String()
	}
	dts := make([]dialectTensor, len(f.Tensors))
	for i := range f.Tensors {
		t := &f.Tensors[i]
		dts[i] = dialectTensor{t.Name, t.RawType, t.Dims, t.Offset}
	}
	var dataBytes uint64
	if uint64(size) > f.DataOffset {
		dataBytes = uint64(size) - f.DataOffset
	}
	dialect, err := decideDialect(dts, dataBytes, f.Alignment, arch)
	if err != nil {
		return nil, err
	}
	f.Dialect = dialect
	for i := range f.Tensors {
		t := &f.Tensors[i]
		typ, ok := ResolveType(t.RawType, f.Dialect)
		if !ok {
			return nil, fmt.Errorf("%w: tensor %q has unknown type id %d (%s dialect)", ErrFormat, t.Name, t.RawType, f.Dialect)
		}
		t.Type = typ
		sz, err := TensorSize(typ, t.Dims)
		if err != nil {
			return nil, fmt.Errorf("%w: tensor %q: %v", ErrFormat, t.Name, err)
		}
		t.Size = sz
		if t.Offset%f.Alignment != 0 {
			return nil, fmt.Errorf("%w: tensor %q offset %d is not a multiple of the alignment %d", ErrFormat, t.Name, t.Offset, f.Alignment)
		}
	}
	if err := f.checkExtents(uint64(size)); err != nil {
		return nil, err
	}
	return f, nil
}

// alignmentOf validates a general.alignment value: a uint32 power of two
// that is a multiple of 8.
func alignmentOf(v Value) (uint64, error) {
	a, ok := v.V.(uint32)
	if !ok || a == 0 || a&(a-1) != 0 || a%8 != 0 {
		return 0, fmt.Errorf("general.alignment %v (%s) is not a power of two multiple of 8 of type uint32", v.V, v.Type)
	}
	return uint64(a), nil
}

// checkExtents verifies that every tensor lies inside the file and that no
// two tensors overlap.
func (f *File) checkExtents(size uint64) error {
	if len(f.Tensors) > 0 && f.DataOffset > size {
		return fmt.Errorf("%w: data section starts at %d, past the end of the file (%d bytes)", ErrFormat, f.DataOffset, size)
	}
	// Empty tensors occupy no bytes and cannot overlap anything; leaving
	// them out also keeps the result independent of how equal offsets sort.
	order := make([]int, 0, len(f.Tensors))
	for i := range f.Tensors {
		t := &f.Tensors[i]
		avail := size - f.DataOffset
		if t.Offset > avail || t.Size > avail-t.Offset {
			return fmt.Errorf("%w: tensor %q data [%d, +%d) runs past the end of the file (%d data bytes)", ErrFormat, t.Name, t.Offset, t.Size, avail)
		}
		if t.Size > 0 {
			order = append(order, i)
		}
	}
	sort.Slice(order, func(a, b int) bool {
		p, q := &f.Tensors[order[a]], &f.Tensors[order[b]]
		if p.Offset != q.Offset {
			return p.Offset < q.Offset
		}
		return order[a] < order[b]
	})
	for k := 1; k < len(order); k++ {
		p, q := &f.Tensors[order[k-1]], &f.Tensors[order[k]]
		if q.Offset < p.Offset+p.Size {
			return fmt.Errorf("%w: tensors %q [%d, +%d) and %q [%d, +%d) overlap", ErrFormat, p.Name, p.Offset, p.Size, q.Name, q.Offset, q.Size)
		}
	}
	return nil
}
