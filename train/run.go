package train

import (
	"github.com/bitnet-go/bitnet/internal/atomicfile"
	"slices"
	"strings"

	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/bitnet-go/bitnet/gguf"
)

// RunConfig describes a training run (what bitnet-train's flags set).
type RunConfig struct {
	OutDir string
	// Model and Options are the run's shape and settings. When resuming,
	// the checkpoint's are used; Model and Options, unless zero (Options
	// with only Threads set counts as zero), must equal them — a
	// difference is a *MismatchError naming the setting — except that the
	// optimizer's settings may change when AllowChanges is set. Threads
	// may always change.
	Model        Config
	Options      Options
	AllowChanges bool

	// The inputs: paths of the training text, the validation text ("":
	// hold out the last 5% of the training tokens) and the vocabulary GGUF
	// (recorded in the manifest; optional). A resumed run trains on the
	// shards it made; inputs given when resuming must equal the recorded
	// ones.
	TrainText string
	ValidText string
	// TrainShards and ValidShards train from token shards (bitnet-data's
	// output, see ShardInputs) instead of TrainText/ValidText.
	TrainShards, ValidShards []string
	VocabPath                string
	DocSep                   string // document separator ("": the text is one document)
	Tokenizer                Tokenizer
	Vocab                    *gguf.File // copied into the exports' tokenizer keys (may be nil)

	LogEvery   int // steps between metrics lines (default 10)
	ValEvery   int // steps between validations (default 100)
	ValWindows int // windows of the periodic validation (0: all); the final one uses all
	CkptEvery  int // steps between checkpoints (default 100)
	// StatsEvery is the steps between the weight-statistics records of
	// metrics.jsonl (per BitLinear matrix: γ, shares of −1/0/+1, histogram
	// of W/γ; also written at the last step) and redraws of ternary.svg:
	// 0 means ValEvery, a negative value none.
	StatsEvery int
	// Formats are the exports written at the end. Nil means f32, i2_s and
	// tq2_0, skipping those the shape cannot be stored in; a format named
	// here that is unknown or does not fit the shape is an error before
	// training starts.
	Formats []Format
	Name    string // general.name of the exports
	Resume  bool   // continue from OutDir/checkpoint.bin

	Log io.Writer // progress and messages (nil: silent)

	// For tests: stop (without the final evaluation and export) once this
	// many steps are done, and sleep after each step.
	StopAfter int
	StepDelay time.Duration
}

// RunResult summarises a finished run.
type RunResult struct {
	Steps        int     `json:"steps"`
	Tokens       int64   `json:"tokens"`
	TrainSecs    float64 `json:"train_secs"`
	TokensPerSec float64 `json:"tokens_per_s"` // tokens / time in training steps
	// WallSecs is this process's wall time from the first step to the end
	// of the last, with validations and checkpoints; WallTokensPerSec the
	// tokens it trained over that time.
	WallSecs         float64   `json:"wall_secs"`
	WallTokensPerSec float64   `json:"wall_tokens_per_s"`
	FinalTrainLoss   float64   `json:"final_train_loss"`
	ValLoss          float64   `json:"val_loss"`
	ValPPL           float64   `json:"val_ppl"`
	ValTokens        int       `json:"val_tokens"`
	Losses           []float64 `json:"-"` // per step (this process's steps only)
	Exports          []string  `json:"exports"`
	// ExportStats states each export's bits per parameter and its
	// no-bias check, read back from the written file.
	ExportStats []ExportStats `json:"export_stats"`
}

// Files of a run directory.
const (
	CheckpointFile = "checkpoint.bin"
	MetricsFile    = "metrics.jsonl"
	PlotFile       = "loss.svg"
	// WeightsPlotFile is the picture of the weight statistics.
	WeightsPlotFile = "ternary.svg"
	SummaryFile     = "summary.json"
	TrainShardFile  = "data/train.tok"
	ValidShardFile  = "data/valid.tok"
)

