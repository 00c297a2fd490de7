package train

import (
	"github.com/bitnet-go/bitnet/internal/atomicfile"

	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
)

// Checkpoint files:
//
//	offset  size  field
//	0       4     magic "BNCK"
//	4       4     version (1), u32 LE
//	8       8     header length h, u64 LE
//	16      h     JSON CheckpointHeader
//	16+h    …     weights, AdamW first moments, second moments: 3 × n float32 LE
//
// They are written atomically (temporary file, fsync, rename, directory
// fsync), so a run killed at any moment leaves the previous checkpoint or
// the new one, never a torn file.
const (
	ckptMagic   = "BNCK"
	ckptVersion = 1
)

// CheckpointHeader is the JSON part of a checkpoint.
type CheckpointHeader struct {
	Version    int               `json:"version"`
	Config     Config            `json:"config"`
	Options    Options           `json:"options"`
	Step       int               `json:"step"` // completed optimizer steps
	Tokens     int64             `json:"tokens"`
	Batches    BatchSamplerState `json:"sampler"`    // the batch sampler's position
	TrainSecs  float64           `json:"train_secs"` // training wall time so far
	NumParams  int               `json:"num_params"`
	LastLoss   float64           `json:"last_loss"`
	LastValPPL float64           `json:"last_val_ppl,omitempty"`
	// Window is the part of a metrics line accumulated since the last one
	// (a resumed run's next line covers the same steps as an uninterrupted
	// run's).
	Window LogWindow `json:"window"`
}

// SaveCheckpoint writes the trainer's full state to path.
func (t *Trainer) SaveCheckpoint(path string) error {
	h := CheckpointHeader{
		Version: ckptVersion, Config: t.Model.Config, Options: t.Opt, Step: t.step, Tokens: t.tokens,
		Batches: t.sampler.State(), Window: t.window, TrainSecs: t.trainSecs, NumParams: len(t.Model.W), LastLoss: t.lastLoss,
	}
	js, err := json.Marshal(h)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, atomicfile.Mode, func(w io.Writer) error {
		pre := make([]byte, 16)
		copy(pre, ckptMagic)
		binary.LittleEndian.PutUint32(pre[4:], ckptVersion)
		binary.LittleEndian.PutUint64(pre[8:], uint64(len(js)))
		if _, err := w.Write(pre); err != nil {
			return err
		}
		if _, err := w.Write(js); err != nil {
			return err
		}
		for _, v := range [][]float32{t.Model.W, t.m, t.v} {
			if err := writeF32(w, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// ReadCheckpointHeader reads the JSON header of a checkpoint.
func ReadCheckpointHeader(path string) (CheckpointHeader, error) {
	var h CheckpointHeader
	f, err := os.Open(path)
	if err != nil {
		return h, err
	}
	defer f.Close()
	_, err = readCheckpointHeader(bufio.NewReader(f), path, &h)
	return h, err
}

func readCheckpointHeader(r io.Reader, path string, h *CheckpointHeader) (int, error) {
	pre := make([]byte, 16)
	if _, err := io.ReadFull(r, pre); err != nil {
		return 0, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if string(pre[:4]) != ckptMagic {
		return 0, fmt.Errorf("checkpoint %s: bad magic %q", path, pre[:4])
	}
	if v := binary.LittleEndian.Uint32(pre[4:]); v != ckptVersion {
		return 0, fmt.Errorf("checkpoint %s: unsupported version %d", path, v)
	}
	n := binary.LittleEndian.Uint64(pre[8:])
	if n > 1<<24 {
		return 0, fmt.Errorf("checkpoint %s: header of %d bytes", path, n)
	}
	js := make([]byte, n)
	if _, err := io.ReadFull(r, js); err != nil {
		return 0, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if err := json.Unmarshal(js, h); err != nil {
		return 0, fmt.Errorf("checkpoint %s: header: %w", path, err)
	}
	return 16 + int(n), nil
}

// LoadCheckpoint reads a checkpoint: the model, the options, and (through
// Trainer.Restore) the optimizer and data state.
func LoadCheckpoint(path string) (*Model, CheckpointHeader, [2][]float32, error) {
	var h CheckpointHeader
	var mv [2][]float32
	f, err := os.Open(path)
	if err != nil {
		return nil, h, mv, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	hlen, err := readCheckpointHeader(r, path, &h)
	if err != nil {
		return nil, h, mv, err
	}
	// The header is checked against the file's size and the machine's
	// memory before the model is allocated.
	if err := h.Config.Validate(); err != nil {
		return nil, h, mv, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if err := h.Options.Validate(); err != nil {
		return nil, h, mv, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if err := CheckMemory(h.Config, h.Options); err != nil {
		return nil, h, mv, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if n := newLayout(h.Config).Size; h.NumParams != n {
		return nil, h, mv, fmt.Errorf("checkpoint %s: %d parameters, config needs %d", path, h.NumParams, n)
	}
	if st, err := f.Stat(); err != nil {
		return nil, h, mv, err
	} else if want := int64(hlen) + 12*int64(h.NumParams); st.Size() != want {
		return nil, h, mv, fmt.Errorf("checkpoint %s: %d bytes, its header promises %d", path, st.Size(), want)
	}
	m, err := NewModel(h.Config, 0)
	if err != nil {
		return nil, h, mv, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	mv[0], mv[1] = make([]float32, len(m.W)), make([]float32, len(m.W))
	for _, v := range [][]float32{m.W, mv[0], mv[1]} {
		if err := readF32(r, v); err != nil {
			return nil, h, mv, fmt.Errorf("checkpoint %s: %w", path, err)
		}
	}
	if _, err := r.ReadByte(); err != io.EOF {
		return nil, h, mv, fmt.Errorf("checkpoint %s: trailing data", path)
	}
	return m, h, mv, nil
}

func writeF32(w io.Writer, v []float32) error {
	buf := make([]byte, 4*4096)
	for len(v) > 0 {
		n := min(len(v), 4096)
		for i, x := range v[:n] {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(x))
		}
		if _, err := w.Write(buf[:4*n]); err != nil {
			return err
		}
		v = v[n:]
	}
	return nil
}

func readF32(r io.Reader, v []float32) error {
	buf := make([]byte, 4*4096)
	for len(v) > 0 {
		n := min(len(v), 4096)
		if _, err := io.ReadFull(r, buf[:4*n]); err != nil {
			return err
		}
		for i := range v[:n] {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
		}
		v = v[n:]
	}
	return nil
}
