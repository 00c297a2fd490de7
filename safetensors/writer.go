package safetensors

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
)

// Writer assembles a safetensors file. Tensors are written in the order
// the reference serializer uses (dtype rank descending, then name), so the
// same tensors always give the same bytes.
type Writer struct {
	Metadata map[string]string
	tensors  []wtensor
}

type wtensor struct {
	name  string
	dtype DType
	shape []int64
	size  int64
	write func(io.Writer) error
}

// Add adds a tensor whose size bytes write produces.
func (w *Writer) Add(name string, dt DType, shape []int64, write func(io.Writer) error) error {
	if !dt.Known() {
		return fmt.Errorf("safetensors: tensor %q: unknown dtype %q", name, dt)
	}
	if name == "" || name == "__metadata__" {
		return fmt.Errorf("safetensors: bad tensor name %q", name)
	}
	for _, t := range w.tensors {
		if t.name == name {
			return fmt.Errorf("safetensors: duplicate tensor %q", name)
		}
	}
	n, err := elements(shape, dt.Size())
	if err != nil {
		return fmt.Errorf("safetensors: tensor %q: %w", name, err)
	}
	w.tensors = append(w.tensors, wtensor{name, dt, append([]int64(nil), shape...), n * int64(dt.Size()), write})
	return nil
}

// AddBytes adds a tensor held in memory.
func (w *Writer) AddBytes(name string, dt DType, shape []int64, data []byte) error {
	return w.Add(name, dt, shape, func(out io.Writer) error {
		_, err := out.Write(data)
		return err
	})
}

type headerEntry struct {
	DType       DType    `json:"dtype"`
	Shape       []int64  `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// WriteTo writes the file.
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	ts := append([]wtensor(nil), w.tensors...)
	sort.SliceStable(ts, func(i, j int) bool {
		if ri, rj := ts[i].dtype.Rank(), ts[j].dtype.Rank(); ri != rj {
			return ri > rj
		}
		return ts[i].name < ts[j].name
	})
	var hb bytes.Buffer
	hb.WriteByte('{')
	first := true
	put := func(k string, v any) error {
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if !first {
			hb.WriteByte(',')
		}
		first = false
		hb.Write(kb)
		hb.WriteByte(':')
		hb.Write(vb)
		return nil
	}
	if len(w.Metadata) > 0 {
		if err := put("__metadata__", w.Metadata); err != nil {
			return 0, err
		}
	}
	var off int64
	for _, t := range ts {
		shape := t.shape
		if shape == nil {
			shape = []int64{}
		}
		if err := put(t.name, headerEntry{t.dtype, shape, [2]int64{off, off + t.size}}); err != nil {
			return 0, err
		}
		off += t.size
	}
	hb.WriteByte('}')
	for hb.Len()%8 != 0 {
		hb.WriteByte(' ')
	}
	if hb.Len() > MaxHeaderSize {
		return 0, fmt.Errorf("safetensors: header of %d bytes exceeds %d", hb.Len(), MaxHeaderSize)
	}
	bw := bufio.NewWriterSize(out, 1<<20)
	cw := &countWriter{w: bw}
	var lb [8]byte
	n := uint64(hb.Len())
	for i := range lb {
		lb[i] = byte(n >> (8 * i))
	}
	cw.Write(lb[:])
	cw.Write(hb.Bytes())
	for _, t := range ts {
		start := cw.n
		if err := t.write(cw); err != nil {
			return cw.n, fmt.Errorf("safetensors: tensor %q: %w", t.name, err)
		}
		if got := cw.n - start; got != t.size {
			return cw.n, fmt.Errorf("safetensors: tensor %q: wrote %d bytes, want %d", t.name, got, t.size)
		}
	}
	if cw.err != nil {
		return cw.n, cw.err
	}
	return cw.n, bw.Flush()
}

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	k, err := c.w.Write(p)
	c.n += int64(k)
	c.err = err
	return k, err
}