// ExportName is the file name of a format's export.
func ExportName(f Format) string { return "model-" + string(f) + ".gguf" }

// ParseFormats parses a comma-separated list of export formats (case and
// spaces ignored); an unknown name is an error.
func ParseFormats(s string) ([]Format, error) {
	formats := []Format{}
	for _, f := range strings.Split(s, ",") {
		if f = strings.ToLower(strings.TrimSpace(f)); f == "" {
			continue
		}
		if _, ok := fileTypes[Format(f)]; !ok {
			return nil, fmt.Errorf("unknown export format %q (want f32, i2_s or tq2_0)", f)
		}
		if !slices.Contains(formats, Format(f)) {
			formats = append(formats, Format(f))
		}
	}
	return formats, nil
}

// RunFiles are the files of a run directory that Run writes through
// temporaries (relative to the directory).
func RunFiles() []string {
	fs := []string{CheckpointFile, MetricsFile, PlotFile, WeightsPlotFile, SummaryFile, ManifestFile, TrainShardFile, ValidShardFile, "samples.txt"}
	for _, f := range []Format{FormatF32, FormatI2S, FormatTQ2} {
		fs = append(fs, ExportName(f))
	}
	return fs
}

// RemoveStaleTemps removes the temporaries of dir's run files that a killed
// process left behind (atomicfile's ".NAME.tmp*" names) and returns them.
func RemoveStaleTemps(dir string) []string {
	var removed []string
	for _, f := range RunFiles() {
		matches, _ := filepath.Glob(filepath.Join(dir, filepath.Dir(f), "."+filepath.Base(f)+".tmp*"))
		for _, m := range matches {
			if fi, err := os.Lstat(m); err == nil && fi.Mode().IsRegular() && os.Remove(m) == nil {
				removed = append(removed, m)
			}
		}
	}
	return removed
}

func isZeroOptions(o Options) bool {
	o.Threads = 0
	return o == Options{}
}

