package convert

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitnet-go/bitnet/layout"
)

func TestDetectPre(t *testing.T) {
	llama3 := `{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":` + mustJSON(llama3Pattern) + `},"behavior":"Isolated","invert":false},{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false}]}`
	cases := []struct{ json, want, err string }{
		{llama3, "llama-bpe", ""},
		{`{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true}`, "gpt-2", ""},
		{`{"type":"ByteLevel","add_prefix_space":true}`, "", "--pre"},
		{strings.Replace(llama3, `\\p{N}{1,3}`, `\\p{N}`, 1), "", "unrecognized"},
		{`null`, "", "no pre_tokenizer"},
	}
	for _, c := range cases {
		got, err := detectPre(json.RawMessage(c.json))
		if got != c.want || (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%.60s: %q, %v; want %q, error with %q", c.json, got, err, c.want, c.err)
		}
	}
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestMergesFormats(t *testing.T) {
	for _, m := range []string{`["a b","ab c"]`, `[["a","b"],["ab","c"]]`} {
		tj := &tokenizerJSON{}
		tj.Model.Merges = json.RawMessage(m)
		got, err := tj.merges()
		if err != nil || strings.Join(got, "|") != "a b|ab c" {
			t.Errorf("%s: %v %v", m, got, err)
		}
	}
	tj := &tokenizerJSON{}
	tj.Model.Merges = json.RawMessage(`[1,2]`)
	if _, err := tj.merges(); err == nil {
		t.Error("numeric merges accepted")
	}
}

func TestBPEVocabs(t *testing.T) {
	tj := &tokenizerJSON{}
	tj.Model.Vocab = map[string]int64{"a": 0, "b": 1, "ab": 2}
	tj.AddedTokens = []addedToken{{4, "<e>", true}, {3, "<s>", true}}
	toks, scores, types, err := bpeVocabMS(tj)
	if err != nil || strings.Join(toks, ",") != "a,b,ab,<s>,<e>" || scores[3] != -1000 || scores[0] != 0 || types[4] != layout.TokenControl || types[1] != layout.TokenNormal {
		t.Errorf("ms vocab: %v %v %v %v", toks, scores, types, err)
	}
	tj.AddedTokens = []addedToken{{5, "<e>", true}}
	if _, _, _, err := bpeVocabMS(tj); err == nil || !strings.Contains(err.Error(), "without gaps") {
		t.Errorf("gap accepted: %v", err)
	}
	tj.AddedTokens = []addedToken{{4, "<e>", true}, {5, "<u>", false}}
	toks, types, err = bpeVocabHF(tj, 7)
	want := "a,b,ab,[PAD3],<e>,<u>,[PAD6]"
	if err != nil || strings.Join(toks, ",") != want || types[3] != layout.TokenUserDefined || types[4] != layout.TokenControl || types[5] != layout.TokenUserDefined {
		t.Errorf("hf vocab: %v %v %v", toks, types, err)
	}
	if _, _, err := bpeVocabHF(tj, 5); err == nil {
		t.Error("token id past vocab_size accepted")
	}
	tj.Model.Vocab["dup"] = 1
	if _, _, _, err := bpeVocabMS(tj); err == nil {
		t.Error("duplicate vocabulary id accepted")
	}
}

// piece encodes one SentencePiece message.
func piece(text string, score float32, typ int) []byte {
	var p []byte
	p = append(p, 0x0a, byte(len(text)))
	p = append(p, text...)
	p = append(p, 0x15)
	p = binary.LittleEndian.AppendUint32(p, math.Float32bits(score))
	if typ != spNormal {
		p = append(p, 0x18, byte(typ))
	}
	return append([]byte{0x0a, byte(len(p))}, p...)
}

func TestSentencePiece(t *testing.T) {
	dir := t.TempDir()
	var model []byte
	model = append(model, piece("<unk>", 0, spUnknown)...)
	model = append(model, piece("<s>", 0, spControl)...)
	model = append(model, piece("<0x0A>", 0, spByte)...)
	model = append(model, piece("▁the", -1.5, spNormal)...)
	model = append(model, piece("<u>", 0, spUserDefined)...)
	model = append(model, 0x12, 0x02, 0x08, 0x01) // trainer_spec, skipped
	os.WriteFile(filepath.Join(dir, "tokenizer.model"), model, 0o644)
	os.WriteFile(filepath.Join(dir, "added_tokens.json"), []byte(`{"<extra>": 5, "▁the": 3}`), 0o644)
	toks, scores, types, err := spmVocab(dir, 8)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(toks, ",") != "<unk>,<s>,<0x0A>,▁the,<u>,<extra>,[PAD1],[PAD2]" {
		t.Errorf("tokens %v", toks)
	}
	wantTypes := []int32{layout.TokenUnknown, layout.TokenControl, layout.TokenByte, layout.TokenNormal, layout.TokenNormal, layout.TokenUserDefined, layout.TokenUnused, layout.TokenUnused}
	for i := range wantTypes {
		if types[i] != wantTypes[i] {
			t.Errorf("type %d = %d, want %d", i, types[i], wantTypes[i])
		}
	}
	if scores[3] != -1.5 || scores[5] != -1000 || scores[7] != -1000 {
		t.Errorf("scores %v", scores)
	}
	if _, _, _, err := spmVocab(dir, 4); err == nil {
		t.Error("more pieces than vocab_size accepted")
	}
	for _, bad := range [][]byte{{0x0a, 0x10, 0x0a}, {0x0a}, {0x08}, {0x0b}, {0x0a, 0x02, 0x15, 0x00}} {
		if _, err := parseModelProto(bad); err == nil {
			t.Errorf("%x accepted", bad)
		}
	}
}

func TestSpecialVocabSources(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) { os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644) }
	write("tokenizer_config.json", `{"bos_token":{"content":"<s>"},"eos_token":"</s>","pad_token":null,"add_bos_token":true,"chat_template":"T"}`)
	write("generation_config.json", `{"eos_token_id":[7,8],"bos_token_id":1}`)
	cfg := &config{raw: jsonMap{"pad_token_id": json.Number("9"), "unk_token_id": json.Number("99")}}
	tj := &tokenizerJSON{AddedTokens: []addedToken{{0, "<s>", true}}}
	s, err := loadSpecialVocab(dir, tj, cfg, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range s.ids {
		got = append(got, x.typ+"="+string(rune('0'+x.id)))
	}
	// bos from tokenizer_config via added_tokens; pad from config.json;
	// unk 99 is out of range; eos from generation_config's first id.
	if strings.Join(got, ",") != "bos=0,pad=9,eos=7" {
		t.Errorf("ids %v", got)
	}
	if len(s.add) != 1 || !s.add[0].v || s.chatTemplate == nil || *s.chatTemplate != "T" {
		t.Errorf("add %v template %v", s.add, s.chatTemplate)
	}
}
