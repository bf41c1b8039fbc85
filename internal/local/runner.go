// Package local runs the whole pipeline in one process: it plays the parts of
// EventBridge + Step Functions (the workflow queue and its worker), SQS + the
// embed Lambda (the chunk queue and its workers), and the sweepers that make
// sure no video is left without a final state. Both queues are durable
// (SQLite), so a process killed mid-ingest picks up where it stopped.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/scenedex/scenedex/internal/pipeline"
	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/sqlite"
)

// Options tunes the runner.
type Options struct {
	EmbedWorkers   int           // concurrent chunk consumers (2)
	Workflows      int           // videos probed and cut at once (8); their heavy steps share Slots
	Slots          int           // heavy steps (a probe, a window's cut) at once over all videos, taken in turn (2)
	MapConcurrency int           // windows cut at once per video (2)
	Visibility     time.Duration // queue visibility timeout (5m workflow, 2m embed)
	MaxAttempts    int           // deliveries before dead-letter (3)
	Poll           time.Duration // idle poll interval (200ms)
	RetryBase      time.Duration // first retry delay after a failure (1s)
	DropInSettle   time.Duration // a dropped file must be unchanged this long (2s)
	SweepEvery     time.Duration // (2s)
}

func (o Options) withDefaults() Options {
	if o.EmbedWorkers <= 0 {
		o.EmbedWorkers = 2
	}
	if o.Workflows <= 0 {
		o.Workflows = 8
	}
	if o.Slots <= 0 {
		o.Slots = 2
	}
	if o.MapConcurrency <= 0 {
		o.MapConcurrency = 2
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 3
	}
	if o.Poll <= 0 {
		o.Poll = 200 * time.Millisecond
	}
	if o.RetryBase <= 0 {
		o.RetryBase = time.Second
	}
	if o.DropInSettle <= 0 {
		o.DropInSettle = 2 * time.Second
	}
	if o.SweepEvery <= 0 {
		o.SweepEvery = 2 * time.Second
	}
	return o
}

// DropInSource lists files written straight into the bucket folder.
type DropInSource interface {
	DropIns(settle time.Duration) ([]scenedex.ObjectCreated, error)
}

// Runner drives the pipeline.
type Runner struct {
	P        *pipeline.Pipeline
	Catalog  *sqlite.Catalog
	Workflow *sqlite.Queue
	Chunks   *sqlite.Queue
	// Deletions holds Object Deleted events until their videos are removed.
	Deletions *sqlite.Queue
	DropIns   DropInSource
	Bucket    string // the local bucket, as events name it
	Log       *slog.Logger
	opts      Options
	wake      chan struct{}
	turns     *turns // the heavy steps' slots, shared between videos in turn
	// wfLease and chLease are how often a message at work has its lease
	// extended: a third of its queue's visibility timeout.
	wfLease, chLease time.Duration
	work             inflight // running steps by video, for CancelWork
}

// New builds a runner over the queue database.
func New(p *pipeline.Pipeline, catalog *sqlite.Catalog, queues *sqlite.QueueDB, dropIns DropInSource, opts Options, log *slog.Logger) *Runner {
	opts = opts.withDefaults()
	wfVis, chVis := opts.Visibility, opts.Visibility
	if wfVis <= 0 {
		wfVis, chVis = 5*time.Minute, 2*time.Minute
	}
	if log == nil {
		log = slog.Default()
	}
	return &Runner{
		P: p, Catalog: catalog, DropIns: dropIns, Log: log, opts: opts, wake: make(chan struct{}, 1), turns: newTurns(opts.Slots),
		wfLease: wfVis / 3, chLease: chVis / 3,
		Workflow:  queues.Queue("workflow", wfVis, opts.MaxAttempts),
		Chunks:    queues.Queue("chunks", chVis, opts.MaxAttempts),
		Deletions: queues.Queue("deletions", chVis, opts.MaxAttempts),
	}
}

// OnDeleted records an Object Deleted event; the video made from the object
// is removed by the runner (never inside the request: deleting a video
// deletes its object through the same endpoint).
func (r *Runner) OnDeleted(ctx context.Context, ev scenedex.ObjectDeleted) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	// Every deletion is its own message: a key deleted, written and deleted
	// again must be forgotten twice.
	if err := r.Deletions.Send(ctx, sqlite.Message{ID: fmt.Sprintf("%s@deleted-%d", ev.Key, time.Now().UnixNano()), Body: body}); err != nil {
		return err
	}
	r.poke()
	return nil
}

