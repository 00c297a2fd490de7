package layout

import (
	"math/rand/v2"
	"testing"
)

func TestI2SRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	vals := make([]int8, 3*I2SBlock)
	for i := range vals {
		vals[i] = int8(r.IntN(3)) - 1
	}
	b := make([]byte, len(vals)/4)
	if err := PackI2S(b, vals); err != nil {
		t.Fatal(err)
	}
	got := make([]int8, len(vals))
	UnpackI2S(got, b)
	for i := range vals {
		if got[i] != vals[i] {
			t.Fatalf("value %d: %d, want %d", i, got[i], vals[i])
		}
	}
	// The documented bit positions: element 0 in bits 7:6 of byte 0,
	// element 32 in bits 5:4, element 97 in bits 1:0 of byte 1, element
	// 128 in the next block's first byte.
	one := func(k int) []byte {
		v := make([]int8, 2*I2SBlock)
		v[k] = 1 // code 2; every other element has code 1 (0b01)
		d := make([]byte, len(v)/4)
		PackI2S(d, v)
		return d
	}
	if d := one(0); d[0] != 0b10_01_01_01 {
		t.Errorf("element 0: byte %08b", d[0])
	}
	if d := one(32); d[0] != 0b01_10_01_01 {
		t.Errorf("element 32: byte %08b", d[0])
	}
	if d := one(97); d[1] != 0b01_01_01_10 {
		t.Errorf("element 97: byte %08b", d[1])
	}
	if d := one(128); d[32] != 0b10_01_01_01 || d[0] != 0b01_01_01_01 {
		t.Errorf("element 128: bytes %08b %08b", d[0], d[32])
	}
	if err := PackI2S(make([]byte, 16), make([]int8, 64)); err == nil {
		t.Error("partial block accepted")
	}
	if err := PackI2S(make([]byte, 32), append(make([]int8, 127), 2)); err == nil {
		t.Error("non-ternary value accepted")
	}
	tail := I2STail(0.5)
	full := append(b, tail[:]...)
	if s, err := I2SScale(full, len(vals)); err != nil || s != 0.5 {
		t.Errorf("scale %v %v", s, err)
	}
	if len(full) != I2SSize(len(vals)) {
		t.Errorf("size %d, want %d", len(full), I2SSize(len(vals)))
	}
	if _, err := I2SScale(full[:10], len(vals)); err == nil {
		t.Error("short tensor accepted")
	}
}

func TestI2STernary(t *testing.T) {
	for _, c := range []struct {
		v    float32
		want int8
	}{{0, 0}, {9.9e-7, 0}, {-9.9e-7, 0}, {1e-6, 0}, {1.0001e-6, 1}, {-1.0001e-6, -1}, {0.25, 1}, {-3, -1}} {
		if got := I2STernary(c.v); got != c.want {
			t.Errorf("I2STernary(%g) = %d, want %d", c.v, got, c.want)
		}
	}
}

func TestNames(t *testing.T) {
	if Block(3, FFNSubNorm) != "blk.3.ffn_sub_norm.weight" || BlockScale(0, AttnQ) != "blk.0.attn_q.scale" {
		t.Error(Block(3, FFNSubNorm), BlockScale(0, AttnQ))
	}
	if Key(ArchBitNet25, HeadCountKV) != "bitnet-25.attention.head_count_kv" {
		t.Error(Key(ArchBitNet25, HeadCountKV))
	}
	for typ, want := range map[string]string{
		"pad": "tokenizer.ggml.padding_token_id", "padding": "tokenizer.ggml.padding_token_id",
		"unk": "tokenizer.ggml.unknown_token_id", "unknown": "tokenizer.ggml.unknown_token_id",
		"sep": "tokenizer.ggml.seperator_token_id", "bos": "tokenizer.ggml.bos_token_id",
		"eot": "tokenizer.ggml.eot_token_id",
	} {
		if got := SpecialTokenKey(typ); got != want {
			t.Errorf("SpecialTokenKey(%q) = %q, want %q", typ, got, want)
		}
	}
	if !IsTernary(FFNDown) || IsTernary(FFNSubNorm) || !HasSubNorms(ArchBitNet) || HasSubNorms(ArchLlama) {
		t.Error("ternary/sub-norm tables")
	}
}

func TestBlockNames(t *testing.T) {
	for name, want := range map[string]bool{
		"blk.0.attn_q.weight": true, "blk.12.ffn_down.weight": true, "blk.0.attn_norm.weight": false,
		"blk.0.attn_q.scale": false, "token_embd.weight": false, "blk.attn_q.weight": false, "x.0.attn_q.weight": false,
	} {
		if got := TernaryBlockWeight(name); got != want {
			t.Errorf("TernaryBlockWeight(%q) = %v", name, got)
		}
	}
	if !IsBlockTensor(Block(3, AttnK), AttnK) || IsBlockTensor(Block(3, AttnK), AttnQ) || IsBlockTensor(TokenEmbd, "token_embd") {
		t.Error("IsBlockTensor")
	}
}
