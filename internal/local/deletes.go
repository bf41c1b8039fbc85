package local

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/scenedex/scenedex/internal/scenedex"
)

// errDeleted is the cause a running step's context is cancelled with when
// its video is deleted.
var errDeleted = errors.New("the video is being deleted")

// inflight registers the runner's running steps by video, so a delete can
// cancel them (Runner.CancelWork). The zero value is ready to use.
type inflight struct {
	mu    sync.Mutex
	steps map[string][]*step
}

type step struct {
	cancel context.CancelCauseFunc
	done   chan struct{}
}

// stepOf marks a context as a step's of a video.
type stepOf struct{}

// begin registers a step of video id: its context is cancelled (cause
// errDeleted) when the video is deleted; end must be called when it returns.
func (w *inflight) begin(ctx context.Context, id string) (_ context.Context, end func()) {
	ctx, cancel := context.WithCancelCause(context.WithValue(ctx, stepOf{}, id))
	s := &step{cancel: cancel, done: make(chan struct{})}
	w.mu.Lock()
	if w.steps == nil {
		w.steps = map[string][]*step{}
	}
	w.steps[id] = append(w.steps[id], s)
	w.mu.Unlock()
	return ctx, func() {
		cancel(nil)
		w.mu.Lock()
		w.steps[id] = slices.DeleteFunc(w.steps[id], func(o *step) bool { return o == s })
		if len(w.steps[id]) == 0 {
			delete(w.steps, id)
		}
		w.mu.Unlock()
		close(s.done)
	}
}

// cancel cancels the running steps of video id and waits until they have
// returned (or ctx ends). A step deleting its own video does not wait for
// itself.
func (w *inflight) cancel(ctx context.Context, id string) int {
	w.mu.Lock()
	steps := slices.Clone(w.steps[id])
	w.mu.Unlock()
	for _, s := range steps {
		s.cancel(errDeleted)
	}
	if ctx.Value(stepOf{}) == id {
		return len(steps)
	}
	for _, s := range steps {
		select {
		case <-s.done:
		case <-ctx.Done():
			return len(steps)
		}
	}
	return len(steps)
}

// deleted reports whether ctx, a step's, ended because its video was deleted.
func deleted(ctx context.Context) bool { return context.Cause(ctx) == errDeleted }

// CancelWork ends the work in flight of a video being deleted
// (scenedex.WorkCanceller): its running steps are cancelled — their ffmpeg
// children killed — and have returned when it does; its queued chunks are
// dropped.
func (r *Runner) CancelWork(ctx context.Context, videoID string) {
	running := r.work.cancel(ctx, videoID)
	dropped, err := r.Chunks.DropPrefix(ctx, videoID+":") // chunk message ids begin with the doc id, <video>:<chunk>
	if err != nil {
		r.logErr(ctx, "drop a deleted video's queued chunks", err)
	}
	if running > 0 || dropped > 0 {
		r.Log.Info("work of a deleted video ended", "video", videoID, "steps_cancelled", running, "chunks_dropped", dropped)
	}
}

// resumeDeletes completes the deletes cut short (a crash, a request that
// ended half-way): every DELETING video not updated since before.
func (r *Runner) resumeDeletes(ctx context.Context, before time.Time) {
	vs, err := r.Catalog.Stale(ctx, scenedex.StatusDeleting, before)
	if err != nil {
		r.logErr(ctx, "find deletes cut short", err)
		return
	}
	for _, v := range vs {
		if err := r.P.ResumeDelete(ctx, v); err != nil {
			r.logErr(ctx, "complete a delete cut short (the next sweep tries again)", err)
			continue
		}
		r.Log.Info("completed a delete cut short", "video", v.ID, "key", v.Key)
	}
}