// Run trains (or resumes) a model as rc describes, writing checkpoints,
// metrics.jsonl, loss.svg and ternary.svg into rc.OutDir and, at the end,
// the exports, each read back for its bits per parameter and checked to
// have no bias tensor.
// Cancelling ctx stops after the current step with a checkpoint; the error
// then wraps ctx's error and the result holds the steps done.
func Run(ctx context.Context, rc RunConfig) (*RunResult, error) {
	if rc.LogEvery <= 0 {
		rc.LogEvery = 10
	}
	if rc.ValEvery <= 0 {
		rc.ValEvery = 100
	}
	if rc.CkptEvery <= 0 {
		rc.CkptEvery = 100
	}
	if rc.StatsEvery == 0 {
		rc.StatsEvery = rc.ValEvery
	}
	explicitFormats := rc.Formats != nil
	if !explicitFormats {
		rc.Formats = []Format{FormatF32, FormatI2S, FormatTQ2}
	}
	for _, f := range rc.Formats {
		if _, ok := fileTypes[f]; !ok {
			return nil, fmt.Errorf("unknown export format %q (want f32, i2_s or tq2_0)", f)
		}
	}
	pr := &progress{w: rc.Log, tty: isTerminal(rc.Log)}
	ckpt := filepath.Join(rc.OutDir, CheckpointFile)

	var (
		m   *Model
		opt = rc.Options
		hdr CheckpointHeader
		mv  [2][]float32
		err error
	)
	man, err := ReadManifest(rc.OutDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if rc.Resume {
		if m, hdr, mv, err = LoadCheckpoint(ckpt); err != nil {
			return nil, err
		}
		opt = hdr.Options
		var changes []string
		if askC, askO := rc.Model, rc.Options; askC != (Config{}) || !isZeroOptions(askO) {
			if askC == (Config{}) {
				askC = hdr.Config
			}
			if isZeroOptions(askO) {
				askO = hdr.Options
			}
			askO.Threads = hdr.Options.Threads
			askO.Schedule.Steps = askO.Steps
			var refused []*MismatchError
			diffs := diffSettings(hdr.Config, hdr.Options, askC, askO)
			for _, d := range diffs {
				if !d.Changeable || !rc.AllowChanges {
					refused = append(refused, d)
				}
			}
			if len(refused) > 0 {
				return nil, fmt.Errorf("resuming %s: %w", rc.OutDir, joinMismatches(refused))
			}
			if len(diffs) > 0 {
				if err := askO.Validate(); err != nil {
					return nil, err
				}
				if askO.Steps < hdr.Step {
					return nil, fmt.Errorf("resuming %s: -steps %d is fewer than the %d steps done", rc.OutDir, askO.Steps, hdr.Step)
				}
				opt = askO
				for _, d := range diffs {
					c := fmt.Sprintf("step %d: %s %s → %s", hdr.Step, d.Setting, d.Run, d.Asked)
					changes = append(changes, c)
					pr.println("changing %s", c)
				}
			}
		}
		threads := rc.Options.Threads
		if threads > 0 && threads != opt.Threads {
			pr.println("note: resuming with %d threads (the run used %d); results stay deterministic only for one thread count", threads, opt.Threads)
			opt.Threads = threads
		}
		if err := CheckMemory(hdr.Config, opt); err != nil {
			return nil, err
		}
		if man == nil {
			pr.println("note: %s has no %s (made by an older version): its inputs and shards are not verified", rc.OutDir, ManifestFile)
		} else {
			if err := checkResumeInputs(rc, man); err != nil {
				return nil, fmt.Errorf("resuming %s: %w", rc.OutDir, err)
			}
			if len(changes) > 0 {
				man.Options, man.Changes = opt, append(man.Changes, changes...)
			}
		}
		pr.println("resuming %s at step %d/%d", ckpt, hdr.Step, opt.Steps)
	} else {
		if _, err := os.Stat(ckpt); err == nil {
			return nil, fmt.Errorf("%s exists: use -resume to continue that run or choose another -out", ckpt)
		}
		if err := rc.Model.Validate(); err != nil {
			return nil, err
		}
		if err := opt.Validate(); err != nil {
			return nil, err
		}
		if err := CheckMemory(rc.Model, opt); err != nil {
			return nil, err
		}
	}
	c := rc.Model
	if rc.Resume {
		c = hdr.Config
	}
	var formats []Format
	for _, f := range rc.Formats {
		if err := CanExport(c, f); err != nil {
			if explicitFormats {
				return nil, err
			}
			pr.println("note: no %s export: %v", f, err)
			continue
		}
		formats = append(formats, f)
	}
	if err := os.MkdirAll(filepath.Join(rc.OutDir, "data"), 0o755); err != nil {
		return nil, err
	}
	for _, f := range RunFiles() {
		if err := atomicfile.CheckDestination(filepath.Join(rc.OutDir, f)); err != nil {
			return nil, err
		}
	}
	for _, f := range RemoveStaleTemps(rc.OutDir) {
		pr.println("removed %s (left by a killed run)", f)
	}
	if !rc.Resume {
		if m, err = NewModel(rc.Model, opt.Seed); err != nil {
			return nil, err
		}
	}

	trainTok, validTok, man, err := loadData(rc, c, opt, man, pr)
	if err != nil {
		return nil, err
	}
	if err := writeManifest(rc.OutDir, man); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return &RunResult{Steps: hdr.Step, Tokens: hdr.Tokens}, fmt.Errorf("train: stopped before training: %w", err)
	}
	bos := rc.Tokenizer.BOS()
	newline := newlineTokens(rc.Tokenizer, c.Vocab)
	sampler, err := NewBatchSampler(trainTok, c.Ctx, bos, opt.Sampling, opt.Seed, newline)
	if err != nil {
		return nil, err
	}
	tr, err := NewTrainer(m, opt, sampler)
	if err != nil {
		return nil, err
	}
	defer tr.Close()
	if rc.Resume {
		if err := tr.Restore(hdr, mv); err != nil {
			return nil, err
		}
		mv = [2][]float32{}
	}
	windows := ValWindows(len(validTok), c.Ctx)
	if len(windows) == 0 {
		return nil, fmt.Errorf("validation text has %d tokens, fewer than one window of %d", len(validTok), c.Ctx)
	}
	subset := windows
	if rc.ValWindows > 0 && rc.ValWindows < len(windows) {
		subset = windows[:rc.ValWindows]
	}

	metricsPath := filepath.Join(rc.OutDir, MetricsFile)
	mf, err := truncateMetrics(metricsPath, tr.StepsDone())
	if err != nil {
		return nil, err
	}
	defer mf.Close()
	mw := &metricsWriter{f: mf, w: bufio.NewWriter(mf)}
	plot := func() {
		if _, err := PlotRun(rc.OutDir); err != nil {
			pr.println("plot: %v", err)
		}
	}

	if !rc.Resume {
		pr.println("model: %d parameters (%d ternary), dim %d, %d layers, %d heads / %d KV, FFN %d, vocab %d, ctx %d",
			m.NumParams(), m.NumTernary(), c.Dim, c.Layers, c.Heads, c.KVHeads, c.FFN, c.Vocab, c.Ctx)
	}
	pr.println("data: %d training tokens, %d validation tokens (%d windows, %d per periodic check); %d steps of %d×%d tokens, micro-batch %d, %d threads",
		len(trainTok), len(validTok), len(windows), len(subset), opt.Steps, opt.Batch, c.Ctx, opt.Micro, opt.Threads)
	pr.total = opt.Steps

	res := &RunResult{}
	wallStart, startTokens := time.Now(), tr.TokensSeen()
	var ema float64 // step seconds
	for tr.StepsDone() < opt.Steps {
		if err := ctx.Err(); err != nil {
			pr.println("stopping at step %d with a checkpoint", tr.StepsDone())
			if err := tr.SaveCheckpoint(ckpt); err != nil {
				return nil, err
			}
			res.Steps, res.Tokens = tr.StepsDone(), tr.TokensSeen()
			return res, fmt.Errorf("train: stopped after step %d with a checkpoint: %w", tr.StepsDone(), err)
		}
		st := tr.Step()
		redraw := false
		res.Losses = append(res.Losses, st.Loss)
		win := &tr.window
		win.LossSum += st.Loss
		win.Steps++
		win.Tokens += int64(opt.Batch * c.Ctx)
		win.Secs += st.Duration.Seconds()
		if ema == 0 {
			ema = st.Duration.Seconds()
		} else {
			ema = 0.9*ema + 0.1*st.Duration.Seconds()
		}
		last := st.Step == opt.Steps
		eta := time.Duration(ema * float64(opt.Steps-st.Step) * float64(time.Second))
		pr.update(st.Step, float64(opt.Batch*c.Ctx)/st.Duration.Seconds(), st.Loss, st.LR, eta, false)

		if st.Step%rc.LogEvery == 0 || last {
			nT := float64(st.Ternary[0] + st.Ternary[1] + st.Ternary[2])
			mt := Metrics{
				Step: st.Step, Tokens: st.Tokens, Epoch: tr.Epochs(), TrainLoss: win.LossSum / float64(win.Steps),
				LR: st.LR, WD: st.WD, GradNorm: st.GradNorm,
				WNeg: float64(st.Ternary[0]) / nT, WZero: float64(st.Ternary[1]) / nT, WPos: float64(st.Ternary[2]) / nT,
				TokPerSec: float64(win.Tokens) / win.Secs, Elapsed: tr.trainSecs,
			}
			if st.Step%rc.ValEvery == 0 && !last {
				vl, n := tr.Evaluate(validTok, subset, bos)
				ppl := math.Exp(vl)
				mt.ValLoss, mt.ValPPL, mt.ValTokens = &vl, &ppl, n
				pr.println("step %d: train loss %.4f, val loss %.4f (ppl %.2f, %d tokens), %.0f tok/s",
					st.Step, mt.TrainLoss, vl, ppl, n, mt.TokPerSec)
			}
			if err := mw.write(mt); err != nil {
				return nil, err
			}
			redraw = mt.ValLoss != nil
			*win = LogWindow{}
		}
		if rc.StatsEvery > 0 && (st.Step%rc.StatsEvery == 0 || last) {
			if err := mw.write(m.WeightStats(st.Step)); err != nil {
				return nil, err
			}
			redraw = true
		}
		if redraw {
			plot()
		}
		if st.Step%rc.CkptEvery == 0 || last {
			if err := tr.SaveCheckpoint(ckpt); err != nil {
				return nil, err
			}
		}
		if rc.StepDelay > 0 {
			time.Sleep(rc.StepDelay)
		}
		if rc.StopAfter > 0 && st.Step >= rc.StopAfter && !last {
			return res, nil
		}
	}
	if err := ctx.Err(); err != nil {
		res.Steps, res.Tokens = tr.StepsDone(), tr.TokensSeen()
		return res, fmt.Errorf("train: stopped after step %d, before the final evaluation and exports (the checkpoint holds every step): %w", tr.StepsDone(), err)
	}
	res.WallSecs = time.Since(wallStart).Seconds()
	res.WallTokensPerSec = float64(tr.TokensSeen()-startTokens) / res.WallSecs
	pr.update(opt.Steps, float64(tr.TokensSeen())/tr.trainSecs, tr.lastLoss, 0, 0, true)
	pr.println("")

	// Final evaluation on every window, then exports.
	vl, n := tr.Evaluate(validTok, windows, bos)
	ppl := math.Exp(vl)
	res.Steps, res.Tokens, res.TrainSecs = tr.StepsDone(), tr.TokensSeen(), tr.trainSecs
	res.TokensPerSec = float64(res.Tokens) / res.TrainSecs
	res.FinalTrainLoss, res.ValLoss, res.ValPPL, res.ValTokens = tr.lastLoss, vl, ppl, n
	fin := Metrics{Step: res.Steps, Tokens: res.Tokens, Epoch: tr.Epochs(), TrainLoss: tr.lastLoss,
		ValLoss: &vl, ValPPL: &ppl, ValTokens: n, TokPerSec: res.TokensPerSec, Elapsed: res.TrainSecs, Final: true}
	if err := mw.write(fin); err != nil {
		return nil, err
	}
	plot()
	pr.println("done: %d steps, %d tokens in %s of training steps (%.0f tokens/s; %.0f tokens/s over the wall time with validations and checkpoints); final train loss %.4f; validation loss %.4f nats/token (ppl %.2f) over %d tokens",
		res.Steps, res.Tokens, fmtDur(tr.TrainTime()), res.TokensPerSec, res.WallTokensPerSec, res.FinalTrainLoss, vl, ppl, n)
	for _, f := range formats {
		path := filepath.Join(rc.OutDir, ExportName(f))
		if err := Export(path, m, f, ExportOptions{Name: rc.Name, Vocab: rc.Vocab}); err != nil {
			return res, err
		}
		res.Exports = append(res.Exports, path)
		es, err := exportStats(path, f)
		if err != nil {
			return res, err
		}
		res.ExportStats = append(res.ExportStats, es)
		pr.println("wrote %s", es)
	}
	sum, _ := json.MarshalIndent(struct {
		Config  Config    `json:"config"`
		Options Options   `json:"options"`
		Result  RunResult `json:"result"`
	}{c, opt, *res}, "", "  ")
	if err := atomicfile.WriteFile(filepath.Join(rc.OutDir, SummaryFile), atomicfile.Mode, func(w io.Writer) error { _, err := w.Write(sum); return err }); err != nil {
		return res, err
	}
	return res, nil
}

