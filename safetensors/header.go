package safetensors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
)

// ErrFormat is wrapped by every error about malformed file contents.
var ErrFormat = errors.New("safetensors: malformed file")

// Header is a parsed and validated header.
type Header struct {
	Metadata map[string]string // the "__metadata__" object (nil if absent)
	Tensors  []TensorInfo      // sorted by name
}

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
}

type rawTensor struct {
	DType       *string       `json:"dtype"`
	Shape       []json.Number `json:"shape"`
	DataOffsets []json.Number `json:"data_offsets"`
}

// ParseHeader parses the JSON header b of a file whose data section (the
// bytes after the header) is dataSize bytes long, and validates every
// tensor against it.
func ParseHeader(b []byte, dataSize int64) (*Header, error) {
	if len(b) > MaxHeaderSize {
		return nil, formatErr("header of %d bytes (max %d)", len(b), MaxHeaderSize)
	}
	if dataSize < 0 {
		return nil, formatErr("negative data size %d", dataSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, formatErr("header is not a JSON object")
	}
	h := &Header{}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, formatErr("header JSON: %v", err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, formatErr("header JSON: key %v is not a string", tok)
		}
		if seen[name] {
			return nil, formatErr("duplicate entry %q", name)
		}
		seen[name] = true
		if name == "__metadata__" {
			var md map[string]string
			if err := dec.Decode(&md); err != nil {
				return nil, formatErr("__metadata__ must be an object of strings: %v", err)
			}
			h.Metadata = md
			continue
		}
		var rt rawTensor
		if err := dec.Decode(&rt); err != nil {
			return nil, formatErr("tensor %q: %v", name, err)
		}
		t, err := checkTensor(name, &rt, dataSize)
		if err != nil {
			return nil, err
		}
		h.Tensors = append(h.Tensors, t)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, formatErr("header JSON object is not closed")
	}
	// Only padding (spaces) may follow the object.
	if len(bytes.TrimRight(b[dec.InputOffset():], " \t\r\n\x00")) != 0 {
		return nil, formatErr("data after the header JSON object")
	}
	if err := checkOverlaps(h.Tensors); err != nil {
		return nil, err
	}
	sort.Slice(h.Tensors, func(i, j int) bool { return h.Tensors[i].Name < h.Tensors[j].Name })
	return h, nil
}

func parseInt(n json.Number) (int64, error) {
	return strconv.ParseInt(string(n), 10, 64)
}

func checkTensor(name string, rt *rawTensor, dataSize int64) (TensorInfo, error) {
	t := TensorInfo{Name: name}
	if name == "" {
		return t, formatErr("tensor with an empty name")
	}
	if rt.DType == nil {
		return t, formatErr("tensor %q has no dtype", name)
	}
	t.DType = DType(*rt.DType)
	if !t.DType.Known() {
		return t, formatErr("tensor %q has unknown dtype %q", name, *rt.DType)
	}
	if rt.Shape == nil {
		return t, formatErr("tensor %q has no shape", name)
	}
	if len(rt.Shape) > 8 {
		return t, formatErr("tensor %q has %d dimensions (max 8)", name, len(rt.Shape))
	}
	t.Shape = make([]int64, len(rt.Shape))
	for i, d := range rt.Shape {
		v, err := parseInt(d)
		if err != nil || v < 0 {
			return t, formatErr("tensor %q: bad dimension %s", name, d)
		}
		t.Shape[i] = v
	}
	n, err := elements(t.Shape, t.DType.Size())
	if err != nil {
		return t, formatErr("tensor %q: %v", name, err)
	}
	if len(rt.DataOffsets) != 2 {
		return t, formatErr("tensor %q: data_offsets must be [begin, end]", name)
	}
	begin, err1 := parseInt(rt.DataOffsets[0])
	end, err2 := parseInt(rt.DataOffsets[1])
	if err1 != nil || err2 != nil || begin < 0 || end < begin {
		return t, formatErr("tensor %q: bad data_offsets [%s, %s]", name, rt.DataOffsets[0], rt.DataOffsets[1])
	}
	if end > dataSize {
		return t, formatErr("tensor %q: data [%d, %d) runs past the end of the data (%d bytes)", name, begin, end, dataSize)
	}
	if want := n * int64(t.DType.Size()); end-begin != want {
		return t, formatErr("tensor %q: %d data bytes, but %s %v needs %d", name, end-begin, t.DType, t.Shape, want)
	}
	t.Begin, t.End = begin, end
	return t, nil
}

// checkOverlaps refuses tensors whose byte ranges intersect (empty tensors
// occupy nothing).
func checkOverlaps(ts []TensorInfo) error {
	idx := make([]int, 0, len(ts))
	for i := range ts {
		if ts[i].End > ts[i].Begin {
			idx = append(idx, i)
		}
	}
	sort.Slice(idx, func(a, b int) bool { return ts[idx[a]].Begin < ts[idx[b]].Begin })
	for k := 1; k < len(idx); k++ {
		p, q := &ts[idx[k-1]], &ts[idx[k]]
		if q.Begin < p.End {
			return formatErr("tensors %q [%d, %d) and %q [%d, %d) overlap", p.Name, p.Begin, p.End, q.Name, q.Begin, q.End)
		}
	}
	return nil
}
