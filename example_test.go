package bitnet_test

import (
	"context"
	"fmt"
	"log"

	"github.com/bitnet-go/bitnet"
	"github.com/bitnet-go/bitnet/chat"
)

// The bundled demo model: a 3 MB BitNet b1.58 model trained on TinyStories.
const modelPath = "testdata/tinystories-bitnet-i2_s.gguf"

func Example() {
	m, err := bitnet.Open(modelPath, &bitnet.Options{Threads: 2})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	s, err := m.NewSession()
	if err != nil {
		log.Fatal(err)
	}
	greedy := bitnet.Greedy()
	res, err := s.Complete(context.Background(), "once upon a time", &bitnet.GenerateOptions{MaxTokens: 24, Sampling: &greedy})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", res.Text)
	fmt.Println(len(res.Tokens), "tokens, stopped by", res.Stop)
	// Output:
	// ", there was a little girl named lily. she loved to play with her toys and play with her"
	// 24 tokens, stopped by length
}

// Stream yields the tokens as they are generated.
func ExampleSession_Stream() {
	m, err := bitnet.Open(modelPath, &bitnet.Options{Threads: 2})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	s, _ := m.NewSession()
	greedy := bitnet.Greedy()
	opts := &bitnet.GenerateOptions{MaxTokens: 12, Sampling: &greedy, Stop: []string{"."}}
	for tok, err := range s.Stream(context.Background(), "the dog ran to the park and", opts) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(tok.Text)
	}
	fmt.Println("|", s.LastResult().Stop)
	// Output:
	//  the puppy was so happy| stop
}

// Chat formats a conversation with the model's chat template; the next
// turn of the same conversation evaluates only its new tokens.
func ExampleSession_Chat() {
	m, err := bitnet.Open(modelPath, &bitnet.Options{Threads: 2})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	s, _ := m.NewSession()
	greedy := bitnet.Greedy()
	opts := &bitnet.GenerateOptions{MaxTokens: 16, Sampling: &greedy}
	msgs := []chat.Message{
		{Role: "system", Content: "you tell short stories."},
		{Role: "user", Content: "tell me about a cat."},
	}
	res, err := s.Chat(context.Background(), msgs, opts)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %q\n", m.ChatTemplate().Name(), res.Text)
	msgs = append(msgs, chat.Message{Role: "assistant", Content: res.Text}, chat.Message{Role: "user", Content: "and a dog?"})
	first := res.PromptTokens + len(res.Tokens)
	res, err = s.Chat(context.Background(), msgs, opts)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("second turn evaluates only new tokens:", res.CachedTokens >= first-1)
	// Output:
	// bitnet: "\"i'm sorry, lily. i'm so exc"
	// second turn evaluates only new tokens: true
}

func ExampleModel_ApplyChatTemplate() {
	m, err := bitnet.Open(modelPath, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	text, _ := m.ApplyChatTemplate([]chat.Message{
		{Role: "system", Content: "be kind."},
		{Role: "user", Content: "hello!"},
	}, true)
	fmt.Printf("%q\n", text)
	ids := m.Tokenize(text, true, true)
	fmt.Println(len(ids), "tokens; <|eot_id|> is token", m.Tokenize("<|eot_id|>", false, true))
	fmt.Println(m.IsEndOfGeneration(m.Tokenize("<|eot_id|>", false, true)[0]))
	// Output:
	// "System: be kind.<|eot_id|>User: hello!<|eot_id|>Assistant: "
	// 20 tokens; <|eot_id|> is token [4089]
	// true
}

// ChatStream streams a chat answer through an iterator; GenerateOptions
// also carries a callback, stop strings and cancellation by context.
func ExampleSession_ChatStream() {
	m, err := bitnet.Open(modelPath, &bitnet.Options{Threads: 2})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	s, _ := m.NewSession()
	greedy := bitnet.Greedy()
	msgs := []chat.Message{{Role: "user", Content: "where did the bird fly?"}}
	for tok, err := range s.ChatStream(context.Background(), msgs, &bitnet.GenerateOptions{MaxTokens: 10, Sampling: &greedy}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(tok.Text)
	}
	fmt.Println()
	// Output:
	// "i'm so excited!"
}

func ExampleModel_Tokenize() {
	m, err := bitnet.Open(modelPath, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	ids := m.Tokenize("once upon a time", true, true)
	fmt.Println(ids)
	fmt.Printf("%q\n", m.Detokenize(ids))
	// Output:
	// [4080 263 346 709 263 264 892]
	// "once upon a time"
}

// Eval runs the model on tokens and gives their logits: here greedy
// decoding by hand, after each of two endings of a common prefix (Truncate
// drops the first ending and what followed it).
func ExampleSession_Eval() {
	m, err := bitnet.Open(modelPath, &bitnet.Options{Threads: 2, NoChatTemplate: true})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	s, _ := m.NewSession()
	ctx := context.Background()
	argmax := func(row []float32) int32 {
		best := 0
		for i, v := range row {
			if v > row[best] {
				best = i
			}
		}
		return int32(best)
	}
	if _, err := s.Eval(ctx, m.Tokenize("once upon a time, there was a little", true, false), false); err != nil {
		log.Fatal(err)
	}
	prefix := s.Len()
	for _, ending := range []string{" girl named", " boy named"} {
		s.Truncate(prefix)
		logits, err := s.Eval(ctx, m.Tokenize(ending, false, false), false)
		if err != nil {
			log.Fatal(err)
		}
		var out []int32
		for range 4 {
			out = append(out, argmax(logits))
			if logits, err = s.Eval(ctx, out[len(out)-1:], false); err != nil {
				log.Fatal(err)
			}
		}
		fmt.Printf("%q: %q\n", ending, m.Detokenize(out))
	}
	// Output:
	// " girl named": " lily. she"
	// " boy named": " timmy."
}

// Perplexity scores a text the way llama-perplexity does, in chunks of
// the session's context (here 32 tokens).
func ExampleSession_Perplexity() {
	m, err := bitnet.Open(modelPath, &bitnet.Options{Threads: 2, NoChatTemplate: true})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	s, err := m.NewSessionWith(&bitnet.SessionOptions{Context: 32})
	if err != nil {
		log.Fatal(err)
	}
	text := "once upon a time, there was a little girl named lily. she loved to play outside in the park. " +
		"one day, she saw a big dog. the dog was brown and had a long tail. lily wanted to pet the dog."
	res, err := s.Perplexity(context.Background(), m.Tokenize(text, true, false), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d chunks, %d tokens scored: PPL %.2f\n", res.Chunks, res.Tokens, res.PPL)
	// Output:
	// 2 chunks, 30 tokens scored: PPL 6.11
}