// checkResumeInputs compares the inputs rc names with the run's record.
func checkResumeInputs(rc RunConfig, man *Manifest) error {
	var errs []error
	if rc.TrainText != "" {
		errs = append(errs, checkInput("train", rc.TrainText, &man.Train))
	}
	if rc.ValidText != "" {
		errs = append(errs, checkInput("valid", rc.ValidText, man.Valid))
	}
	if rc.VocabPath != "" && man.Vocab != nil {
		errs = append(errs, checkInput("vocab", rc.VocabPath, man.Vocab))
	}
	if rc.DocSep != "" && rc.DocSep != man.DocSep {
		errs = append(errs, &MismatchError{Setting: "doc-sep", Run: fmt.Sprintf("%q", man.DocSep), Asked: fmt.Sprintf("%q", rc.DocSep)})
	}
	return errors.Join(errs...)
}

// loadData returns the training and validation token streams and the
// run's manifest. A resumed run reads the shards in OutDir/data, which
// must match the manifest's record. A fresh run reuses the shards only
// when the manifest records the same inputs (texts, vocabulary, document
// separator) and the shards are intact; otherwise it tokenizes the texts
// and writes the shards.
func loadData(rc RunConfig, c Config, opt Options, man *Manifest, pr *progress) (train, valid []int32, _ *Manifest, err error) {
	trainShard := filepath.Join(rc.OutDir, TrainShardFile)
	validShard := filepath.Join(rc.OutDir, ValidShardFile)
	read := func(path string, rec *FileRecord) ([]int32, error) {
		if rec != nil {
			got, err := HashFile(path)
			if err != nil {
				return nil, err
			}
			if !got.same(*rec) {
				return nil, fmt.Errorf("%s changed since the run made it: %s, recorded %s", path, got, rec)
			}
		}
		ids, v, err := ReadShard(path)
		if err == nil && v != c.Vocab {
			err = fmt.Errorf("shard %s has vocabulary %d, the model %d", path, v, c.Vocab)
		}
		return ids, err
	}
	if rc.Resume {
		var tr, vr *FileRecord
		if man != nil {
			tr, vr = &man.TrainShard, &man.ValidShard
		}
		if train, err = read(trainShard, tr); err == nil {
			valid, err = read(validShard, vr)
		}
		if err != nil {
			return nil, nil, nil, err
		}
		if man == nil {
			// An older run directory: record what it has now.
			man = &Manifest{Config: c, Options: opt}
			if r, err := HashFile(trainShard); err == nil {
				man.TrainShard = r
			}
			if r, err := HashFile(validShard); err == nil {
				man.ValidShard = r
			}
		}
		return train, valid, man, nil
	}

	// A fresh run: reuse the shards only if they come from these inputs.
	if man != nil {
		if ok, why := sameInputs(rc, man); ok {
			if train, err = read(trainShard, &man.TrainShard); err == nil {
				valid, err = read(validShard, &man.ValidShard)
			}
			if err == nil {
				pr.println("data: reusing %s and %s (made from the same inputs)", trainShard, validShard)
				man.Config, man.Options, man.Changes = c, opt, nil
				return train, valid, man, nil
			}
			pr.println("data: tokenizing again: %v", err)
		} else {
			pr.println("data: tokenizing again: the shards in %s were made from %s", filepath.Join(rc.OutDir, "data"), why)
		}
	}
	man = &Manifest{DocSep: rc.DocSep, Config: c, Options: opt}
	if len(rc.TrainShards) > 0 {
		if train, valid, err = shardTokens(rc, c.Vocab, man, pr); err != nil {
			return nil, nil, nil, err
		}
	} else if rc.Tokenizer == nil {
		return nil, nil, nil, errors.New("train: a tokenizer is needed to tokenize the texts")
	}
	tokenize := func(path string) ([]int32, FileRecord, error) {
		t0 := time.Now()
		ids, rec, err := ReadText(rc.Tokenizer, path, rc.DocSep)
		if err != nil {
			return nil, rec, err
		}
		pr.println("tokenized %s: %d bytes → %d tokens in %s", path, rec.Size, len(ids), time.Since(t0).Round(time.Millisecond))
		return ids, rec, nil
	}
	if len(rc.TrainShards) > 0 {
		// read above
	} else if train, man.Train, err = tokenize(rc.TrainText); err != nil {
		return nil, nil, nil, err
	}
	if len(rc.TrainShards) > 0 {
		// read above
	} else if rc.ValidText != "" {
		var rec FileRecord
		if valid, rec, err = tokenize(rc.ValidText); err != nil {
			return nil, nil, nil, err
		}
		man.Valid = &rec
	} else {
		train, valid = holdOut(train)
		pr.println("validation split: the last %d training tokens", len(valid))
	}
	if rc.VocabPath != "" {
		rec, err := HashFile(rc.VocabPath)
		if err != nil {
			return nil, nil, nil, err
		}
		man.Vocab = &rec
	}
	if err := WriteShard(trainShard, train, c.Vocab); err != nil {
		return nil, nil, nil, err
	}
	if err := WriteShard(validShard, valid, c.Vocab); err != nil {
		return nil, nil, nil, err
	}
	if man.TrainShard, err = HashFile(trainShard); err != nil {
		return nil, nil, nil, err
	}
	if man.ValidShard, err = HashFile(validShard); err != nil {
		return nil, nil, nil, err
	}
	return train, valid, man, nil
}

