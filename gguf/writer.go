package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/bitnet-go/bitnet/internal/atomicfile"
)

// WriterTensor is one tensor to write. Either Data holds its bytes, or
// WriteData streams exactly the tensor's size in bytes (for tensors too large
// to hold in memory twice).
type WriterTensor struct {
	Name      string
	Type      Type
	Dims      []uint64
	Data      []byte
	WriteData func(w io.Writer) error
}

// Writer assembles a GGUF v3 file.
type Writer struct {
	KVs     []KV
	Tensors []WriterTensor
}

// Set adds or replaces a metadata key.
func (w *Writer) Set(key string, v Value) {
	for i := range w.KVs {
		if w.KVs[i].Key == key {
			w.KVs[i].Value = v
			return
		}
	}
	w.KVs = append(w.KVs, KV{key, v})
}

// AddTensor adds a tensor whose bytes are in data.
func (w *Writer) AddTensor(name string, t Type, dims []uint64, data []byte) {
	w.Tensors = append(w.Tensors, WriterTensor{Name: name, Type: t, Dims: dims, Data: data})
}

// check validates the metadata the way the reader will, so that WriteTo
// never produces a file that Decode rejects or reads back differently. It
// returns the data alignment and the architecture name.
func (w *Writer) check() (uint64, string, error) {
	align := uint64(DefaultAlignment)
	arch := ""
	seen := make(map[string]bool, len(w.KVs))
	for _, kv := range w.KVs {
		if len(kv.Key) > maxKeyLen {
			return 0, "", fmt.Errorf("gguf: metadata key of %d bytes (max %d)", len(kv.Key), maxKeyLen)
		}
		if seen[kv.Key] {
			return 0, "", fmt.Errorf("gguf: duplicate metadata key %q", kv.Key)
		}
		seen[kv.Key] = true
		if err := checkValue(kv.Value, 0); err != nil {
			return 0, "", fmt.Errorf("gguf: metadata key %q: %w", kv.Key, err)
		}
		switch kv.Key {
		case "general.alignment":
			a, err := alignmentOf(kv.Value)
			if err != nil {
				return 0, "", fmt.Errorf("gguf: %w", err)
			}
			align = a
		case "general.architecture":
			arch, _ = kv.Value.String()
		}
	}
	return align, arch, nil
}

type encoder struct {
	w   *bufio.Writer
	n   uint64
	err error
	buf [8]byte
}

func (e *encoder) write(p []byte) {
	if e.err != nil {
		return
	}
	k, err := e.w.Write(p)
	e.n += uint64(k)
	e.err = err
}

func (e *encoder) u8(v uint8)   { e.buf[0] = v; e.write(e.buf[:1]) }
func (e *encoder) u16(v uint16) { binary.LittleEndian.PutUint16(e.buf[:], v); e.write(e.buf[:2]) }
func (e *encoder) u32(v uint32) { binary.LittleEndian.PutUint32(e.buf[:], v); e.write(e.buf[:4]) }
func (e *encoder) u64(v uint64) { binary.LittleEndian.PutUint64(e.buf[:], v); e.write(e.buf[:8]) }

func (e *encoder) str(s string) {
	e.u64(uint64(len(s)))
	if e.err != nil {
		return
	}
	k, err := e.w.WriteString(s)
	e.n += uint64(k)
	e.err = err
}

func (e *encoder) value(v Value) {
	switch x := v.V.(type) {
	case uint8:
		e.u8(x)
	case int8:
		e.u8(uint8(x))
	case uint16:
		e.u16(x)
	case int16:
		e.u16(uint16(x))
	case uint32:
		e.u32(x)
	case int32:
		e.u32(uint32(x))
	case float32:
		e.u32(math.Float32bits(x))
	case bool:
		if x {
			e.u8(1)
		} else {
			e.u8(0)
		}
	case string:
		e.str(x)
	case uint64:
		e.u64(x)
	case int64:
		e.u64(uint64(x))
	case float64:
		e.u64(math.Float64bits(x))
	case Array:
		e.array(x)
	default:
		if e.err == nil {
			e.err = fmt.Errorf("gguf: cannot encode metadata value of Go type %T", v.V)
		}
	}
}

func (e *encoder) array(a Array) {
	e.u32(uint32(a.Elem))
	e.u64(uint64(a.Len()))
	switch v := a.Values.(type) {
	case []uint8:
		e.write(v)
	case []string:
		for _, s := range v {
			e.str(s)
		}
	case []Array:
		for _, s := range v {
			e.array(s)
		}
	default:
		// Scalar slices: encode element by element through value.
		forEach(a.Values, func(x any) { e.value(Value{a.Elem, x}) })
	}
}

