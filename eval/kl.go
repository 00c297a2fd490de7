package eval

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
)

// The logits file of llama-perplexity --kl-divergence-base (all values
// little-endian):
//
//	"_logits_"                       8 bytes
//	n_ctx, n_vocab, n_chunk          int32 each
//	tokens                           n_chunk·n_ctx int32 (the text's tokens, BOS first)
//	per chunk, per scored position   (n_ctx - 1 - n_ctx/2 positions: the second half
//	                                 of the chunk but its last token)
//	  scale, min_log_prob            float32 each
//	  q[n_vocab]                     uint16, padded with one zero to an even count
//
// log p(token i) = scale·q[i] + min_log_prob, where min_log_prob is the
// log-probability of max(min logit, max logit - 16) and scale spans the
// logits from there to the maximum in 65535 steps (q = 0 below the floor).
const logitsMagic = "_logits_"

// rowWords is the number of uint16 words of one stored row.
func rowWords(nVocab int) int { return 2*((nVocab+1)/2) + 4 }

// nearestInt is llama.cpp's nearest_int: round half to even through the
// float32 magic constant 1.5·2^23.
func nearestInt(f float32) int32 {
	v := f + 12582912
	return int32(math.Float32bits(v)&0x007fffff) - 0x00400000
}

// quantizeRow stores the log-softmax of logits into row (rowWords words) as
// llama-perplexity's log_softmax does and returns -log p(tok) (its nll).
func quantizeRow(logits []float32, row []uint16, tok int32) float64 {
	mx, mn := logits[0], logits[0]
	for _, v := range logits[1:] {
		mx = max(mx, v)
		mn = min(mn, v)
	}
	mn = max(mn, mx-16)
	var sum float64
	for _, v := range logits {
		sum += float64(expf(v - mx))
	}
	logSum := float32(math.Log(sum))
	minLogProb := mn - mx - logSum
	scale := (mx - mn) / 65535
	putF32 := func(w []uint16, f float32) {
		b := math.Float32bits(f)
		w[0], w[1] = uint16(b), uint16(b>>16)
	}
	putF32(row[0:2], scale)
	putF32(row[2:4], minLogProb)
	q := row[4:]
	clear(q)
	if scale != 0 {
		inv := 1 / scale
		for i, v := range logits {
			if v > mn {
				q[i] = uint16(nearestInt(inv * (v - mn)))
			}
		}
	}
	return float64(mx + logSum - logits[tok])
}

// BaseOptions control SaveBase.
type BaseOptions struct {
	Ctx int   // tokens per chunk (llama-perplexity's -c)
	BOS int32 // replaces the first token of each chunk; < 0: none
	// Progress gets the running perplexity after each chunk.
	Progress func(chunk int, ppl float64)
}

// PPL is the perplexity over the scored tokens with llama-perplexity's
// uncertainty.
type PPL struct {
	Chunks, Tokens int
	PPL, StdErr    float64
}