// sameInputs reports whether rc names the inputs man records, and if not,
// which differ.
func sameInputs(rc RunConfig, man *Manifest) (bool, string) {
	if len(rc.TrainShards) > 0 || len(man.InputShards) > 0 {
		if !sameRecords(rc.TrainShards, man.InputShards) || !sameRecords(rc.ValidShards, man.InputValidShards) {
			return false, "other input shards"
		}
		return true, ""
	}
	tr, err := HashFile(rc.TrainText)
	if err != nil || !tr.same(man.Train) {
		return false, "another training text (" + man.Train.String() + ")"
	}
	switch {
	case rc.ValidText == "" && man.Valid != nil:
		return false, "a separate validation text"
	case rc.ValidText != "" && man.Valid == nil:
		return false, "a held-out part of the training text"
	case rc.ValidText != "":
		if vr, err := HashFile(rc.ValidText); err != nil || !vr.same(*man.Valid) {
			return false, "another validation text (" + man.Valid.String() + ")"
		}
	}
	if rc.DocSep != man.DocSep {
		return false, fmt.Sprintf("another document separator (%q)", man.DocSep)
	}
	if (rc.VocabPath == "") != (man.Vocab == nil) {
		return false, "another vocabulary"
	}
	if rc.VocabPath != "" {
		if vr, err := HashFile(rc.VocabPath); err != nil || !vr.same(*man.Vocab) {
			return false, "another vocabulary (" + man.Vocab.String() + ")"
		}
	}
	return true, ""
}

// newlineTokens reports which tokens end a paragraph: those whose text
// holds a newline, and EOS.
func newlineTokens(tok Tokenizer, vocab int) func(int32) bool {
	nl := make([]bool, vocab)
	for id := range nl {
		nl[id] = bytes.IndexByte(tok.Piece(int32(id)), '\n') >= 0
	}
	if eos := tok.EOS(); eos >= 0 && int(eos) < vocab {
		nl[eos] = true
	}
	return func(t int32) bool { return nl[t] }
}

// holdOut splits the last 5% of the training tokens off as the validation
// set, for runs given no validation text or shards.
func holdOut(tokens []int32) (train, valid []int32) {
	cut := len(tokens) * 95 / 100
	return tokens[:cut], tokens[cut:]
}
