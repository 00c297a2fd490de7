package train

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// quickRun is resumeRunConfig shortened: 12 steps, no periodic checkpoint
// unless asked.
func quickRun(out, train, valid string) RunConfig {
	rc := resumeRunConfig(out, train, valid)
	rc.Options.Steps, rc.Options.Schedule.Steps = 12, 12
	rc.CkptEvery, rc.ValEvery = 100, 100
	return rc
}

// -ctx 1 used to loop forever in ValWindows (the windows advance by ctx−1
// tokens) while growing the window list until memory ran out.
func TestRunRefusesContextOne(t *testing.T) {
	if w := ValWindows(1000, 1); len(w) != 0 {
		t.Fatalf("ValWindows(1000, 1) = %d windows", len(w))
	}
	dir := t.TempDir()
	tr, va := writeCorpus(t, dir)
	rc := quickRun(filepath.Join(dir, "run"), tr, va)
	rc.Model.Ctx = 1
	_, err := Run(context.Background(), rc)
	if err == nil || !strings.Contains(err.Error(), "context 1") {
		t.Fatalf("Run with ctx 1: %v", err)
	}
}

// A fresh run into a directory whose shards were made from another text
// used to train on the old shards.
func TestFreshRunDoesNotReuseOtherShards(t *testing.T) {
	dir := t.TempDir()
	tr, va := writeCorpus(t, dir)
	out := filepath.Join(dir, "run")
	rc := quickRun(out, tr, va)
	rc.StopAfter = 1 // no checkpoint: the directory can be used by a fresh run
	if _, err := Run(context.Background(), rc); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, CheckpointFile)); err == nil {
		t.Fatal("test setup: a checkpoint was written")
	}
	// The same inputs: the shards are reused.
	if _, err := Run(context.Background(), rc); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.txt")
	text := strings.Repeat("a completely different text.\n", 2000)
	if err := os.WriteFile(other, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	rc.TrainText = other
	if _, err := Run(context.Background(), rc); err != nil {
		t.Fatal(err)
	}
	got, _, err := ReadShard(filepath.Join(out, TrainShardFile))
	if err != nil {
		t.Fatal(err)
	}
	if want := TokenizeText(byteTokenizer{}, text, ""); !slices.Equal(got, want) {
		t.Fatalf("the train shard holds %d tokens, not the %d of the new text", len(got), len(want))
	}
	man, err := ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	if man.Train.Size != int64(len(text)) || man.Train.Path != other {
		t.Errorf("manifest records train %+v", man.Train)
	}
}

// stoppedRun trains until step 7 with a checkpoint at step 5 and returns
// the config (for resuming).
func stoppedRun(t *testing.T) RunConfig {
	t.Helper()
	dir := t.TempDir()
	tr, va := writeCorpus(t, dir)
	rc := quickRun(filepath.Join(dir, "run"), tr, va)
	rc.CkptEvery, rc.StopAfter, rc.LogEvery = 5, 7, 4
	if _, err := Run(context.Background(), rc); err != nil {
		t.Fatal(err)
	}
	rc.StopAfter, rc.Resume = 0, true
	return rc
}

