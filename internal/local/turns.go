package local

import (
	"context"
	"sync"
)

// turns shares a few slots for the heavy steps (probing a video, cutting
// one of its windows) between videos in turn: each video's requests wait in
// a line of their own, and a freed slot goes to the next video in
// round-robin order. A video with thousands of windows then gets one slot in
// every round, never all of them, and a short video that arrives behind it
// starts within a round.
type turns struct {
	mu    sync.Mutex
	free  int
	lines map[string][]chan struct{} // per video, its waiters in order
	order []string                   // videos with a waiter, next turn first
}

func newTurns(slots int) *turns {
	return &turns{free: max(slots, 1), lines: map[string][]chan struct{}{}}
}

// wait blocks until a slot is video's, or ctx ends; release gives it back.
func (t *turns) wait(ctx context.Context, video string) (release func(), err error) {
	t.mu.Lock()
	if t.free > 0 && len(t.order) == 0 {
		t.free--
		t.mu.Unlock()
		return t.releaser(), nil
	}
	ch := make(chan struct{})
	if len(t.lines[video]) == 0 {
		t.order = append(t.order, video)
	}
	t.lines[video] = append(t.lines[video], ch)
	t.mu.Unlock()
	select {
	case <-ch:
		return t.releaser(), nil
	case <-ctx.Done():
	}
	t.mu.Lock()
	select {
	case <-ch: // granted as ctx ended: pass the slot on
		t.mu.Unlock()
		t.releaser()()
		return nil, ctx.Err()
	default:
	}
	t.leave(video, ch)
	t.mu.Unlock()
	return nil, ctx.Err()
}

// leave takes waiter ch of video out of its line (t.mu held).
func (t *turns) leave(video string, ch chan struct{}) {
	line := t.lines[video]
	for i, c := range line {
		if c == ch {
			line = append(line[:i:i], line[i+1:]...)
			break
		}
	}
	if len(line) > 0 {
		t.lines[video] = line
		return
	}
	delete(t.lines, video)
	for i, v := range t.order {
		if v == video {
			t.order = append(t.order[:i:i], t.order[i+1:]...)
			break
		}
	}
}

func (t *turns) releaser() func() {
	var once sync.Once
	return func() { once.Do(t.release) }
}

// release hands the slot to the first waiter of the video whose turn it is,
// which then goes to the back of the order if it has more waiting.
func (t *turns) release() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.order) == 0 {
		t.free++
		return
	}
	video := t.order[0]
	t.order = t.order[1:]
	line := t.lines[video]
	close(line[0])
	if len(line) > 1 {
		t.lines[video] = line[1:]
		t.order = append(t.order, video)
	} else {
		delete(t.lines, video)
	}
}
