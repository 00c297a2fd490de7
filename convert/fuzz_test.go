package convert

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzParseModelProto: arbitrary bytes as a SentencePiece tokenizer.model
// give pieces or an error, never a panic or a read past the input.
func FuzzParseModelProto(f *testing.F) {
	f.Add([]byte{0x0a, 0x09, 0x0a, 0x03, 'a', 'b', 'c', 0x15, 0, 0, 0x80, 0x3f})
	f.Add([]byte{0x0a, 0x05, 0x0a, 0x01, 'x', 0x18, 0x03, 0x12, 0x00})
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		pieces, err := parseModelProto(b)
		if err != nil {
			return
		}
		n := 0
		for _, p := range pieces {
			n += len(p.text)
		}
		if n > len(b) {
			t.Fatalf("%d bytes of piece text from %d input bytes", n, len(b))
		}
	})
}

// FuzzConfig: arbitrary config.json contents are accepted with bounded,
// consistent shapes or refused with an error.
func FuzzConfig(f *testing.F) {
	f.Add([]byte(`{"architectures":["BitNetForCausalLM"],"hidden_size":256,"num_hidden_layers":4,"num_attention_heads":4,"num_key_value_heads":1,"intermediate_size":768,"vocab_size":4096,"max_position_embeddings":4096,"rope_theta":500000.0,"rms_norm_eps":1e-5}`))
	f.Add([]byte(`{"architectures":["LlamaForCausalLM"],"hidden_size":-1}`))
	f.Add([]byte(`{"architectures":[],"hidden_size":1e400}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var raw map[string]any
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if dec.Decode(&raw) != nil {
			return
		}
		c, err := parseConfig(raw)
		if err != nil {
			return
		}
		if c.hidden <= 0 || c.hidden > maxDim || c.layers <= 0 || c.layers > maxLayers || c.heads <= 0 ||
			c.kvHeads <= 0 || c.heads%c.kvHeads != 0 || c.vocab <= 0 || c.vocab > maxVocab || c.ffn <= 0 || c.headDim <= 0 {
			t.Fatalf("accepted config with bad shape: %+v", c)
		}
	})
}