// -resume used to ignore changed -dim/-layers/…/-lr/-seed/-train silently.
func TestResumeRefusesChangedSettings(t *testing.T) {
	rc := stoppedRun(t)
	dir := filepath.Dir(rc.OutDir)
	other := filepath.Join(dir, "other.txt")
	if err := os.WriteFile(other, []byte(strings.Repeat("other text\n", 3000)), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		setting    string
		changeable bool
		change     func(*RunConfig)
	}{
		{"dim", false, func(rc *RunConfig) { rc.Model.Dim = 64 }},
		{"layers", false, func(rc *RunConfig) { rc.Model.Layers = 3 }},
		{"heads", false, func(rc *RunConfig) { rc.Model.Heads = 4 }},
		{"ffn", false, func(rc *RunConfig) { rc.Model.FFN = 128 }},
		{"ctx", false, func(rc *RunConfig) { rc.Model.Ctx = 16 }},
		{"seed", false, func(rc *RunConfig) { rc.Options.Seed = 99 }},
		{"batch", true, func(rc *RunConfig) { rc.Options.Batch = 2; rc.Options.Micro = 2 }},
		{"lr", true, func(rc *RunConfig) { rc.Options.Schedule.Peak = 1e-3 }},
		{"steps", true, func(rc *RunConfig) { rc.Options.Steps, rc.Options.Schedule.Steps = 20, 20 }},
		{"train", false, func(rc *RunConfig) { rc.TrainText = other }},
		{"valid", false, func(rc *RunConfig) { rc.ValidText = other }},
	}
	for _, c := range cases {
		r := rc
		c.change(&r)
		_, err := Run(context.Background(), r)
		var mm *MismatchError
		if !errors.As(err, &mm) || mm.Setting != c.setting || mm.Changeable != c.changeable {
			t.Errorf("%s changed on resume: %v (%#v)", c.setting, err, mm)
			continue
		}
		if !strings.Contains(err.Error(), "-"+c.setting+" ") {
			t.Errorf("%s: the message does not name the setting: %v", c.setting, err)
		}
		// The run was left as it was.
		if h, err := ReadCheckpointHeader(filepath.Join(rc.OutDir, CheckpointFile)); err != nil || h.Step != 5 {
			t.Fatalf("%s: checkpoint after the refused resume: step %d, %v", c.setting, h.Step, err)
		}
	}
	// Unchanged settings resume; AllowChanges lets the learning rate change.
	r := rc
	r.Options.Schedule.Peak = 1e-3
	r.AllowChanges = true
	if _, err := Run(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	h, err := ReadCheckpointHeader(filepath.Join(rc.OutDir, CheckpointFile))
	if err != nil || h.Step != 12 || h.Options.Schedule.Peak != 1e-3 {
		t.Fatalf("after the allowed change: step %d, peak %g, %v", h.Step, h.Options.Schedule.Peak, err)
	}
	man, err := ReadManifest(rc.OutDir)
	if err != nil || len(man.Changes) != 1 || !strings.Contains(man.Changes[0], "lr 0.005 → 0.001") {
		t.Fatalf("manifest changes %q, %v", man.Changes, err)
	}
}

// A resumed run refuses shards that changed since the run made them.
func TestResumeRefusesChangedShards(t *testing.T) {
	rc := stoppedRun(t)
	p := filepath.Join(rc.OutDir, TrainShardFile)
	ids, v, err := ReadShard(p)
	if err != nil {
		t.Fatal(err)
	}
	ids[10] = (ids[10] + 1) % int32(v)
	if err := WriteShard(p, ids, v); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), rc); err == nil || !strings.Contains(err.Error(), "changed since the run made it") {
		t.Fatalf("resume over a changed shard: %v", err)
	}
}

