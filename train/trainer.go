package train

import (
	"fmt"
	"math"
	"time"
)

// Options are the settings of a training run.
type Options struct {
	Batch     int      `json:"batch"` // sequences per optimizer step
	Micro     int      `json:"micro"` // sequences per forward/backward pass (gradient accumulation over Batch/Micro passes)
	Steps     int      `json:"steps"`
	Schedule  Schedule `json:"schedule"`
	Optimizer AdamW    `json:"optimizer"`
	Seed      uint64   `json:"seed"`
	Threads   int      `json:"threads"`
	Sampling  string   `json:"sampling"` // SampleRef or SamplePacked
}

// DefaultOptions returns the reference recipe for a run of steps steps:
// batch 12, AdamW (0.9, 0.95, 1e-8), clipping at 1.0, warm-up 60 steps to
// 1.5e-3, stage 1 to half the peak with weight decay 0.1, stage 2 from 0.2 of
// the peak to 1e-6 without decay, seed 1234.
func DefaultOptions(steps int) Options {
	return Options{
		Batch: 12, Micro: 4, Steps: steps,
		Schedule:  Schedule{Peak: 1.5e-3, Warmup: 60, Steps: steps, Stage1Floor: 0.5, Stage2Start: 0.2, MinLR: 1e-6, WD: 0.1},
		Optimizer: AdamW{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, Clip: 1.0},
		Seed:      1234, Threads: 2, Sampling: SampleRef,
	}
}

// Validate checks the options: sizes within MaxBatch, MaxSteps and
// MaxThreads, finite rates and coefficients in their ranges.
func (o Options) Validate() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	s, a := o.Schedule, o.Optimizer
	switch {
	case o.Batch <= 0 || o.Micro <= 0 || o.Steps <= 0:
		return fmt.Errorf("train: batch %d, micro-batch %d and steps %d must be positive", o.Batch, o.Micro, o.Steps)
	case o.Batch > MaxBatch || o.Steps > MaxSteps:
		return fmt.Errorf("train: batch %d and steps %d must be at most %d and %d", o.Batch, o.Steps, MaxBatch, MaxSteps)
	case o.Micro > o.Batch:
		return fmt.Errorf("train: micro-batch %d exceeds the batch %d", o.Micro, o.Batch)
	case o.Threads < 0 || o.Threads > MaxThreads:
		return fmt.Errorf("train: %d threads: must be between 1 and %d", o.Threads, MaxThreads)
	case s.Steps != o.Steps:
		return fmt.Errorf("train: schedule of %d steps for a run of %d", s.Steps, o.Steps)
	case !(s.Peak > 0) || !finite(s.Peak):
		return fmt.Errorf("train: learning rate %g must be positive and finite", s.Peak)
	case s.Warmup < 0:
		return fmt.Errorf("train: warm-up of %d steps", s.Warmup)
	case !(s.Stage1Floor > 0 && s.Stage1Floor <= 1) || !(s.Stage2Start > 0 && s.Stage2Start <= 1):
		return fmt.Errorf("train: stage fractions %g and %g must be in (0, 1]", s.Stage1Floor, s.Stage2Start)
	case !(s.MinLR >= 0) || !finite(s.MinLR) || !(s.WD >= 0) || !finite(s.WD):
		return fmt.Errorf("train: minimum learning rate %g and weight decay %g must be finite and not negative", s.MinLR, s.WD)
	case !(a.Beta1 >= 0 && a.Beta1 < 1) || !(a.Beta2 >= 0 && a.Beta2 < 1):
		return fmt.Errorf("train: AdamW betas %g and %g must be in [0, 1)", a.Beta1, a.Beta2)
	case !(a.Eps > 0) || !finite(a.Eps) || !(a.Clip >= 0) || !finite(a.Clip):
		return fmt.Errorf("train: AdamW epsilon %g must be positive and clipping %g not negative (both finite)", a.Eps, a.Clip)
	case o.Sampling != SampleRef && o.Sampling != SamplePacked:
		return fmt.Errorf("train: unknown sampling %q (want %s or %s)", o.Sampling, SampleRef, SamplePacked)
	}
	return nil
}

// Trainer trains one model: master weights, AdamW moments, the data
// sampler and the compute engine.
type Trainer struct {
	Model *Model
	Opt   Options

	eng      *engine
	grad     []float32
	m, v     []float32
	chunks   []optChunkRange
	sampler  *BatchSampler
	in, tgt  []int32
	step     int
	tokens   int64
	lastLoss float64

	trainSecs float64 // wall time spent in Step, across resumes

	window LogWindow // steps since the last metrics line (Run keeps it)
}

// LogWindow accumulates the steps since the last metrics line.
type LogWindow struct {
	LossSum float64 `json:"loss_sum"` // Σ step losses
	Steps   int     `json:"steps"`
	Tokens  int64   `json:"tokens"`
	Secs    float64 `json:"secs"` // time in Step
}

// StepStats describes one optimizer step.
type StepStats struct {
	Step     int     // 1-based number of the step just taken
	Loss     float64 // mean training loss of the step's batch (nats/token)
	LR, WD   float64
	GradNorm float64 // before clipping
	Tokens   int64   // tokens seen so far
	Ternary  [3]int  // ternary codes −1, 0, +1 of the weights the step used
	Duration time.Duration
}