// SaveBase computes the perplexity of tokens as llama-perplexity does and
// writes its logits file (see logitsMagic) to w. vocab is the model's
// vocabulary size.
func SaveBase(lm LM, vocab int, tokens []int32, o BaseOptions, w io.Writer) (PPL, error) {
	var r PPL
	nCtx := o.Ctx
	if nCtx < 4 {
		return r, fmt.Errorf("kl-divergence-base: context %d is too small", nCtx)
	}
	if len(tokens) < 2*nCtx {
		return r, fmt.Errorf("kl-divergence-base: need at least %d tokens (2×context), the text has %d", 2*nCtx, len(tokens))
	}
	nChunk := len(tokens) / nCtx
	bw := bufio.NewWriterSize(w, 1<<20)
	le := binary.LittleEndian
	hdr := []byte(logitsMagic)
	hdr = le.AppendUint32(hdr, uint32(nCtx))
	hdr = le.AppendUint32(hdr, uint32(vocab))
	hdr = le.AppendUint32(hdr, uint32(nChunk))
	bw.Write(hdr)
	var b4 [4]byte
	for _, t := range tokens[:nChunk*nCtx] {
		le.PutUint32(b4[:], uint32(t))
		bw.Write(b4[:])
	}
	nv := rowWords(vocab)
	row := make([]uint16, nv)
	rowBytes := make([]byte, 2*nv)
	first := nCtx / 2
	chunk := make([]int32, nCtx)
	var nll, nll2 float64
	count := 0
	for i := 0; i < nChunk; i++ {
		copy(chunk, tokens[i*nCtx:(i+1)*nCtx])
		if o.BOS >= 0 {
			chunk[0] = o.BOS
		}
		lm.Reset()
		logits, err := lm.Forward(chunk, true)
		if err != nil {
			return r, err
		}
		for j := first; j < nCtx-1; j++ {
			v := quantizeRow(logits[j*vocab:(j+1)*vocab], row, tokens[i*nCtx+j+1])
			nll += v
			nll2 += v * v
			for k, x := range row {
				le.PutUint16(rowBytes[2*k:], x)
			}
			if _, err := bw.Write(rowBytes); err != nil {
				return r, err
			}
		}
		count += nCtx - 1 - first
		if o.Progress != nil {
			o.Progress(i+1, math.Exp(nll/float64(count)))
		}
	}
	if err := bw.Flush(); err != nil {
		return r, err
	}
	r.Chunks, r.Tokens = nChunk, count
	m := nll / float64(count)
	r.PPL = math.Exp(m)
	if v := nll2/float64(count) - m*m; v > 0 {
		r.StdErr = math.Sqrt(v/float64(count-1)) * r.PPL
	}
	return r, nil
}

// BaseHeader is the head of a logits file.
type BaseHeader struct {
	Ctx, Vocab, Chunks int
	Tokens             []int32
}

// ReadBaseHeader reads and checks the head of a logits file of size bytes
// (< 0: unknown, no size check) and leaves r at the first stored row.
func ReadBaseHeader(r io.Reader, size int64) (BaseHeader, error) {
	var h BaseHeader
	var hdr [20]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return h, fmt.Errorf("not a llama-perplexity logits file (header: %w)", err)
	}
	if string(hdr[:8]) != logitsMagic {
		return h, errors.New("not a llama-perplexity logits file (no _logits_ magic)")
	}
	le := binary.LittleEndian
	nCtx, nVocab, nChunk := int32(le.Uint32(hdr[8:])), int32(le.Uint32(hdr[12:])), int32(le.Uint32(hdr[16:]))
	if nCtx < 4 || nVocab < 1 || nChunk < 1 {
		return h, fmt.Errorf("logits file: bad header (n_ctx %d, n_vocab %d, n_chunk %d)", nCtx, nVocab, nChunk)
	}
	h.Ctx, h.Vocab, h.Chunks = int(nCtx), int(nVocab), int(nChunk)
	rows := int64(h.Ctx - 1 - h.Ctx/2)
	want := 20 + 4*int64(h.Ctx)*int64(h.Chunks) + int64(h.Chunks)*rows*2*int64(rowWords(h.Vocab))
	if size >= 0 && size != want {
		return h, fmt.Errorf("logits file: %d bytes, but n_ctx %d, n_vocab %d and %d chunks make %d", size, h.Ctx, h.Vocab, h.Chunks, want)
	}
	if size < 0 && int64(h.Ctx)*int64(h.Chunks) > 1<<28 {
		return h, fmt.Errorf("logits file: %d chunks of %d tokens is implausibly large", h.Chunks, h.Ctx)
	}
	buf := make([]byte, 4*h.Ctx*h.Chunks)
	if _, err := io.ReadFull(r, buf); err != nil {
		return h, fmt.Errorf("logits file: reading the tokens: %w", err)
	}
	h.Tokens = make([]int32, h.Ctx*h.Chunks)
	for i := range h.Tokens {
		h.Tokens[i] = int32(le.Uint32(buf[4*i:]))
	}
	return h, nil
}

// KLResult holds what llama-perplexity --kl-divergence reports.
type KLResult struct {
	Count int
	// The sums of llama-perplexity's kl_divergence_result.
	SumNLL, SumNLL2, SumNLLBase, SumNLLBase2, SumNLLNLLBase float64
	SumKLD, SumKLD2                                         float64
	SumPDiff, SumPDiff2, SumPDiff4                          float64
	MaxPDiff                                                float32
	SameTop                                                 int
	// Per scored token, in order.
	KLD, PDiff []float32
}