// After a resume, the first metrics line averaged only the steps after the
// checkpoint; it must cover the same steps as an uninterrupted run's.
func TestMetricsWindowAcrossResume(t *testing.T) {
	rc := stoppedRun(t) // LogEvery 4, checkpoint at 5, stopped at 7
	if _, err := Run(context.Background(), rc); err != nil {
		t.Fatal(err)
	}
	full := quickRun(filepath.Join(filepath.Dir(rc.OutDir), "full"), rc.TrainText, rc.ValidText)
	full.CkptEvery, full.LogEvery = 5, 4
	if _, err := Run(context.Background(), full); err != nil {
		t.Fatal(err)
	}
	got, err := ReadMetrics(filepath.Join(rc.OutDir, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	want, err := ReadMetrics(filepath.Join(full.OutDir, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d metrics lines, uninterrupted %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Step != want[i].Step || got[i].TrainLoss != want[i].TrainLoss {
			t.Errorf("line %d: step %d train loss %v; uninterrupted step %d train loss %v",
				i, got[i].Step, got[i].TrainLoss, want[i].Step, want[i].TrainLoss)
		}
	}
}

// Killed checkpoint writes left .checkpoint.bin.tmp* files behind for good;
// run outputs were 0600 while exports were 0644.
func TestRunRemovesStaleTempsAndWritesMode0644(t *testing.T) {
	dir := t.TempDir()
	tr, va := writeCorpus(t, dir)
	out := filepath.Join(dir, "run")
	if err := os.MkdirAll(filepath.Join(out, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	stale := []string{".checkpoint.bin.tmp123456", "data/.train.tok.tmp42", ".model-f32.gguf.tmp7"}
	keep := filepath.Join(out, ".my-notes.tmp1") // not a run file's temporary
	for _, f := range append(stale, ".my-notes.tmp1") {
		if err := os.WriteFile(filepath.Join(out, f), []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rc := quickRun(out, tr, va)
	rc.Options.Steps, rc.Options.Schedule.Steps = 3, 3
	if _, err := Run(context.Background(), rc); err != nil {
		t.Fatal(err)
	}
	for _, f := range stale {
		if _, err := os.Stat(filepath.Join(out, f)); err == nil {
			t.Errorf("stale temporary %s not removed", f)
		}
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("a file that is no run file's temporary was removed: %v", err)
	}
	for _, f := range []string{CheckpointFile, MetricsFile, PlotFile, SummaryFile, ManifestFile, TrainShardFile, ValidShardFile, ExportName(FormatF32)} {
		fi, err := os.Stat(filepath.Join(out, f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("%s has mode %v, want 0644", f, fi.Mode().Perm())
		}
	}
	left, _ := filepath.Glob(filepath.Join(out, ".*.tmp*"))
	if len(left) != 1 {
		t.Errorf("temporaries left: %v", left)
	}
}

// An unknown export format used to be reported after the whole run.
func TestRunRefusesUnknownFormatUpFront(t *testing.T) {
	dir := t.TempDir()
	tr, va := writeCorpus(t, dir)
	out := filepath.Join(dir, "run")
	for _, formats := range [][]Format{{FormatF32, "q4_0"}, {FormatI2S}} { // I2_S needs rows of 128
		rc := quickRun(out, tr, va)
		rc.Formats = formats
		_, err := Run(context.Background(), rc)
		if err == nil {
			t.Fatalf("formats %v: no error", formats)
		}
		if _, serr := os.Stat(filepath.Join(out, MetricsFile)); serr == nil {
			t.Fatalf("formats %v: trained before reporting %v", formats, err)
		}
	}
	if _, err := ParseFormats("f32, I2_S,bogus"); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("ParseFormats: %v", err)
	}
	if f, err := ParseFormats(" f32,I2_S ,f32"); err != nil || !slices.Equal(f, []Format{FormatF32, FormatI2S}) {
		t.Errorf("ParseFormats: %v %v", f, err)
	}
}

// A cancelled context stops after the current step with a checkpoint.
func TestRunStopsOnCancel(t *testing.T) {
	dir := t.TempDir()
	tr, va := writeCorpus(t, dir)
	rc := quickRun(filepath.Join(dir, "run"), tr, va)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := Run(ctx, rc)
	if !errors.Is(err, context.Canceled) || res == nil {
		t.Fatalf("cancelled run: %v, %+v", err, res)
	}
	if _, err := os.Stat(filepath.Join(rc.OutDir, MetricsFile)); err == nil {
		t.Error("a run cancelled before training trained")
	}
}

// A shard header whose count wraps count × size around 2^64 used to pass
// the size check and panic in make.
func TestReadShardHostileCount(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.tok")
	h := make([]byte, shardHeader+16)
	copy(h, shardMagic)
	binary.LittleEndian.PutUint32(h[4:], shardVersion)
	binary.LittleEndian.PutUint32(h[8:], shardU16)
	binary.LittleEndian.PutUint32(h[12:], 300)
	binary.LittleEndian.PutUint64(h[16:], 1<<63+8) // × 2 bytes ≡ 16 (mod 2^64)
	if err := os.WriteFile(p, h, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadShard(p); err == nil {
		t.Fatal("hostile count accepted")
	}
}

// A checkpoint header promising a huge model is refused before anything is
// allocated.
func TestLoadCheckpointHostileHeader(t *testing.T) {
	for _, c := range []Config{
		{Vocab: 1 << 24, Dim: 1 << 16, Layers: 1 << 10, Heads: 1 << 8, KVHeads: 1 << 8, FFN: 1 << 16, Ctx: 1 << 16, NormEps: 1e-5, RopeBase: 1e4},
		{Vocab: 1 << 30, Dim: 64, Layers: 1, Heads: 2, KVHeads: 1, FFN: 64, Ctx: 8, NormEps: 1e-5, RopeBase: 1e4},
		{Vocab: 100, Dim: 64, Layers: 1, Heads: 2, KVHeads: 1, FFN: 64, Ctx: 8, NormEps: 1e-5, RopeBase: 1e4}, // truncated
	} {
		h := CheckpointHeader{Version: ckptVersion, Config: c, Options: DefaultOptions(10), NumParams: newLayoutSizeOrZero(c)}
		js, _ := json.Marshal(h)
		b := make([]byte, 16, 16+len(js))
		copy(b, ckptMagic)
		binary.LittleEndian.PutUint32(b[4:], ckptVersion)
		binary.LittleEndian.PutUint64(b[8:], uint64(len(js)))
		b = append(b, js...)
		p := filepath.Join(t.TempDir(), CheckpointFile)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := LoadCheckpoint(p); err == nil {
			t.Errorf("config %+v: accepted", c)
		} else {
			t.Logf("%v", err)
		}
	}
}

func newLayoutSizeOrZero(c Config) int {
	if c.Validate() != nil {
		return 1
	}
	return newLayout(c).Size
}

// An output path that is not a regular file (here a directory where the
// export goes) is refused before training, not after the whole run.
func TestRunRefusesIrregularOutputUpFront(t *testing.T) {
	dir := t.TempDir()
	tr, va := writeCorpus(t, dir)
	out := filepath.Join(dir, "run")
	if err := os.MkdirAll(filepath.Join(out, ExportName(FormatF32)), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Run(context.Background(), quickRun(out, tr, va))
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("Run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, MetricsFile)); err == nil {
		t.Error("trained before refusing the output path")
	}
}
