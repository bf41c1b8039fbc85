// Package sim is a discrete-event loop on a virtual clock, for harnesses that
// run real code (handlers, HTTP servers) under hours of simulated waiting.
//
// How real work and virtual time coexist: virtual time stands still while any
// piece of work runs, and jumps to the next scheduled event only when nothing
// runs. Work is started by the loop (At, Go) and counted until it returns; it
// never blocks on virtual time — it schedules what comes later with At. So a
// handler may take real seconds (ffmpeg, HTTP calls) at one virtual instant,
// and a backoff of five minutes costs no real time at all. How long a piece of
// work lasts in virtual time is for the caller to model (e.g. a Lambda
// invocation holds its concurrency until At(duration) releases it).
package sim

import (
	"container/heap"
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Sim is the loop. The zero value is not usable; call New.
type Sim struct {
	mu     sync.Mutex
	now    time.Duration
	seq    uint64
	events events
	busy   int
	idle   chan struct{} // signalled when busy drops to 0 or an event is added
	start  time.Time     // what Now reports as virtual 0
}

// New returns a loop whose virtual clock starts at start.
func New(start time.Time) *Sim {
	return &Sim{idle: make(chan struct{}, 1), start: start}
}

// Elapsed is the virtual time since the start.
func (s *Sim) Elapsed() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

// Now is the virtual wall clock.
func (s *Sim) Now() time.Time { return s.start.Add(s.Elapsed()) }

// At runs f after d of virtual time (d <= 0: at the current instant, after
// the work that is running now has been started).
func (s *Sim) At(d time.Duration, f func()) { s.Timer(d, f) }

// Timer is At that can be called off: stop() before the event is due drops
// it (a timeout whose task ended must not keep the loop going).
func (s *Sim) Timer(d time.Duration, f func()) (stop func()) {
	if d < 0 {
		d = 0
	}
	off := new(atomic.Bool)
	s.mu.Lock()
	s.seq++
	heap.Push(&s.events, event{at: s.now + d, seq: s.seq, f: f, off: off})
	s.mu.Unlock()
	s.poke()
	return func() { off.Store(true) }
}

// Go runs f now, as counted work: virtual time stands still until it returns.
func (s *Sim) Go(f func()) {
	s.mu.Lock()
	s.busy++
	s.mu.Unlock()
	go s.run(f)
}

func (s *Sim) run(f func()) {
	defer func() {
		s.mu.Lock()
		s.busy--
		s.mu.Unlock()
		s.poke()
	}()
	f()
}

func (s *Sim) poke() {
	select {
	case s.idle <- struct{}{}:
	default:
	}
}

// Run drives the loop until done reports true at an idle moment, no event is
// left (and nothing runs), or ctx ends. It returns false when it stopped for
// lack of events or ctx while done was still false.
func (s *Sim) Run(ctx context.Context, done func() bool) bool {
	for {
		s.mu.Lock()
		if s.busy > 0 {
			s.mu.Unlock()
			select {
			case <-s.idle:
				continue
			case <-ctx.Done():
				return false
			}
		}
		// Idle: nothing runs, so nothing can add work but this loop.
		s.mu.Unlock()
		if done() {
			return true
		}
		s.mu.Lock()
		for len(s.events) > 0 && s.events[0].off.Load() {
			heap.Pop(&s.events)
		}
		if len(s.events) == 0 {
			s.mu.Unlock()
			return false
		}
		next := s.events[0].at
		if next > s.now {
			s.now = next
		}
		var due []func()
		for len(s.events) > 0 && s.events[0].at <= s.now {
			if ev := heap.Pop(&s.events).(event); !ev.off.Load() {
				due = append(due, ev.f)
			}
		}
		s.busy += len(due)
		s.mu.Unlock()
		for _, f := range due {
			go s.run(f)
		}
		if ctx.Err() != nil {
			return false
		}
	}
}

type event struct {
	at  time.Duration
	seq uint64
	f   func()
	off *atomic.Bool
}

type events []event

func (e events) Len() int { return len(e) }
func (e events) Less(i, j int) bool {
	if e[i].at != e[j].at {
		return e[i].at < e[j].at
	}
	return e[i].seq < e[j].seq
}
func (e events) Swap(i, j int) { e[i], e[j] = e[j], e[i] }
func (e *events) Push(x any)   { *e = append(*e, x.(event)) }
func (e *events) Pop() any {
	old := *e
	x := old[len(old)-1]
	*e = old[:len(old)-1]
	return x
}