// klRow adds one position: logits of the model under test against the
// stored base row, as llama-perplexity's log_softmax(…, kld) does.
func (k *KLResult) klRow(logits []float32, base []uint16, tok int32) {
	mx := logits[0]
	imax := 0
	for i, v := range logits[1:] {
		if v > mx {
			mx, imax = v, i+1
		}
	}
	var sumExp float64
	for _, v := range logits {
		sumExp += float64(expf(v - mx))
	}
	logSum := float32(math.Log(sumExp))
	scale := math.Float32frombits(uint32(base[0]) | uint32(base[1])<<16)
	minLogProb := math.Float32frombits(uint32(base[2]) | uint32(base[3])<<16)
	q := base[4:]
	nll := mx + logSum - logits[tok]
	k.SumNLL += float64(nll)
	k.SumNLL2 += float64(nll * nll)
	nllBase := -(float32(scale*float32(q[tok])) + minLogProb)
	k.SumNLLBase += float64(nllBase)
	k.SumNLLBase2 += float64(nllBase * nllBase)
	k.SumNLLNLLBase += float64(nll * nllBase)
	mx += logSum
	var sum float64
	imaxBase := -1
	var pMax float32
	for i, v := range logits {
		pl := float32(scale*float32(q[i])) + minLogProb
		if i == 0 || pl > pMax {
			pMax, imaxBase = pl, i
		}
		if pl > -16 {
			sum += float64(expf(pl) * (pl - v + mx))
		}
	}
	k.SumKLD += sum
	k.SumKLD2 += sum * sum
	k.Count++
	if imax == imaxBase {
		k.SameTop++
	}
	pBase := expf(-nllBase)
	p := expf(-nll)
	d := p - pBase
	k.SumPDiff += float64(d)
	d2 := float64(d * d)
	k.SumPDiff2 += d2
	k.SumPDiff4 += d2 * d2
	k.MaxPDiff = max(k.MaxPDiff, float32(math.Abs(float64(d))))
	k.KLD = append(k.KLD, float32(sum))
	k.PDiff = append(k.PDiff, d)
}

// meanUnc is llama-perplexity's mean_and_uncertainty.
func meanUnc(sum, sum2 float64, n int) (float64, float64) {
	if n < 1 {
		return 0, 0
	}
	f := sum / float64(n)
	df := sum2/float64(n) - f*f
	if df > 0 && n > 10 {
		df = math.Sqrt(df / float64(n-1))
	} else {
		df = 0
	}
	return f, df
}

func covariance(a, b, ab float64, n int) float64 {
	if n < 10 {
		return 0
	}
	return (ab/float64(n) - (a/float64(n))*(b/float64(n))) / float64(n-1)
}

// Stats are the summary numbers of a KL comparison.
type Stats struct {
	PPL, PPLUnc, PPLBase, PPLBaseUnc float64
	LnRatio, LnRatioUnc              float64 // mean ln(PPL(Q)/PPL(base))
	Ratio, RatioUnc                  float64 // PPL(Q)/PPL(base)
	Cor                              float64 // of ln PPL(Q) and ln PPL(base)
	KLD, KLDUnc                      float64
	SameTop, SameTopUnc              float64 // fractions
	RMSPDiff, RMSPDiffUnc            float64
}

// Stats computes the summary as llama-perplexity prints it.
func (k *KLResult) Stats() Stats {
	var s Stats
	lp, lpu := meanUnc(k.SumNLL, k.SumNLL2, k.Count)
	s.PPL, s.PPLUnc = math.Exp(lp), math.Exp(lp)*lpu
	lb, lbu := meanUnc(k.SumNLLBase, k.SumNLLBase2, k.Count)
	s.PPLBase, s.PPLBaseUnc = math.Exp(lb), math.Exp(lb)*lbu
	cov := covariance(k.SumNLL, k.SumNLLBase, k.SumNLLNLLBase, k.Count)
	s.Cor = cov / (lpu * lbu)
	s.LnRatio = lp - lb
	s.LnRatioUnc = math.Sqrt(lpu*lpu + lbu*lbu - 2*cov)
	s.Ratio = math.Exp(s.LnRatio)
	s.RatioUnc = s.Ratio * s.LnRatioUnc
	s.KLD, s.KLDUnc = meanUnc(k.SumKLD, k.SumKLD2, k.Count)
	mse, mseu := meanUnc(k.SumPDiff2, k.SumPDiff4, k.Count)
	s.RMSPDiff = math.Sqrt(mse)
	s.RMSPDiffUnc = 0.5 / s.RMSPDiff * mseu
	s.SameTop = float64(k.SameTop) / float64(k.Count)
	s.SameTopUnc = math.Sqrt(s.SameTop * (1 - s.SameTop) / float64(k.Count-1))
	return s
}

