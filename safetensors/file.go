package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// File is an open safetensors file. Its data is read on demand.
type File struct {
	Path string
	Header
	f         *os.File
	dataStart int64
	index     map[string]int
}

// Open reads and validates the header of a safetensors file.
func Open(path string) (*File, error) {
	// Refuse FIFOs and devices before opening (opening a FIFO blocks).
	if st, err := os.Stat(path); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	f, err := newFile(path, fh)
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

func newFile(path string, fh *os.File) (*File, error) {
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	size := st.Size()
	var lb [8]byte
	if _, err := io.ReadFull(io.NewSectionReader(fh, 0, 8), lb[:]); err != nil {
		return nil, formatErr("file too short for a header length (%d bytes)", size)
	}
	n := binary.LittleEndian.Uint64(lb[:])
	if n > MaxHeaderSize {
		return nil, formatErr("header length %d exceeds the limit of %d bytes", n, MaxHeaderSize)
	}
	if int64(n) > size-8 {
		return nil, formatErr("header length %d runs past the end of the file (%d bytes)", n, size)
	}
	hb := make([]byte, n)
	if _, err := fh.ReadAt(hb, 8); err != nil {
		return nil, err
	}
	h, err := ParseHeader(hb, size-8-int64(n))
	if err != nil {
		return nil, err
	}
	f := &File{Path: path, Header: *h, f: fh, dataStart: 8 + int64(n), index: make(map[string]int, len(h.Tensors))}
	for i, t := range f.Tensors {
		f.index[t.Name] = i
	}
	return f, nil
}

// Close closes the file.
func (f *File) Close() error { return f.f.Close() }

// Tensor looks a tensor up by name.
func (f *File) Tensor(name string) (*Tensor, bool) {
	i, ok := f.index[name]
	if !ok {
		return nil, false
	}
	return &Tensor{TensorInfo: f.Tensors[i], file: f}, true
}

// Tensor is a tensor of an open file.
type Tensor struct {
	TensorInfo
	file *File
}

// File is the file holding the tensor.
func (t *Tensor) File() *File { return t.file }

// ReadAt reads tensor bytes starting at byte off of the tensor's data.
func (t *Tensor) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > t.Size() {
		return 0, fmt.Errorf("safetensors: tensor %q: read at %d outside its %d bytes", t.Name, off, t.Size())
	}
	if int64(len(p)) > t.Size()-off {
		p = p[:t.Size()-off]
	}
	n, err := t.file.f.ReadAt(p, t.file.dataStart+t.Begin+off)
	if err == io.EOF && n == len(p) {
		err = nil
	}
	if err == nil && n < len(p) {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// Reader returns a reader of the tensor's bytes.
func (t *Tensor) Reader() *io.SectionReader {
	return io.NewSectionReader(t.file.f, t.file.dataStart+t.Begin, t.Size())
}

// ReadFloat32 fills dst with elements [elem, elem+len(dst)) of a floating
// point tensor (F32, F16, BF16 or F64) converted to float32; buf is scratch
// space reused across calls (it may be nil).
func (t *Tensor) ReadFloat32(dst []float32, elem int64, buf []byte) ([]byte, error) {
	es := t.DType.Size()
	switch t.DType {
	case F32, F16, BF16, F64:
	default:
		return buf, fmt.Errorf("safetensors: tensor %q has dtype %s, not a floating point type", t.Name, t.DType)
	}
	if elem < 0 || elem+int64(len(dst)) > t.Elements() {
		return buf, fmt.Errorf("safetensors: tensor %q: elements [%d, +%d) outside its %d", t.Name, elem, len(dst), t.Elements())
	}
	need := len(dst) * es
	if cap(buf) < need {
		buf = make([]byte, need)
	}
	b := buf[:need]
	if _, err := t.ReadAt(b, elem*int64(es)); err != nil {
		return buf, fmt.Errorf("safetensors: tensor %q: %w", t.Name, err)
	}
	switch t.DType {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = HalfToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case BF16:
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
		}
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
	}
	return buf, nil
}

// HalfToFloat32 converts an IEEE half-precision value exactly.
func HalfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
	case man == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal: normalize.
	e := uint32(113)
	for man&0x400 == 0 {
		man <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (man&0x3ff)<<13)
}

// IndexFile is the name of a sharded checkpoint's index.
const IndexFile = "model.safetensors.index.json"

