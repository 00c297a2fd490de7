package train

import (
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
	OutDir  string
	Model   Config  // ignored when resuming (the checkpoint's is used)
	Options Options // ignored when resuming, except Threads

	TrainText string // path of the training text
	ValidText string // path of the validation text ("": hold out the last 5% of the training tokens)
	DocSep    string // document separator ("": the text is one document)
	Tokenizer Tokenizer
	Vocab     *gguf.File // copied into the exports' tokenizer keys (may be nil)

	LogEvery   int      // steps between metrics lines (default 10)
	ValEvery   int      // steps between validations (default 100)
	ValWindows int      // windows of the periodic validation (0: all); the final one uses all
	CkptEvery  int      // steps between checkpoints (default 100)
	Formats    []Format // exports at the end (default f32, i2_s, tq2_0)
	Name       string   // general.name of the exports
	Resume     bool     // continue from OutDir/checkpoint.bin

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
}

// Files of a run directory.
const (
	CheckpointFile = "checkpoint.bin"
	MetricsFile    = "metrics.jsonl"
	PlotFile       = "loss.svg"
	SummaryFile    = "summary.json"
)

// ExportName is the file name of a format's export.
func ExportName(f Format) string { return "model-" + string(f) + ".gguf" }

// Run trains (or resumes) a model as rc describes, writing checkpoints,
// metrics.jsonl and loss.svg into rc.OutDir and, at the end, the exports.
// Cancelling ctx stops after the current step with a checkpoint.
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
	if rc.Formats == nil {
		rc.Formats = []Format{FormatF32, FormatI2S, FormatTQ2}
	}
	if err := os.MkdirAll(filepath.Join(rc.OutDir, "data"), 0o755); err != nil {
		return nil, err
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
	if rc.Resume {
		m, hdr, mv, err = LoadCheckpoint(ckpt)
		if err != nil {
			return nil, err
		}
		threads := opt.Threads
		opt = hdr.Options
		if threads > 0 && threads != opt.Threads {
			pr.println("note: resuming with %d threads (the run used %d); results stay deterministic only for one thread count", threads, opt.Threads)
			opt.Threads = threads
		}
		pr.println("resuming %s at step %d/%d", ckpt, hdr.Step, opt.Steps)
	} else {
		if _, err := os.Stat(ckpt); err == nil {
			return nil, fmt.Errorf("%s exists: use -resume to continue that run or choose another -out", ckpt)
		}
		if m, err = NewModel(rc.Model, opt.Seed); err != nil {
			return nil, err
		}
	}
	c := m.Config

	trainTok, validTok, err := loadData(rc, c.Vocab, pr)
	if err != nil {
		return nil, err
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
		if err := PlotSVG(metricsPath, filepath.Join(rc.OutDir, PlotFile)); err != nil {
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
	var (
		lossSum   float64
		nLoss     int
		lastNorm  float64
		intTokens int64
		intSecs   float64
		ema       float64 // step seconds
	)
	for tr.StepsDone() < opt.Steps {
		if err := ctx.Err(); err != nil {
			pr.println("stopping: %v; checkpoint at step %d", err, tr.StepsDone())
			if err := tr.SaveCheckpoint(ckpt); err != nil {
				return nil, err
			}
			return res, err
		}
		st := tr.Step()
		res.Losses = append(res.Losses, st.Loss)
		lossSum += st.Loss
		nLoss++
		lastNorm = st.GradNorm
		intTokens += int64(opt.Batch * c.Ctx)
		intSecs += st.Duration.Seconds()
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
				Step: st.Step, Tokens: st.Tokens, Epoch: tr.Epochs(), TrainLoss: lossSum / float64(nLoss),
				LR: st.LR, WD: st.WD, GradNorm: lastNorm,
				WNeg: float64(st.Ternary[0]) / nT, WZero: float64(st.Ternary[1]) / nT, WPos: float64(st.Ternary[2]) / nT,
				TokPerSec: float64(intTokens) / intSecs, Elapsed: tr.trainSecs,
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
			if mt.ValLoss != nil {
				plot()
			}
			lossSum, nLoss, intTokens, intSecs = 0, 0, 0, 0
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
	for _, f := range rc.Formats {
		path := filepath.Join(rc.OutDir, ExportName(f))
		if err := CanExport(c, f); err != nil {
			pr.println("skipping %s: %v", f, err)
			continue
		}
		if err := Export(path, m, f, ExportOptions{Name: rc.Name, Vocab: rc.Vocab}); err != nil {
			return res, err
		}
		res.Exports = append(res.Exports, path)
		pr.println("wrote %s", path)
	}
	sum, _ := json.MarshalIndent(struct {
		Config  Config    `json:"config"`
		Options Options   `json:"options"`
		Result  RunResult `json:"result"`
	}{c, opt, *res}, "", "  ")
	if err := writeFileAtomic(filepath.Join(rc.OutDir, SummaryFile), func(w io.Writer) error { _, err := w.Write(sum); return err }); err != nil {
		return res, err
	}
	return res, nil
}

// loadData returns the training and validation token streams, tokenizing
// the texts on the first run and reading the shards in OutDir/data after.
func loadData(rc RunConfig, vocab int, pr *progress) (train, valid []int32, err error) {
	trainShard := filepath.Join(rc.OutDir, "data", "train.tok")
	validShard := filepath.Join(rc.OutDir, "data", "valid.tok")
	read := func(path string) ([]int32, error) {
		ids, v, err := ReadShard(path)
		if err == nil && v != vocab {
			err = fmt.Errorf("shard %s has vocabulary %d, the model %d", path, v, vocab)
		}
		return ids, err
	}
	if train, err = read(trainShard); err == nil {
		if valid, err = read(validShard); err == nil {
			return train, valid, nil
		}
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	}
	if rc.Tokenizer == nil {
		return nil, nil, errors.New("train: a tokenizer is needed to tokenize the texts")
	}
	tokenize := func(path string) ([]int32, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		ids := TokenizeText(rc.Tokenizer, string(bytes.ToValidUTF8(b, nil)), rc.DocSep)
		pr.println("tokenized %s: %d bytes → %d tokens in %s", path, len(b), len(ids), time.Since(t0).Round(time.Millisecond))
		return ids, nil
	}
	if train, err = tokenize(rc.TrainText); err != nil {
		return nil, nil, err
	}
	if rc.ValidText != "" {
		if valid, err = tokenize(rc.ValidText); err != nil {
			return nil, nil, err
		}
	} else {
		cut := len(train) * 95 / 100
		train, valid = train[:cut], train[cut:]
		pr.println("validation split: the last %d training tokens", len(valid))
	}
	if err := WriteShard(trainShard, train, vocab); err != nil {
		return nil, nil, err
	}
	if err := WriteShard(validShard, valid, vocab); err != nil {
		return nil, nil, err
	}
	return train, valid, nil
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
