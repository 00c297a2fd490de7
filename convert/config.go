package convert

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// maxJSONSize bounds every JSON file read from a model directory
// (tokenizer.json of a 128k vocabulary is about 9 MB).
const maxJSONSize = 256 << 20

// readJSON decodes dir/name into v (numbers as json.Number). A missing file
// returns an error satisfying errors.Is(err, fs.ErrNotExist).
func readJSON(dir, name string, v any) error {
	p := filepath.Join(dir, name)
	b, err := readFile(p, maxJSONSize)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}

// readFile reads a regular file of at most limit bytes (a FIFO or device
// named like a model file is refused rather than read or waited on).
func readFile(p string, limit int64) ([]byte, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", p)
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d this file may have", p, st.Size(), limit)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: more than %d bytes", p, limit)
	}
	return b, nil
}

func fileExists(dir, name string) bool {
	st, err := os.Stat(filepath.Join(dir, name))
	return err == nil && st.Mode().IsRegular()
}

// jsonMap is a decoded JSON object with typed accessors.
type jsonMap map[string]any

func (m jsonMap) has(k string) bool { v, ok := m[k]; return ok && v != nil }

// int returns an integer value; ok is false when absent or null.
func (m jsonMap) int(k string) (int64, bool, error) {
	v, ok := m[k]
	if !ok || v == nil {
		return 0, false, nil
	}
	n, isNum := v.(json.Number)
	if !isNum {
		return 0, false, fmt.Errorf("%s is %v, not an integer", k, v)
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("%s is %v, not an integer", k, v)
	}
	return i, true, nil
}

func (m jsonMap) float(k string) (float64, bool, error) {
	v, ok := m[k]
	if !ok || v == nil {
		return 0, false, nil
	}
	n, isNum := v.(json.Number)
	if !isNum {
		return 0, false, fmt.Errorf("%s is %v, not a number", k, v)
	}
	f, err := n.Float64()
	if err != nil {
		return 0, false, fmt.Errorf("%s is %v, not a number", k, v)
	}
	return f, true, nil
}

func (m jsonMap) str(k string) string {
	s, _ := m[k].(string)
	return s
}

func (m jsonMap) obj(k string) jsonMap {
	o, _ := m[k].(map[string]any)
	return o
}

// config is what the converter needs from config.json.
type config struct {
	raw          jsonMap
	arch         string // architectures[0]
	hidden       int
	layers       int
	heads        int
	kvHeads      int
	hasKVHeads   bool
	ffn          int
	vocab        int
	ctx          int
	hasCtx       bool
	headDim      int // head_dim, or hidden/heads
	hasHeadDim   bool
	ropeTheta    float64
	hasRopeTheta bool
	rmsEps       float64
	hasRMSEps    bool
	act          string
	quantMethod  string
	// scaleMultiplies: the packed weights' weight_scale multiplies the
	// codes (transformers' AutoBitLinear, linear_class "autobitlinear")
	// instead of dividing them (BitLinear, "bitlinear", the default).
	scaleMultiplies bool
	tied            bool
}

// Bounds on shapes read from config.json, so a hostile file cannot make
// the converter plan absurd tensors (the checkpoint's own shapes are
// checked against these values before anything is read).
const (
	maxDim    = 1 << 20
	maxLayers = 1 << 12
	maxVocab  = 1 << 24
)

func loadConfig(dir string) (*config, error) {
	var raw map[string]any
	if err := readJSON(dir, "config.json", &raw); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: no config.json (is this a Hugging Face model directory?)", dir)
		}
		return nil, err
	}
	return parseConfig(raw)
}

// parseConfig validates a decoded config.json (numbers as json.Number).
func parseConfig(raw map[string]any) (*config, error) {
	m := jsonMap(raw)
	c := &config{raw: m}
	archs, _ := m["architectures"].([]any)
	if len(archs) == 0 {
		return nil, errors.New("config.json: no architectures")
	}
	c.arch, _ = archs[0].(string)
	get := func(dst *int, lim int64, required bool, keys ...string) (bool, error) {
		for _, k := range keys {
			v, ok, err := m.int(k)
			if err != nil {
				return false, fmt.Errorf("config.json: %w", err)
			}
			if !ok {
				continue
			}
			if v <= 0 || v > lim {
				return false, fmt.Errorf("config.json: %s = %d is out of range (1..%d)", k, v, lim)
			}
			*dst = int(v)
			return true, nil
		}
		if required {
			return false, fmt.Errorf("config.json: missing %s", keys[0])
		}
		return false, nil
	}
	var err error
	if _, err = get(&c.hidden, maxDim, true, "hidden_size", "n_embd"); err != nil {
		return nil, err
	}
	if _, err = get(&c.layers, maxLayers, true, "num_hidden_layers", "n_layers", "n_layer"); err != nil {
		return nil, err
	}
	if _, err = get(&c.heads, maxDim, true, "num_attention_heads", "n_head"); err != nil {
		return nil, err
	}
	if c.hasKVHeads, err = get(&c.kvHeads, maxDim, false, "num_key_value_heads"); err != nil {
		return nil, err
	}
	if !c.hasKVHeads {
		c.kvHeads = c.heads
	}
	if _, err = get(&c.ffn, maxDim, true, "intermediate_size", "n_inner"); err != nil {
		return nil, err
	}
	if _, err = get(&c.vocab, maxVocab, true, "vocab_size"); err != nil {
		return nil, err
	}
	if c.hasCtx, err = get(&c.ctx, 1<<31-1, false, "max_position_embeddings", "n_ctx"); err != nil {
		return nil, err
	}
	if c.hasHeadDim, err = get(&c.headDim, maxDim, false, "head_dim"); err != nil {
		return nil, err
	}
	if !c.hasHeadDim {
		c.headDim = c.hidden / c.heads
	}
	if c.headDim <= 0 {
		return nil, fmt.Errorf("config.json: %d attention heads for a hidden size of %d", c.heads, c.hidden)
	}
	if c.heads%c.kvHeads != 0 {
		return nil, fmt.Errorf("config.json: %d attention heads are not a multiple of %d key/value heads", c.heads, c.kvHeads)
	}
	if c.ropeTheta, c.hasRopeTheta, err = m.float("rope_theta"); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	if c.rmsEps, c.hasRMSEps, err = m.float("rms_norm_eps"); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	if c.hasRopeTheta && !(c.ropeTheta > 0) {
		return nil, fmt.Errorf("config.json: rope_theta %v must be positive", c.ropeTheta)
	}
	if c.hasRMSEps && !(c.rmsEps > 0 && c.rmsEps < 1) {
		return nil, fmt.Errorf("config.json: rms_norm_eps %v is out of range", c.rmsEps)
	}
	c.act = m.str("hidden_act")
	if q := m.obj("quantization_config"); q != nil {
		c.quantMethod = q.str("quant_method")
		c.scaleMultiplies = q.str("linear_class") == "autobitlinear"
	}
	c.tied, _ = m["tie_word_embeddings"].(bool)
	return c, nil
}