// Checkpoint is the set of safetensors files of one model directory.
type Checkpoint struct {
	Dir   string
	Files []*File // shard order
	// Tensors in the order the reference converters see them: file by
	// file (shard order), names sorted within each file.
	Tensors []*Tensor
	byName  map[string]*Tensor
}

// Tensor looks a tensor up by name.
func (c *Checkpoint) Tensor(name string) (*Tensor, bool) {
	t, ok := c.byName[name]
	return t, ok
}

// Size is the total number of tensor data bytes.
func (c *Checkpoint) Size() int64 {
	var n int64
	for _, t := range c.Tensors {
		n += t.Size()
	}
	return n
}

// Close closes every file.
func (c *Checkpoint) Close() error {
	var err error
	for _, f := range c.Files {
		if e := f.Close(); err == nil {
			err = e
		}
	}
	return err
}

// OpenDir opens the checkpoint of a model directory: the shards listed by
// model.safetensors.index.json if there is one, else model.safetensors,
// else the directory's only *.safetensors file.
func OpenDir(dir string) (*Checkpoint, error) {
	idx := filepath.Join(dir, IndexFile)
	if _, err := os.Stat(idx); err == nil {
		return OpenIndex(idx)
	}
	single := filepath.Join(dir, "model.safetensors")
	if _, err := os.Stat(single); err != nil {
		matches, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
		switch len(matches) {
		case 0:
			return nil, fmt.Errorf("%s: no model.safetensors, no %s and no other *.safetensors file", dir, IndexFile)
		case 1:
			single = matches[0]
		default:
			return nil, fmt.Errorf("%s: %d *.safetensors files but no %s saying how they belong together", dir, len(matches), IndexFile)
		}
	}
	return openFiles(dir, []string{filepath.Base(single)}, nil)
}

// maxIndexSize bounds the index JSON (real ones are a few hundred KB).
const maxIndexSize = 64 << 20

// OpenIndex opens a sharded checkpoint from its index file. Every tensor of
// the weight map must be in the shard the map names, and no shard may hold
// a tensor the map does not list or lists for another shard.
func OpenIndex(path string) (*Checkpoint, error) {
	if st, err := os.Stat(path); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxIndexSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxIndexSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxIndexSize)
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("%s: empty or missing weight_map", path)
	}
	var shards []string
	seen := map[string]bool{}
	for name, shard := range idx.WeightMap {
		if shard == "" || shard != filepath.Base(shard) || strings.ContainsAny(shard, `/\`) || shard == "." || shard == ".." {
			return nil, fmt.Errorf("%s: tensor %q is mapped to %q, not a file name in the same directory", path, name, shard)
		}
		if !seen[shard] {
			seen[shard] = true
			shards = append(shards, shard)
		}
	}
	sort.Strings(shards) // model-00001-of-0000N, … sort in shard order
	return openFiles(filepath.Dir(path), shards, idx.WeightMap)
}

func openFiles(dir string, names []string, weightMap map[string]string) (*Checkpoint, error) {
	c := &Checkpoint{Dir: dir, byName: map[string]*Tensor{}}
	for _, n := range names {
		f, err := Open(filepath.Join(dir, n))
		if err != nil {
			c.Close()
			if errors.Is(err, fs.ErrNotExist) && weightMap != nil {
				return nil, fmt.Errorf("shard listed in %s is missing: %w", IndexFile, err)
			}
			return nil, err
		}
		c.Files = append(c.Files, f)
		for i := range f.Tensors {
			t := &Tensor{TensorInfo: f.Tensors[i], file: f}
			if prev, dup := c.byName[t.Name]; dup {
				c.Close()
				return nil, fmt.Errorf("tensor %q is in both %s and %s", t.Name, prev.file.Path, f.Path)
			}
			if weightMap != nil && weightMap[t.Name] != n {
				c.Close()
				if weightMap[t.Name] == "" {
					return nil, fmt.Errorf("%s holds tensor %q, which %s does not list", f.Path, t.Name, IndexFile)
				}
				return nil, fmt.Errorf("%s holds tensor %q, which %s puts in %s", f.Path, t.Name, IndexFile, weightMap[t.Name])
			}
			c.byName[t.Name] = t
			c.Tensors = append(c.Tensors, t)
		}
	}
	for name, shard := range weightMap {
		if _, ok := c.byName[name]; !ok {
			c.Close()
			return nil, fmt.Errorf("%s lists tensor %q in %s, which does not hold it", IndexFile, name, shard)
		}
	}
	return c, nil
}