// CompareOptions control Compare.
type CompareOptions struct {
	BOS int32     // replaces the first token of each chunk; < 0: none
	Out io.Writer // llama-perplexity's table and statistics; nil: none
}

// Compare evaluates the chunks of a logits file with lm (whose vocabulary
// must have h.Vocab tokens), reading the stored rows from r (positioned
// after the header), and prints llama-perplexity's per-chunk table and
// final statistics.
func Compare(lm LM, h BaseHeader, r io.Reader, o CompareOptions) (*KLResult, error) {
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	nCtx, V := h.Ctx, h.Vocab
	first := nCtx / 2
	nRows := nCtx - 1 - first
	nv := rowWords(V)
	buf := make([]byte, 2*nv*nRows)
	rows := make([]uint16, nv*nRows)
	k := &KLResult{}
	chunk := make([]int32, nCtx)
	br := bufio.NewReaderSize(r, 1<<20)
	for i := 0; i < h.Chunks; i++ {
		if _, err := io.ReadFull(br, buf); err != nil {
			return k, fmt.Errorf("kl-divergence: reading the log-probs of chunk %d: %w", i+1, err)
		}
		for j := range rows {
			rows[j] = binary.LittleEndian.Uint16(buf[2*j:])
		}
		copy(chunk, h.Tokens[i*nCtx:(i+1)*nCtx])
		if o.BOS >= 0 {
			chunk[0] = o.BOS
		}
		lm.Reset()
		logits, err := lm.Forward(chunk, true)
		if err != nil {
			return k, err
		}
		if len(logits) < nCtx*V {
			return k, fmt.Errorf("kl-divergence: the model's rows are not %d wide", V)
		}
		for j := 0; j < nRows; j++ {
			p := first + j
			k.klRow(logits[p*V:(p+1)*V], rows[j*nv:(j+1)*nv], h.Tokens[i*nCtx+p+1])
		}
		if i == 0 {
			fmt.Fprintf(out, "\nchunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence              Δp RMS            Same top p\n")
		}
		s := k.Stats()
		fmt.Fprintf(out, "%4d", i+1)
		fmt.Fprintf(out, "    %9.4f ± %9.4f", s.PPL, s.PPLUnc)
		fmt.Fprintf(out, "    %10.5f ± %10.5f", s.LnRatio, s.LnRatioUnc)
		fmt.Fprintf(out, "    %10.5f ± %10.5f", s.KLD, s.KLDUnc)
		fmt.Fprintf(out, "    %6.3f ± %6.3f %%", 100*s.RMSPDiff, 100*s.RMSPDiffUnc)
		fmt.Fprintf(out, "    %6.3f ± %6.3f %%", 100*s.SameTop, 100*s.SameTopUnc)
		fmt.Fprintf(out, "\n")
	}
	fmt.Fprintf(out, "\n")
	if k.Count >= 100 {
		k.PrintStats(out)
	}
	return k, nil
}

// percentile is llama-perplexity's linear interpolation between sorted
// values.
func percentile(v []float32, fraction float32) float32 {
	if fraction <= 0 {
		return v[0]
	}
	if fraction >= 1 {
		return v[len(v)-1]
	}
	p := fraction * float32(len(v)-1)
	ip := int(p)
	p -= float32(ip)
	return float32((1-p)*v[ip]) + float32(p*v[min(ip+1, len(v)-1)])
}

func median(v []float32) float32 {
	n := len(v)
	if n%2 == 0 {
		return 0.5 * (v[n/2] + v[n/2-1])
	}
	return v[n/2]
}

