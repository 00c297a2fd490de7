package bitnet

import (
	"github.com/bitnet-go/bitnet/chat"
	"github.com/bitnet-go/bitnet/runtime"
)

// Runtime gives the model's weights to engines that schedule their own
// forward passes, such as package serve's continuous-batching scheduler.
// The weights stay valid until Close.
func (m *Model) Runtime() *runtime.Model { return m.lm.Model }

// ChatPrompt renders msgs with tmpl (nil: the model's template), ending
// with the opening of the assistant's answer, and tokenizes the text the
// way Chat does (special tokens parsed; a BOS the template wrote is not
// added twice). It returns the tokens and the rendered text.
func (m *Model) ChatPrompt(tmpl *chat.Template, msgs []chat.Message) ([]int32, string, error) {
	if tmpl == nil {
		tmpl = m.tmpl
	}
	if tmpl == nil {
		return nil, "", ErrNoChatTemplate
	}
	text, err := tmpl.Render(msgs, true)
	if err != nil {
		return nil, "", err
	}
	return m.tokenizeChat(text), text, nil
}
