package runtime

import "fmt"

// Sampler picks the next token from a row of logits.
type Sampler interface {
	Sample(logits []float32) int32
	Accept(tok int32)
}

// GenerateOptions control Generate.
type GenerateOptions struct {
	MaxTokens int              // stop after this many new tokens (< 0: until EOS or the context is full)
	IsEOG     func(int32) bool // end-of-generation test; nil never stops
	IgnoreEOS bool

	// OnPromptLogits receives one row of logits per prompt position.
	OnPromptLogits func(row []float32)
	// OnToken receives each new token and the logits that produced it;
	// returning false stops generation.
	OnToken func(tok int32, logits []float32) bool
	// OnLogits receives the logits after each new token is evaluated (the
	// rows that predict the following token).
	OnLogits func(row []float32)
	// OnPromptDone is called after the prompt has been evaluated.
	OnPromptDone func()
}

// Generate evaluates prompt in one batched pass, then samples and evaluates
// one token at a time. It returns the new tokens. Running past the context
// is an error wrapping ErrContextFull, with the tokens made so far.
func (s *State) Generate(prompt []int32, smp Sampler, o GenerateOptions) ([]int32, error) {
	V := s.m.Vocab
	for _, t := range prompt {
		smp.Accept(t)
	}
	logits, err := s.Forward(prompt, o.OnPromptLogits != nil)
	if err != nil {
		return nil, err
	}
	if o.OnPromptLogits != nil {
		for r := range prompt {
			o.OnPromptLogits(logits[r*V : (r+1)*V])
		}
		logits = logits[(len(prompt)-1)*V:]
	}
	if o.OnPromptDone != nil {
		o.OnPromptDone()
	}
	var out []int32
	for o.MaxTokens < 0 || len(out) < o.MaxTokens {
		tok := smp.Sample(logits)
		smp.Accept(tok)
		if !o.IgnoreEOS && o.IsEOG != nil && o.IsEOG(tok) {
			break
		}
		out = append(out, tok)
		if o.OnToken != nil && !o.OnToken(tok, logits) {
			break
		}
		if len(out) == o.MaxTokens {
			break
		}
		if s.pos >= s.ctx {
			return out, fmt.Errorf("%w after %d new tokens (context %d)", ErrContextFull, len(out), s.ctx)
		}
		s.one[0] = tok
		if logits, err = s.Forward(s.one[:], false); err != nil {
			return out, err
		}
		if o.OnLogits != nil {
			o.OnLogits(logits)
		}
	}
	return out, nil
}
