package local

import (
	"context"
	"runtime"
	"slices"
	"testing"
)

// waiting reports how many requests wait in video's line.
func (t *turns) waiting(video string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.lines[video])
}

// queue starts a request of video for a slot and returns once it is in
// line (its place decides the order). With the slot, the request reports
// on got and gives the slot back at once, so the order on got is the order
// the slots were granted in.
func queue(t *testing.T, tu *turns, video string, got chan<- string) {
	t.Helper()
	n := tu.waiting(video)
	go func() {
		release, err := tu.wait(context.Background(), video)
		if err != nil {
			t.Error(err)
			return
		}
		got <- video
		release()
	}()
	for tu.waiting(video) == n {
		runtime.Gosched() // until the request is in line
	}
}

// A video with many windows waiting does not hold back the ones that come
// after it: slots go to the videos in turn (#16: a 4 s clip uploaded 3 s
// after a bad video waited 281 s behind its 1,800 windows).
func TestTurnsAreFairAcrossVideos(t *testing.T) {
	tu := newTurns(1)
	holder, err := tu.wait(context.Background(), "first")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 16)
	for range 5 {
		queue(t, tu, "long", got)
	}
	queue(t, tu, "short", got)
	queue(t, tu, "short", got)
	queue(t, tu, "third", got)

	holder()
	var order []string
	for range 8 {
		order = append(order, <-got)
	}
	want := []string{"long", "short", "third", "long", "short", "long", "long", "long"}
	if !slices.Equal(order, want) {
		t.Fatalf("slots went to %v, want %v", order, want)
	}
	// All given back: the next request is served at once.
	release, err := tu.wait(context.Background(), "later")
	if err != nil {
		t.Fatal(err)
	}
	release()
}

// A request that gives up waiting leaves its line, and its video's turn
// with it; the slot still goes round.
func TestTurnsWaitGivesUp(t *testing.T) {
	tu := newTurns(1)
	holder, _ := tu.wait(context.Background(), "a")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := tu.wait(ctx, "quitter")
		errc <- err
	}()
	for tu.waiting("quitter") == 0 {
		runtime.Gosched()
	}
	got := make(chan string, 1)
	queue(t, tu, "b", got)
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("a cancelled wait got a slot")
	}
	holder()
	if v := <-got; v != "b" {
		t.Fatalf("slot went to %s", v)
	}
}
