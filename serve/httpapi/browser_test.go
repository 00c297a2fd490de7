// The OpenAI SDK and chromedp are large: the tag bitnet_fuzz leaves these
// tests out so that fuzzing (FuzzDecodeRequests) builds quickly.

//go:build !bitnet_fuzz

package httpapi_test

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bitnet-go/bitnet"
	"github.com/bitnet-go/bitnet/chat"
)

// chromium finds a Chromium or Chrome binary.
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestChatPageInBrowser drives the chat page at / in headless Chromium:
// two turns, each answer streamed in several chunks and equal to what the
// library's Chat gives for the same conversation (greedy).
func TestChatPageInBrowser(t *testing.T) {
	path := chromium()
	if path == "" {
		if os.Getenv("CI") == "" {
			t.Skip("no chromium here (apt-get install -y chromium); CI is not set")
		}
		t.Fatal("CI is set but chromium is not installed (scripts/test.sh installs it)")
	}
	ts := start(t, opts{key: "browser-key"})
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU)...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()

	turn := func(msg, sel string) (string, int) {
		if err := chromedp.Do(ctx,
			chromedp.SetValue(chromedp.ID("input"), msg),
			chromedp.Click(chromedp.ID("send")),
			chromedp.WaitVisible(chromedp.CSS(sel+`[data-state="done"]`)),
		); err != nil {
			t.Fatal(err)
		}
		answer, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
		if err != nil {
			t.Fatal(err)
		}
		chunks, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(sel), "data-chunks"))
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(chunks.Value)
		return answer, n
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(ts.url+"/"),
		chromedp.WaitVisible(chromedp.ID("input")),
		chromedp.Click(chromedp.CSS("details summary")),
		chromedp.SetValue(chromedp.ID("temperature"), "0"),
		chromedp.SetValue(chromedp.ID("max_tokens"), "16"),
		chromedp.SetValue(chromedp.ID("apikey"), "browser-key"),
	); err != nil {
		t.Fatal(err)
	}
	msgs := []chat.Message{{Role: "user", Content: "Tell me about a cat."}}
	a1, n1 := turn(msgs[0].Content, ".assistant:nth-of-type(2)")
	want1 := libChat(t, ts.m, msgs, bitnet.Greedy(), 16)
	if a1 != want1 || n1 < 2 {
		t.Errorf("first answer %q in %d chunks; the library gives %q", a1, n1, want1)
	}
	msgs = append(msgs, chat.Message{Role: "assistant", Content: a1}, chat.Message{Role: "user", Content: "And a dog?"})
	a2, n2 := turn("And a dog?", ".assistant:nth-of-type(4)")
	want2 := libChat(t, ts.m, msgs, bitnet.Greedy(), 16)
	if a2 != want2 || n2 < 2 {
		t.Errorf("second answer %q in %d chunks; the library gives %q", a2, n2, want2)
	}
}