// Quantiles of the per-token KL divergence: maximum, 99.9 %, 99 %, 90 %,
// median, 10 %, 5 %, 1 %, minimum.
func (k *KLResult) Quantiles() [9]float32 {
	v := slices.Clone(k.KLD)
	slices.Sort(v)
	return [9]float32{v[len(v)-1], percentile(v, 0.999), percentile(v, 0.99), percentile(v, 0.9),
		median(v), percentile(v, 0.1), percentile(v, 0.05), percentile(v, 0.01), v[0]}
}

// PrintStats prints llama-perplexity's final statistics (it prints them
// for 100 or more tokens). The fork prints its 90 % line as a second
// "99.0%" line; this prints the 90 % value as upstream llama.cpp does.
func (k *KLResult) PrintStats(w io.Writer) {
	s := k.Stats()
	fmt.Fprintf(w, "====== Perplexity statistics ======\n")
	fmt.Fprintf(w, "Mean PPL(Q)                   : %10.6f ± %10.6f\n", s.PPL, s.PPLUnc)
	fmt.Fprintf(w, "Mean PPL(base)                : %10.6f ± %10.6f\n", s.PPLBase, s.PPLBaseUnc)
	fmt.Fprintf(w, "Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", 100*s.Cor)
	fmt.Fprintf(w, "Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", s.LnRatio, s.LnRatioUnc)
	fmt.Fprintf(w, "Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f\n", s.Ratio, s.RatioUnc)
	cov := covariance(k.SumNLL, k.SumNLLBase, k.SumNLLNLLBase, k.Count)
	pplCov := s.PPL * s.PPLBase * cov
	fmt.Fprintf(w, "Mean PPL(Q)-PPL(base)         : %10.6f ± %10.6f\n", s.PPL-s.PPLBase,
		math.Sqrt(s.PPLUnc*s.PPLUnc+s.PPLBaseUnc*s.PPLBaseUnc-2*pplCov))
	fmt.Fprintf(w, "\n====== KL divergence statistics ======\n")
	fmt.Fprintf(w, "Mean    KLD: %10.6f ± %10.6f\n", s.KLD, s.KLDUnc)
	q := k.Quantiles()
	for i, name := range []string{"Maximum KLD", "99.9%   KLD", "99.0%   KLD", "90.0%   KLD", "Median  KLD", "10.0%   KLD", " 5.0%   KLD", " 1.0%   KLD", "Minimum KLD"} {
		fmt.Fprintf(w, "%s: %10.6f\n", name, q[i])
	}
	fmt.Fprintf(w, "\n====== Token probability statistics ======\n")
	pd, pdu := meanUnc(k.SumPDiff, k.SumPDiff2, k.Count)
	fmt.Fprintf(w, "Mean    Δp: %6.3f ± %5.3f %%\n", 100*pd, 100*pdu)
	v := slices.Clone(k.PDiff)
	slices.Sort(v)
	fmt.Fprintf(w, "Maximum Δp: %6.3f%%\n", 100*v[len(v)-1])
	for _, f := range []struct {
		name string
		p    float32
	}{{"99.9%", 0.999}, {"99.0%", 0.99}, {"95.0%", 0.95}, {"90.0%", 0.9}, {"75.0%", 0.75}} {
		fmt.Fprintf(w, "%s   Δp: %6.3f%%\n", f.name, 100*percentile(v, f.p))
	}
	fmt.Fprintf(w, "Median  Δp: %6.3f%%\n", 100*median(v))
	for _, f := range []struct {
		name string
		p    float32
	}{{"25.0%", 0.25}, {"10.0%", 0.1}, {" 5.0%", 0.05}, {" 1.0%", 0.01}, {" 0.1%", 0.001}} {
		fmt.Fprintf(w, "%s   Δp: %6.3f%%\n", f.name, 100*percentile(v, f.p))
	}
	fmt.Fprintf(w, "Minimum Δp: %6.3f%%\n", 100*v[0])
	fmt.Fprintf(w, "RMS Δp    : %6.3f ± %5.3f %%\n", 100*s.RMSPDiff, 100*s.RMSPDiffUnc)
	fmt.Fprintf(w, "Same top p: %6.3f ± %5.3f %%\n", 100*s.SameTop, 100*s.SameTopUnc)
}
