package sim

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Virtual time stands still while work runs and jumps when nothing does:
// an hour of waiting costs no real time, and work scheduled for the same
// instant starts together.
func TestClockJumpsOnlyWhenIdle(t *testing.T) {
	s := New(time.Unix(0, 0))
	var (
		mu    sync.Mutex
		order []time.Duration
	)
	var running, most atomic.Int32
	for range 3 {
		s.At(time.Hour, func() {
			if n := running.Add(1); n > most.Load() {
				most.Store(n)
			}
			time.Sleep(20 * time.Millisecond) // real work: the clock must not move
			mu.Lock()
			order = append(order, s.Elapsed())
			mu.Unlock()
			running.Add(-1)
		})
	}
	s.At(2*time.Hour, func() { order = append(order, s.Elapsed()) })
	s.Run(context.Background(), func() bool { return false }) // runs out of events
	want := []time.Duration{time.Hour, time.Hour, time.Hour, 2 * time.Hour}
	if len(order) != len(want) {
		t.Fatalf("ran %v, want %v", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("event %d at %v, want %v", i, order[i], want[i])
		}
	}
	if most.Load() != 3 {
		t.Fatalf("%d of the three same-instant events ran at once, want 3", most.Load())
	}
}

// Run stops as soon as done holds at an idle moment.
func TestRunStopsWhenDone(t *testing.T) {
	s := New(time.Unix(0, 0))
	var n atomic.Int32
	for i := range 10 {
		s.At(time.Duration(i)*time.Minute, func() { n.Add(1) })
	}
	if !s.Run(context.Background(), func() bool { return n.Load() == 4 }) {
		t.Fatal("Run gave up before done held")
	}
	if got := s.Elapsed(); got != 3*time.Minute {
		t.Fatalf("stopped at %v, want 3m", got)
	}
}

// A stopped timer neither runs nor moves the clock to its instant.
func TestStoppedTimer(t *testing.T) {
	s := New(time.Unix(0, 0))
	ran := false
	stop := s.Timer(time.Hour, func() { ran = true })
	s.At(time.Minute, stop)
	s.Run(context.Background(), func() bool { return false })
	if ran || s.Elapsed() != time.Minute {
		t.Fatalf("ran %v, clock at %v: want a stopped timer to do nothing", ran, s.Elapsed())
	}
}