// deletionOnce removes the videos of at most one deleted object.
func (r *Runner) deletionOnce(ctx context.Context) bool {
	got, dead, err := r.Deletions.Receive(ctx, 1)
	if err != nil {
		r.logErr(ctx, "receive deletions", err)
		return false
	}
	for _, d := range dead {
		r.Log.Error("a deleted object's video could not be removed", "body", string(d.Body), "err", d.LastError)
	}
	for _, d := range got {
		var ev scenedex.ObjectDeleted
		if err := json.Unmarshal(d.Body, &ev); err != nil {
			r.Log.Error("dropping malformed deletion message", "id", d.ID, "err", err)
			r.Deletions.Ack(ctx, d)
			continue
		}
		if _, err := r.P.Forget(ctx, ev); err != nil {
			if ctx.Err() != nil {
				return false
			}
			r.Log.Warn("removing a deleted object's video failed; will retry", "key", ev.Key, "attempt", d.Attempt, "err", err)
			r.Deletions.Nack(ctx, d, errors.New(scenedex.Message(err)), r.backoff(d.Attempt))
			continue
		}
		r.Deletions.Ack(ctx, d)
	}
	return len(got)+len(dead) > 0
}

// OnCreated records an Object Created event as a workflow run. The message id
// is the object version, so a repeated event starts nothing twice (the local
// twin of naming the Step Functions execution after the object).
func (r *Runner) OnCreated(ctx context.Context, ev scenedex.ObjectCreated) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	if err := r.Workflow.Send(ctx, sqlite.Message{ID: ev.Key + "@" + ev.ETag + ev.Version, Body: body}); err != nil {
		return err
	}
	r.poke()
	return nil
}

// Rerun queues a new workflow run for an object (pipeline.Reprocess): its
// message id carries tag, so the queue does not take it for the first run.
func (r *Runner) Rerun(ctx context.Context, key string, size int64, etag, tag string) error {
	ev := scenedex.ObjectCreated{Bucket: r.Bucket, Key: key, Size: size, ETag: strings.Trim(etag, `"`)}
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	if err := r.Workflow.Send(ctx, sqlite.Message{ID: ev.Key + "@" + ev.ETag + "#rerun-" + tag, Body: body}); err != nil {
		return err
	}
	r.poke()
	return nil
}

// SendChunks implements scenedex.ChunkSender on the local chunk queue.
func (r *Runner) SendChunks(ctx context.Context, chunks []scenedex.Chunk) error {
	msgs := make([]sqlite.Message, len(chunks))
	for i, c := range chunks {
		body, err := json.Marshal(c)
		if err != nil {
			return err
		}
		id := c.ID()
		if c.Run != "" {
			id += "@run-" + c.Run
		}
		msgs[i] = sqlite.Message{ID: id, Body: body}
	}
	if err := r.Chunks.Send(ctx, msgs...); err != nil {
		return err
	}
	r.poke()
	return nil
}

func (r *Runner) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run processes until ctx ends.
func (r *Runner) Run(ctx context.Context) error {
	for _, q := range []*sqlite.Queue{r.Workflow, r.Chunks, r.Deletions} {
		n, err := q.ReleaseLeases(ctx)
		if err != nil {
			return fmt.Errorf("release leases: %w", err)
		}
		if n > 0 {
			r.Log.Info("resuming work left by a previous run", "messages", n)
		}
	}
	r.resumeDeletes(ctx, time.Now())
	var wg sync.WaitGroup
	loop := func(every time.Duration, fn func(context.Context) bool) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if fn(ctx) {
					continue // there may be more right away
				}
				select {
				case <-ctx.Done():
				case <-r.wake:
				case <-time.After(every):
				}
			}
		}()
	}
	for range r.opts.Workflows {
		loop(r.opts.Poll, r.workflowOnce)
	}
	loop(r.opts.Poll, r.deletionOnce)
	for range r.opts.EmbedWorkers {
		loop(r.opts.Poll, r.embedOnce)
	}
	loop(r.opts.SweepEvery, func(ctx context.Context) bool { r.sweep(ctx); return false })
	wg.Wait()
	return nil
}

