package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/bitnet-go/bitnet"
	"github.com/bitnet-go/bitnet/chat"
)

// chatRun runs bitnet-run in chat mode with stdin as input; signals, if
// set, replaces the interrupt channel.
func chatRun(t *testing.T, stdin io.Reader, stdout io.Writer, signals chan os.Signal, args ...string) (string, error) {
	t.Helper()
	oldIn, oldSig := chatStdin, chatSignals
	t.Cleanup(func() { chatStdin, chatSignals = oldIn, oldSig })
	chatStdin = stdin
	if signals == nil {
		signals = make(chan os.Signal, 2)
	}
	chatSignals = func() (<-chan os.Signal, func()) { return signals, func() {} }
	var e bytes.Buffer
	err := run(append([]string{"-m", bundled, "-cnv", "-t", "2", "--temp", "0"}, args...), stdout, &e)
	return e.String(), err
}

var turnStats = regexp.MustCompile(`\[(\d+) new prompt tokens \((\d+) cached\)[^\]]*?(\d+) tokens in [^\]]*stop: (\w+)\]`)

// TestChatMode drives two turns through stdin and checks the answers are
// the library's, and that the second turn evaluates only its new tokens.
func TestChatMode(t *testing.T) {
	var out bytes.Buffer
	stderr, err := chatRun(t, strings.NewReader("tell me about a cat.\nwhat did it \\\neat?\n"), &out, nil, "-sys", "you tell stories.", "-n", "12")
	if err != nil {
		t.Fatal(err)
	}
	// The same conversation through the library.
	m, err := bitnet.Open(bundled, &bitnet.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, _ := m.NewSession()
	g := bitnet.Greedy()
	msgs := []chat.Message{{Role: "system", Content: "you tell stories."}, {Role: "user", Content: "tell me about a cat."}}
	r1, err := s.Chat(context.Background(), msgs, &bitnet.GenerateOptions{MaxTokens: 12, Sampling: &g})
	if err != nil {
		t.Fatal(err)
	}
	msgs = append(msgs, chat.Message{Role: "assistant", Content: r1.Text}, chat.Message{Role: "user", Content: "what did it \neat?"})
	r2, err := s.Chat(context.Background(), msgs, &bitnet.GenerateOptions{MaxTokens: 12, Sampling: &g})
	if err != nil {
		t.Fatal(err)
	}
	want := "\n> " + r1.Text + "\n\n> " + r2.Text + "\n\n> \n"
	if out.String() != want {
		t.Errorf("stdout:\n%q\nwant\n%q", out.String(), want)
	}
	st := turnStats.FindAllStringSubmatch(stderr, -1)
	if len(st) != 2 {
		t.Fatalf("stderr has %d turn lines:\n%s", len(st), stderr)
	}
	cached, _ := strconv.Atoi(st[1][2])
	if cached != r1.PromptTokens+len(r1.Tokens)-1 || st[1][1] != strconv.Itoa(r2.PromptTokens-r2.CachedTokens) {
		t.Errorf("second turn: %s new, %s cached; want %d cached (first turn %d + %d tokens)", st[1][1], st[1][2], r1.PromptTokens+len(r1.Tokens)-1, r1.PromptTokens, len(r1.Tokens))
	}
	if !strings.Contains(stderr, "chat template bitnet") {
		t.Errorf("stderr does not name the template:\n%s", stderr)
	}
}

// signalWriter sends an interrupt once the answer has started (after
// "> " and some more bytes), count times in a row.
type signalWriter struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	sig     chan os.Signal
	count   int
	started bool
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.started && strings.Count(w.buf.String(), "> ") == 1 && len(w.buf.String()) > 40 {
		w.started = true
		for range w.count {
			w.sig <- os.Interrupt
		}
	}
	return len(p), nil
}

// TestChatInterrupt: Ctrl-C stops the answer and the chat goes on; two
// Ctrl-Cs exit.
func TestChatInterrupt(t *testing.T) {
	// Unbuffered: the writer waits until the interrupt is taken.
	sig := make(chan os.Signal)
	w := &signalWriter{sig: sig, count: 1}
	stderr, err := chatRun(t, strings.NewReader("tell me a long story.\nand then?\n"), w, sig, "-n", "200", "--ignore-eos")
	if err != nil {
		t.Fatal(err)
	}
	st := turnStats.FindAllStringSubmatch(stderr, -1)
	if !strings.Contains(stderr, "[answer stopped]") || len(st) != 2 || st[0][4] != "cancelled" {
		t.Fatalf("one Ctrl-C: %q", stderr)
	}
	sig = make(chan os.Signal)
	w = &signalWriter{sig: sig, count: 2}
	stderr, err = chatRun(t, strings.NewReader("tell me a long story.\nand then?\n"), w, sig, "-n", "200", "--ignore-eos")
	if err != nil {
		t.Fatal(err)
	}
	if st := turnStats.FindAllStringSubmatch(stderr, -1); len(st) != 0 || strings.Count(w.buf.String(), "> ") != 1 {
		t.Fatalf("two Ctrl-Cs did not exit:\n%s\n%s", stderr, w.buf.String())
	}
	// Ctrl-C at the prompt exits.
	sig = make(chan os.Signal, 1)
	sig <- os.Interrupt
	pr, pw := io.Pipe()
	defer pw.Close()
	if _, err := chatRun(t, pr, io.Discard, sig); err != nil {
		t.Fatal(err)
	}
}

// TestChatContextFull: when the context fills, the chat says so and starts
// over with the system prompt.
func TestChatContextFull(t *testing.T) {
	var out bytes.Buffer
	stderr, err := chatRun(t, strings.NewReader("one story please.\nanother one.\nand one more.\n"), &out, nil, "-c", "48", "-n", "-1", "--ignore-eos", "-sys", "be brief.")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "the context of 48 tokens is full: the conversation starts over") {
		t.Fatalf("no context-full message:\n%s", stderr)
	}
	if strings.Count(out.String(), "> ") != 4 {
		t.Errorf("not all turns were answered:\n%s", out.String())
	}
}

// TestChatTemplateFlags: --chat-template NAME and --chat-template-file
// select the template.
func TestChatTemplateFlags(t *testing.T) {
	file := filepath.Join(t.TempDir(), "t.jinja")
	if err := os.WriteFile(file, []byte("{% for m in messages %}<<{{ m.role }}>>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<<assistant>>{% endif %}"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		name string
	}{{[]string{"--chat-template", "chatml"}, "chatml"}, {[]string{"--chat-template-file", file}, "jinja"}} {
		stderr, err := chatRun(t, strings.NewReader("hi\n"), io.Discard, nil, append(c.args, "-n", "2")...)
		if err != nil || !strings.Contains(stderr, "chat template "+c.name+",") {
			t.Errorf("%q: %v\n%s", c.args, err, stderr)
		}
	}
	if _, err := chatRun(t, strings.NewReader(""), io.Discard, nil, "--chat-template-file", filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "reading the chat template") {
		t.Errorf("missing template file: %v", err)
	}
}

func TestChatUsage(t *testing.T) {
	for _, args := range [][]string{
		{"-m", bundled, "-sys", "hi"},
		{"-m", bundled, "--chat-template", "chatml"},
		{"-m", bundled, "-cnv", "--chat-template", "no-such-template"},
		{"-m", bundled, "-cnv", "--perplexity", "x.txt"},
		{"-m", bundled, "-cnv", "-n", "0"},
		{"-m", bundled, "-cnv", "--chat-template", "chatml", "--chat-template-file", "x.jinja"},
	} {
		var ue usageError
		if _, _, err := runCLI(t, args...); !errors.As(err, &ue) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}