// NewTrainer prepares a run of m on the rows of s.
func NewTrainer(m *Model, opt Options, s *BatchSampler) (*Trainer, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	t := &Trainer{Model: m, Opt: opt, sampler: s}
	t.eng = newEngine(m.Config, m.lay, opt.Threads, opt.Micro*m.Config.Ctx)
	n := len(m.W)
	t.grad, t.m, t.v = make([]float32, n), make([]float32, n), make([]float32, n)
	t.chunks = optChunks(m.lay)
	t.in = make([]int32, opt.Micro*m.Config.Ctx)
	t.tgt = make([]int32, opt.Micro*m.Config.Ctx)
	return t, nil
}

// Close stops the worker goroutines.
func (t *Trainer) Close() { t.eng.close() }

// StepsDone is the number of optimizer steps taken.
func (t *Trainer) StepsDone() int { return t.step }

// TokensSeen is the number of training tokens consumed.
func (t *Trainer) TokensSeen() int64 { return t.tokens }

// TrainTime is the wall time spent training (across resumes).
func (t *Trainer) TrainTime() time.Duration { return time.Duration(t.trainSecs * float64(time.Second)) }

// Epochs is the number of passes over the training stream so far.
func (t *Trainer) Epochs() float64 { return t.sampler.Epochs() }

// Restore puts a checkpoint's optimizer and data state into a trainer made
// for its model and options.
func (t *Trainer) Restore(h CheckpointHeader, mv [2][]float32) error {
	if len(mv[0]) != len(t.m) || len(mv[1]) != len(t.v) {
		return fmt.Errorf("train: checkpoint moments have %d values, want %d", len(mv[0]), len(t.m))
	}
	copy(t.m, mv[0])
	copy(t.v, mv[1])
	t.step, t.tokens, t.trainSecs, t.lastLoss = h.Step, h.Tokens, h.TrainSecs, h.LastLoss
	t.window = h.Window
	return t.sampler.Restore(h.Batches)
}

// Step takes one optimizer step: Batch rows in micro-batches of Micro rows,
// gradients accumulated, clipped, then an AdamW update.
func (t *Trainer) Step() StepStats {
	start := time.Now()
	c := t.Model.Config
	opt := t.Opt
	lr, wd := opt.Schedule.At(t.step)
	clear(t.grad)
	e := t.eng
	e.setWeights(t.Model.W)
	total := opt.Batch * c.Ctx
	scale := float32(1 / float64(total))
	var lossSum float64
	for done := 0; done < opt.Batch; {
		nb := min(opt.Micro, opt.Batch-done)
		n := nb * c.Ctx
		for r := 0; r < nb; r++ {
			t.sampler.Next(t.in[r*c.Ctx:(r+1)*c.Ctx], t.tgt[r*c.Ctx:(r+1)*c.Ctx])
		}
		e.forward(t.in[:n], nb)
		lossSum += e.loss(t.tgt[:n], scale, true)
		e.backward(t.in[:n], nb, t.grad)
		done += nb
	}
	norm := gradNorm(e.pool, t.chunks, t.grad)
	k := float32(1)
	if clip := opt.Optimizer.Clip; clip > 0 && norm > clip {
		k = float32(clip / (norm + 1e-6)) // torch.nn.utils.clip_grad_norm_
	}
	opt.Optimizer.step(e.pool, t.chunks, t.Model.W, t.grad, t.m, t.v, t.step+1, lr, wd, k)
	t.step++
	t.tokens += int64(total)
	t.lastLoss = lossSum / float64(total)
	d := time.Since(start)
	t.trainSecs += d.Seconds()
	return StepStats{Step: t.step, Loss: t.lastLoss, LR: lr, WD: wd, GradNorm: norm, Tokens: t.tokens, Ternary: e.hist, Duration: d}
}

// Evaluate returns the mean loss (nats/token) of the model as trained so
// far — the fake-quantized forward, the runtime's I2_S numerics — over the
// evaluation windows at starts of a token stream: each row is bos followed
// by Ctx−1 tokens, scoring Ctx predictions.
func (t *Trainer) Evaluate(tokens []int32, starts []int, bos int32) (loss float64, scored int) {
	c := t.Model.Config
	e := t.eng
	e.setWeights(t.Model.W)
	var sum float64
	for i := 0; i < len(starts); i += t.Opt.Micro {
		nb := min(t.Opt.Micro, len(starts)-i)
		n := nb * c.Ctx
		for r := 0; r < nb; r++ {
			s := starts[i+r]
			in, tg := t.in[r*c.Ctx:(r+1)*c.Ctx], t.tgt[r*c.Ctx:(r+1)*c.Ctx]
			in[0] = bos
			copy(in[1:], tokens[s:s+c.Ctx-1])
			copy(tg, tokens[s:s+c.Ctx])
		}
		e.forward(t.in[:n], nb)
		sum += e.loss(t.tgt[:n], 1, false)
		scored += n
	}
	if scored == 0 {
		return math.NaN(), 0
	}
	return sum / float64(scored), scored
}

// Logits evaluates one sequence (at most Ctx tokens) with the training
// forward pass and returns its logits, one row of Vocab per token.
func (t *Trainer) Logits(tokens []int32) []float32 {
	e := t.eng
	e.setWeights(t.Model.W)
	e.forward(tokens, 1)
	return append([]float32(nil), e.logits[:len(tokens)*t.Model.Config.Vocab]...)
}