func (r *Runner) backoff(attempt int) time.Duration {
	return r.opts.RetryBase << min(attempt-1, 6)
}

// workflowOnce handles at most one workflow message.
func (r *Runner) workflowOnce(ctx context.Context) bool {
	got, dead, err := r.Workflow.Receive(ctx, 1)
	if err != nil {
		r.logErr(ctx, "receive workflow", err)
		return false
	}
	for _, d := range dead {
		var ev scenedex.ObjectCreated
		json.Unmarshal(d.Body, &ev)
		r.failByKey(ctx, ev, fmt.Sprintf("processing failed after %d attempts: %s", d.Attempt, d.LastError))
	}
	for _, d := range got {
		var ev scenedex.ObjectCreated
		if err := json.Unmarshal(d.Body, &ev); err != nil {
			r.Log.Error("dropping malformed workflow message", "id", d.ID, "err", err)
			r.Workflow.Ack(ctx, d)
			continue
		}
		stop := r.keepLeases(ctx, r.Workflow, r.wfLease, d)
		err := r.runWorkflow(ctx, ev)
		stop()
		switch {
		case err == nil:
			r.Workflow.Ack(ctx, d)
		case ctx.Err() != nil:
			return false // shutting down: the lease is released on the next start
		default:
			r.Log.Warn("workflow attempt failed; will retry", "key", ev.Key, "attempt", d.Attempt, "err", err)
			r.Workflow.Nack(ctx, d, errors.New(scenedex.Message(err)), r.backoff(d.Attempt))
		}
	}
	return len(got)+len(dead) > 0
}

// runWorkflow is the state machine: Register -> Probe -> Map(Chunk) ->
// (wait for embeddings) -> Finalize, with MarkFailed on a permanent error. It
// returns an error only when a retry may help.
func (r *Runner) runWorkflow(ctx context.Context, ev scenedex.ObjectCreated) error {
	v, err := r.P.Register(ctx, ev)
	if errors.Is(err, pipeline.ErrDuplicate) || errors.Is(err, pipeline.ErrGone) {
		return nil
	}
	if err != nil {
		if v.ID != "" && scenedex.Permanent(err) {
			r.P.MarkFailed(ctx, v.ID, scenedex.Message(err))
			return nil
		}
		return err
	}
	vctx, end := r.work.begin(ctx, v.ID)
	err = r.ingest(vctx, v)
	end()
	if deleted(vctx) || errors.Is(err, pipeline.ErrGone) || r.P.Gone(ctx, v.ID, err) {
		return nil // deleted while it ran; what the run made is gone too
	}
	if err != nil && scenedex.Permanent(err) {
		_, ferr := r.P.MarkFailed(ctx, v.ID, scenedex.Message(err))
		if r.P.Gone(ctx, v.ID, ferr) {
			return nil // its failure was the deletion of its object
		}
		return ferr
	}
	return err
}

