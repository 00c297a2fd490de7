package train

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/bitnet-go/bitnet/internal/atomicfile"
)

// ManifestFile records what a run directory was made from: the inputs'
// sizes and SHA-256 sums, the token shards made from them, and the run's
// shape and hyperparameters. A fresh run reuses shards only when they were
// made from the same inputs; a resumed run refuses inputs or settings that
// differ from the record (see MismatchError).
const ManifestFile = "run.json"

// FileRecord identifies a file by content.
type FileRecord struct {
	Path   string `json:"path,omitempty"` // absolute path when recorded (informative)
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

func (r FileRecord) same(o FileRecord) bool { return r.Size == o.Size && r.SHA256 == o.SHA256 }

func (r FileRecord) String() string {
	h := r.SHA256
	if len(h) > 12 {
		h = h[:12]
	}
	return fmt.Sprintf("%s (%d bytes, sha256 %s…)", r.Path, r.Size, h)
}

// HashFile returns path's record.
func HashFile(path string) (FileRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return FileRecord{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return FileRecord{}, fmt.Errorf("%s: %w", path, err)
	}
	return FileRecord{Path: absPath(path), Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// Manifest is the content of a run's ManifestFile.
type Manifest struct {
	Version int         `json:"version"`
	Train   FileRecord  `json:"train"`
	Valid   *FileRecord `json:"valid,omitempty"` // nil: the last 5% of the training tokens
	Vocab   *FileRecord `json:"vocab,omitempty"` // the GGUF whose tokenizer made the shards
	// InputShards are the token shards (bitnet-data output) the run was
	// made from instead of a text (RunConfig.TrainShards/ValidShards).
	InputShards      []FileRecord `json:"input_shards,omitempty"`
	InputValidShards []FileRecord `json:"input_valid_shards,omitempty"`
	DocSep           string       `json:"doc_sep"`
	// Shards are data/train.tok and data/valid.tok as written.
	TrainShard FileRecord `json:"train_shard"`
	ValidShard FileRecord `json:"valid_shard"`
	Config     Config     `json:"config"`
	Options    Options    `json:"options"`
	// Changes lists the settings changed on resume (RunConfig.AllowChanges).
	Changes []string `json:"changes,omitempty"`
}

const manifestVersion = 1

// ReadManifest reads dir's manifest; the error wraps os.ErrNotExist when
// there is none (a run directory made before manifests existed).
func ReadManifest(dir string) (*Manifest, error) {
	path := filepath.Join(dir, ManifestFile)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<20+1))
	if err != nil {
		return nil, err
	}
	if len(b) > 1<<20 {
		return nil, fmt.Errorf("%s: larger than 1 MiB", path)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if m.Version != manifestVersion {
		return nil, fmt.Errorf("%s: unsupported version %d", path, m.Version)
	}
	return &m, nil
}

func writeManifest(dir string, m *Manifest) error {
	m.Version = manifestVersion
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	return atomicfile.WriteFile(filepath.Join(dir, ManifestFile), atomicfile.Mode, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// MismatchError reports a setting or input of a resumed run that differs
// from what the run was made with. Setting is bitnet-train's flag name.
type MismatchError struct {
	Setting    string // "dim", "lr", "train", …
	Run, Asked string // the run's value and the one asked for
	// Changeable settings (the optimizer's) may change when
	// RunConfig.AllowChanges is set; the shape, seed, sampling and data
	// never can.
	Changeable bool
}

func (e *MismatchError) Error() string {
	if e.Changeable {
		return fmt.Sprintf("-%s %s differs from the run's %s: pass -allow-changes to continue the run with the new value", e.Setting, e.Asked, e.Run)
	}
	return fmt.Sprintf("-%s %s differs from the run's %s: a run's shape, seed, sampling and data cannot change on resume (start a new run in another -out)", e.Setting, e.Asked, e.Run)
}

// settings names every compared setting by its bitnet-train flag.
var settings = []struct {
	name       string
	changeable bool
	get        func(Config, Options) string
}{
	{"vocab", false, func(c Config, _ Options) string { return strconv.Itoa(c.Vocab) + " tokens" }},
	{"dim", false, func(c Config, _ Options) string { return strconv.Itoa(c.Dim) }},
	{"layers", false, func(c Config, _ Options) string { return strconv.Itoa(c.Layers) }},
	{"heads", false, func(c Config, _ Options) string { return strconv.Itoa(c.Heads) }},
	{"kv-heads", false, func(c Config, _ Options) string { return strconv.Itoa(c.KVHeads) }},
	{"ffn", false, func(c Config, _ Options) string { return strconv.Itoa(c.FFN) }},
	{"ctx", false, func(c Config, _ Options) string { return strconv.Itoa(c.Ctx) }},
	{"norm-eps", false, func(c Config, _ Options) string { return f32(c.NormEps) }},
	{"rope-theta", false, func(c Config, _ Options) string { return f32(c.RopeBase) }},
	{"seed", false, func(_ Config, o Options) string { return strconv.FormatUint(o.Seed, 10) }},
	{"sampling", false, func(_ Config, o Options) string { return o.Sampling }},
	{"adam-eps", false, func(_ Config, o Options) string { return f64(o.Optimizer.Eps) }},
	{"batch", true, func(_ Config, o Options) string { return strconv.Itoa(o.Batch) }},
	{"micro", true, func(_ Config, o Options) string { return strconv.Itoa(o.Micro) }},
	{"steps", true, func(_ Config, o Options) string { return strconv.Itoa(o.Steps) }},
	{"lr", true, func(_ Config, o Options) string { return f64(o.Schedule.Peak) }},
	{"warmup", true, func(_ Config, o Options) string { return strconv.Itoa(o.Schedule.Warmup) }},
	{"s1-floor", true, func(_ Config, o Options) string { return f64(o.Schedule.Stage1Floor) }},
	{"s2-start", true, func(_ Config, o Options) string { return f64(o.Schedule.Stage2Start) }},
	{"min-lr", true, func(_ Config, o Options) string { return f64(o.Schedule.MinLR) }},
	{"wd", true, func(_ Config, o Options) string { return f64(o.Schedule.WD) }},
	{"clip", true, func(_ Config, o Options) string { return f64(o.Optimizer.Clip) }},
	{"beta1", true, func(_ Config, o Options) string { return f64(o.Optimizer.Beta1) }},
	{"beta2", true, func(_ Config, o Options) string { return f64(o.Optimizer.Beta2) }},
}

func f32(v float32) string { return strconv.FormatFloat(float64(v), 'g', -1, 32) }
func f64(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// diffSettings lists the settings of (c, o) that differ from the run's.
// Threads are not a setting of the run (any count continues it).
func diffSettings(runC Config, runO Options, c Config, o Options) []*MismatchError {
	var out []*MismatchError
	for _, s := range settings {
		if a, b := s.get(runC, runO), s.get(c, o); a != b {
			out = append(out, &MismatchError{Setting: s.name, Run: a, Asked: b, Changeable: s.changeable})
		}
	}
	return out
}

// checkInput compares an input given on resume with the record.
func checkInput(setting, path string, rec *FileRecord) error {
	got, err := HashFile(path)
	if err != nil {
		return err
	}
	if rec == nil {
		return &MismatchError{Setting: setting, Run: "none", Asked: got.String()}
	}
	if !got.same(*rec) {
		return &MismatchError{Setting: setting, Run: rec.String(), Asked: got.String()}
	}
	return nil
}

// joinMismatches returns nil, the one error, or all of them.
func joinMismatches(ms []*MismatchError) error {
	errs := make([]error, len(ms))
	for i, m := range ms {
		errs[i] = m
	}
	return errors.Join(errs...)
}