func forEach(values any, fn func(any)) {
	switch v := values.(type) {
	case []int8:
		for _, x := range v {
			fn(x)
		}
	case []uint16:
		for _, x := range v {
			fn(x)
		}
	case []int16:
		for _, x := range v {
			fn(x)
		}
	case []uint32:
		for _, x := range v {
			fn(x)
		}
	case []int32:
		for _, x := range v {
			fn(x)
		}
	case []float32:
		for _, x := range v {
			fn(x)
		}
	case []bool:
		for _, x := range v {
			fn(x)
		}
	case []uint64:
		for _, x := range v {
			fn(x)
		}
	case []int64:
		for _, x := range v {
			fn(x)
		}
	case []float64:
		for _, x := range v {
			fn(x)
		}
	}
}

// WriteTo writes the file. Tensor offsets are assigned in order, each
// aligned to the file's alignment.
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	align, arch, err := w.check()
	if err != nil {
		return 0, err
	}
	sizes := make([]uint64, len(w.Tensors))
	offsets := make([]uint64, len(w.Tensors))
	names := make(map[string]bool, len(w.Tensors))
	var off uint64
	for i, t := range w.Tensors {
		if len(t.Name) >= maxNameLen {
			return 0, fmt.Errorf("gguf: tensor name %q is too long (%d bytes, max %d)", t.Name, len(t.Name), maxNameLen-1)
		}
		if names[t.Name] {
			return 0, fmt.Errorf("gguf: duplicate tensor name %q", t.Name)
		}
		names[t.Name] = true
		if len(t.Dims) == 0 || len(t.Dims) > maxDims {
			return 0, fmt.Errorf("gguf: tensor %q has %d dimensions (want 1..%d)", t.Name, len(t.Dims), maxDims)
		}
		sz, err := TensorSize(t.Type, t.Dims)
		if err != nil {
			return 0, fmt.Errorf("gguf: tensor %q: %w", t.Name, err)
		}
		if !t.Type.Known() {
			return 0, fmt.Errorf("gguf: tensor %q: unknown type %s", t.Name, t.Type)
		}
		if t.WriteData == nil && uint64(len(t.Data)) != sz {
			return 0, fmt.Errorf("gguf: tensor %q: %d data bytes, type %s with dims %v needs %d", t.Name, len(t.Data), t.Type, t.Dims, sz)
		}
		sizes[i] = sz
		offsets[i] = off
		off += sz
		if i < len(w.Tensors)-1 {
			off += (align - off%align) % align
		}
	}
	// Decide the dialect the reader will see (the same rule on the same
	// layout) and refuse types that would read back as something else.
	dts := make([]dialectTensor, len(w.Tensors))
	for i, t := range w.Tensors {
		dts[i] = dialectTensor{t.Name, t.Type.RawType(), t.Dims, offsets[i]}
	}
	dialect, err := decideDialect(dts, off, align, arch)
	if err != nil {
		return 0, fmt.Errorf("gguf: %w", err)
	}
	for _, t := range w.Tensors {
		if back, ok := ResolveType(t.Type.RawType(), dialect); !ok || back != t.Type {
			return 0, fmt.Errorf("gguf: tensor %q: type %s cannot be stored in a %s-dialect file", t.Name, t.Type, dialect)
		}
	}

	e := &encoder{w: bufio.NewWriterSize(out, 1<<16)}
	e.write([]byte(Magic))
	e.u32(3)
	e.u64(uint64(len(w.Tensors)))
	e.u64(uint64(len(w.KVs)))
	for _, kv := range w.KVs {
		e.str(kv.Key)
		e.u32(uint32(kv.Value.Type))
		e.value(kv.Value)
	}
	for i, t := range w.Tensors {
		e.str(t.Name)
		e.u32(uint32(len(t.Dims)))
		for _, d := range t.Dims {
			e.u64(d)
		}
		e.u32(t.Type.RawType())
		e.u64(offsets[i])
	}
	pad := func() {
		if r := e.n % align; r != 0 {
			e.write(make([]byte, align-r))
		}
	}
	pad()
	for i, t := range w.Tensors {
		if t.WriteData != nil {
			cw := &countWriter{w: e.w}
			if e.err == nil {
				e.err = t.WriteData(cw)
			}
			e.n += cw.n
			if e.err == nil && cw.n != sizes[i] {
				e.err = fmt.Errorf("gguf: tensor %q: WriteData wrote %d bytes, want %d", t.Name, cw.n, sizes[i])
			}
		} else {
			e.write(t.Data)
		}
		if i < len(w.Tensors)-1 {
			pad()
		}
	}
	if e.err == nil {
		e.err = e.w.Flush()
	}
	return int64(e.n), e.err
}

type countWriter struct {
	w io.Writer
	n uint64
}

func (c *countWriter) Write(p []byte) (int, error) {
	k, err := c.w.Write(p)
	c.n += uint64(k)
	return k, err
}

// WriteFile writes the file atomically through internal/atomicfile: to a
// temporary file in the same directory, synced and renamed over path, so a
// failed write never leaves a half-written file in place of an existing one
// (and a path that is not a regular file is refused).
func (w *Writer) WriteFile(path string) error {
	return atomicfile.WriteFile(path, atomicfile.Mode, func(out io.Writer) error {
		_, err := w.WriteTo(out)
		return err
	})
}