// ingest probes v and cuts its windows, each step in its turn among the
// videos being ingested. The windows follow the pictures, not the headers:
// once a window cuts nothing of its own, the pictures have ended and the
// windows after it are not cut.
func (r *Runner) ingest(ctx context.Context, v scenedex.Video) error {
	var plan scenedex.Plan
	err := r.inTurn(ctx, v.ID, func() (err error) {
		plan, err = r.P.Probe(ctx, v)
		return err
	})
	if err != nil {
		return err
	}
	// Map over windows with bounded concurrency.
	var g errgroup.Group
	g.SetLimit(r.opts.MapConcurrency)
	var mu sync.Mutex
	total, ended, skipped := 0, len(plan.Windows), 0
	past := func(w scenedex.Window) bool {
		mu.Lock()
		defer mu.Unlock()
		if w.Index > ended {
			skipped++
			return true
		}
		return false
	}
	for _, w := range plan.Windows {
		g.Go(func() error {
			if past(w) {
				return nil
			}
			return r.inTurn(ctx, v.ID, func() error {
				if past(w) {
					return nil
				}
				chunks, err := r.P.ChunkWindow(ctx, v, plan, w)
				mu.Lock()
				defer mu.Unlock()
				total += len(chunks)
				if err == nil && len(chunks) == 0 {
					ended = min(ended, w.Index)
				}
				return err
			})
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if skipped > 0 {
		r.Log.Warn("the video's pictures end before its headers said: windows past the end not cut", "video", v.ID, "windows", len(plan.Windows), "skipped", skipped)
	}
	v, err = r.P.ChunksPlanned(ctx, v.ID, total)
	if err != nil {
		return err
	}
	// The embed workers finalize when the last chunk lands; if they all landed
	// before the total was known, finish here.
	if pipeline.Complete(v) {
		_, err = r.P.Finalize(ctx, v.ID)
	}
	return err
}

// keepLeases extends the leases of ds on q every interval until stop is
// called: a message at work (a workflow waiting its turn or cutting a long
// video, a batch of chunks) is not delivered to another worker meanwhile,
// nor counted as another attempt.
func (r *Runner) keepLeases(ctx context.Context, q *sqlite.Queue, every time.Duration, ds ...sqlite.Delivery) (stop func()) {
	if len(ds) == 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				for _, d := range ds {
					if _, err := q.Extend(ctx, d); err != nil {
						r.logErr(ctx, "extend a lease", err)
					}
				}
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// inTurn runs step when one of the heavy steps' slots is video's.
func (r *Runner) inTurn(ctx context.Context, video string, step func() error) error {
	release, err := r.turns.wait(ctx, video)
	if err != nil {
		return err
	}
	defer release()
	return step()
}

// embedOnce handles a batch of chunk messages.
func (r *Runner) embedOnce(ctx context.Context) bool {
	got, dead, err := r.Chunks.Receive(ctx, 4)
	if err != nil {
		r.logErr(ctx, "receive chunks", err)
		return false
	}
	for _, d := range dead {
		var c scenedex.Chunk
		json.Unmarshal(d.Body, &c)
		if pipeline.SwitchMessage(c) {
			r.Log.Error("a model switch's message failed every attempt; the switch cannot finish until it is redriven (scenedex dead-letters --redrive)",
				"chunk", c.ID(), "model", c.NextModel, "err", d.LastError)
			continue
		}
		// A leftover of an earlier run changes nothing: the video's current
		// run decides (checked inside the update, so a reprocess racing this
		// cannot be failed by its predecessor's chunk).
		r.P.MarkRunFailed(ctx, c.VideoID, c.Run, fmt.Sprintf("chunk %d (%.1f-%.1fs) failed after %d attempts: %s", c.Index, c.Start, c.End, d.Attempt, d.LastError))
	}
	stop := r.keepLeases(ctx, r.Chunks, r.chLease, got...)
	defer stop()
	for _, d := range got {
		var c scenedex.Chunk
		if err := json.Unmarshal(d.Body, &c); err != nil {
			r.Log.Error("dropping malformed chunk message", "id", d.ID, "err", err)
			r.Chunks.Ack(ctx, d)
			continue
		}
		if pipeline.SwitchMessage(c) {
			switch err := r.P.EmbedNext(ctx, c); {
			case err == nil:
				r.Chunks.Ack(ctx, d)
			case ctx.Err() != nil:
				return false
			default:
				r.Log.Warn("model switch message failed; will retry", "chunk", c.ID(), "model", c.NextModel, "attempt", d.Attempt, "err", err)
				r.Chunks.Nack(ctx, d, errors.New(scenedex.Message(err)), r.backoff(d.Attempt))
			}
			continue
		}
		cctx, end := r.work.begin(ctx, c.VideoID)
		v, err := r.P.EmbedChunk(cctx, c)
		end()
		switch {
		case err == nil:
			if pipeline.Complete(v) {
				if _, err := r.P.Finalize(ctx, v.ID); err != nil {
					r.Chunks.Nack(ctx, d, errors.New(scenedex.Message(err)), r.backoff(d.Attempt))
					continue
				}
			}
			r.Chunks.Ack(ctx, d)
		case errors.Is(err, pipeline.ErrGone) || deleted(cctx):
			r.Chunks.Ack(ctx, d) // the video was deleted
		case scenedex.Permanent(err):
			r.P.MarkRunFailed(ctx, c.VideoID, c.Run, scenedex.Message(err))
			r.Chunks.Ack(ctx, d)
		case ctx.Err() != nil:
			return false
		default:
			r.Log.Warn("embed attempt failed; will retry", "chunk", c.ID(), "attempt", d.Attempt, "err", err)
			r.Chunks.Nack(ctx, d, errors.New(scenedex.Message(err)), r.backoff(d.Attempt))
		}
	}
	return len(got)+len(dead) > 0
}

// failByKey marks the video of an event FAILED when its workflow died.
func (r *Runner) failByKey(ctx context.Context, ev scenedex.ObjectCreated, reason string) {
	v, err := r.Catalog.FindByKey(ctx, ev.Key)
	if err != nil {
		r.Log.Error("workflow dead-lettered for an unknown video", "key", ev.Key, "reason", reason)
		return
	}
	r.P.MarkFailed(ctx, v.ID, reason)
}

// sweep picks up dropped files, and makes sure nothing is stuck: uploads that
// never arrived fail once their URL has expired; videos whose chunks are all
// indexed are finalized.
func (r *Runner) sweep(ctx context.Context) {
	if r.DropIns != nil {
		evs, err := r.DropIns.DropIns(r.opts.DropInSettle)
		if err != nil {
			r.logErr(ctx, "scan drop-ins", err)
		}
		for _, ev := range evs {
			if _, err := r.Catalog.FindByKey(ctx, ev.Key); scenedex.ErrorCode(err) != scenedex.CodeNotFound {
				continue // known: uploaded through the API, or picked up before
			}
			r.Log.Info("picked up a dropped file", "key", ev.Key, "size", ev.Size)
			if err := r.OnCreated(ctx, ev); err != nil {
				r.logErr(ctx, "drop-in event", err)
			}
		}
	}
	r.resumeDeletes(ctx, time.Now().Add(-time.Minute)) // a minute: one under way is its deleter's
	cfg := r.P.Config()
	stale, err := r.Catalog.Stale(ctx, scenedex.StatusUploading, time.Now().Add(-cfg.UploadTTL))
	if err != nil {
		r.logErr(ctx, "sweep uploads", err)
	}
	for _, v := range stale {
		if cfg.UploadAbandoned(v, time.Now()) {
			r.P.MarkFailed(ctx, v.ID, pipeline.AbandonedReason)
		}
	}
	processing, err := r.Catalog.Stale(ctx, scenedex.StatusProcessing, time.Now().Add(-10*time.Second))
	if err != nil {
		r.logErr(ctx, "sweep processing", err)
	}
	for _, v := range processing {
		if pipeline.Complete(v) {
			r.P.Finalize(ctx, v.ID)
		}
	}
}

func (r *Runner) logErr(ctx context.Context, what string, err error) {
	if ctx.Err() == nil {
		r.Log.Error(what, "err", err)
	}
}

// Redrive puts every dead-lettered message back on its queue and reopens the
// videos they failed, so they can still end READY.
func (r *Runner) Redrive(ctx context.Context) (int, error) {
	reopen := map[string]bool{}
	wf, err := r.Workflow.Dead(ctx)
	if err != nil {
		return 0, err
	}
	for _, d := range wf {
		var ev scenedex.ObjectCreated
		if json.Unmarshal(d.Body, &ev) == nil {
			if v, err := r.Catalog.FindByKey(ctx, ev.Key); err == nil {
				reopen[v.ID] = true
			}
		}
	}
	ch, err := r.Chunks.Dead(ctx)
	if err != nil {
		return 0, err
	}
	for _, d := range ch {
		var c scenedex.Chunk
		if json.Unmarshal(d.Body, &c) == nil {
			reopen[c.VideoID] = true
		}
	}
	for id := range reopen {
		r.Catalog.Update(ctx, id, func(v *scenedex.Video) error {
			if v.Status == scenedex.StatusFailed {
				v.Status, v.Reason, v.Stage = scenedex.StatusProcessing, "", "redriven"
			}
			return nil
		})
	}
	n1, err := r.Workflow.Redrive(ctx)
	if err != nil {
		return 0, err
	}
	n2, err := r.Chunks.Redrive(ctx)
	r.poke()
	return int(n1 + n2), err
}
