package serve

import "testing"

// TestPromptChunk checks the chunking rule: never a lone token (except a
// one-token prompt), never one left behind, never more than the room, and
// progress whenever there are at least 3 rows.
func TestPromptChunk(t *testing.T) {
	for rem := 1; rem < 40; rem++ {
		for room := 0; room < 40; room++ {
			n := promptChunk(rem, room)
			switch {
			case n > room || n > rem || n < 0:
				t.Fatalf("remaining %d, room %d: chunk %d", rem, room, n)
			case n == 1 && rem != 1:
				t.Fatalf("remaining %d, room %d: a lone token", rem, room)
			case n > 0 && rem-n == 1:
				t.Fatalf("remaining %d, room %d: chunk %d leaves a lone token", rem, room, n)
			case n == 0 && room >= 3:
				t.Fatalf("remaining %d, room %d: no progress", rem, room)
			case n == 0 && rem == 1 && room >= 1:
				t.Fatalf("one-token prompt, room %d: no progress", room)
			}
		}
	}
}
