package lambdas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/scenedex/scenedex/internal/pipeline"
	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/testvideo"
)

// s3DeletedEvent is EventBridge's "Object Deleted" event as S3 sends it.
func s3DeletedEvent(t *testing.T, key string) events.EventBridgeEvent {
	t.Helper()
	raw := fmt.Sprintf(`{"version":"0","id":"2ee9cc15-d022-99ea-1fb8-1b1bac4850f9","detail-type":"Object Deleted",
		"source":"aws.s3","account":"123456789012","time":"2021-11-12T00:00:00Z","region":"us-east-1",
		"resources":["arn:aws:s3:::media"],"detail":{"version":"0","bucket":{"name":"media"},
		"object":{"key":%q,"sequencer":"00617F0A6A6B27A58F"},"request-id":"0BH729840619AG5K",
		"requester":"123456789012","source-ip-address":"1.2.3.4","reason":"DeleteObject","deletion-type":"Permanently Deleted"}}`,
		url.QueryEscape(key))
	var ev events.EventBridgeEvent
	if err := json.Unmarshal([]byte(raw), &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// run takes a video through the workflow's steps as Step Functions would,
// up to the wait for embeddings; it returns the probe's state and the chunk
// messages sent.
func (e *env) run(t *testing.T, key, video string) (ProbeOutput, []scenedex.Chunk) {
	t.Helper()
	ctx := context.Background()
	f, _ := os.Open(video)
	defer f.Close()
	if err := e.store.Put(ctx, key, f, "video/mp4"); err != nil {
		t.Fatal(err)
	}
	info, _ := e.store.Head(ctx, key)
	out, err := e.fns.Probe(ctx, s3Event(t, key, info.Size, info.ETag))
	if err != nil {
		t.Fatal(err)
	}
	before := len(e.queue.sent)
	for _, w := range out.Windows {
		e.cutWindow(t, ChunkInput{Video: out.Video, Plan: out.Plan, Window: w})
	}
	return out, e.queue.sent[before:]
}

// The cloud's catalog follows the bucket: an Object Deleted event removes
// the video (documents, chunk files, record); a video deleted while its run
// is cutting it ends its run quietly (the wait released, finalize a no-op,
// its chunk messages dropped) and leaves nothing behind.
func TestForget(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	video := testvideo.Make(t, t.TempDir(), "v.mp4", testvideo.Spec{Scenes: []int{0, 1}, SceneSecs: 2, GOP: 25})

	key := "uploads/ads/week 1/clip+ü.mp4"
	out, sent := e.run(t, key, video)
	if err := e.fns.Await(ctx, AwaitInput{VideoID: out.VideoID, Counts: []int{len(sent)}, TaskToken: "tok-a"}); err != nil {
		t.Fatal(err)
	}
	if resp, err := e.fns.Embed(ctx, sqsEvent(sent)); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("embed: %+v %v", resp, err)
	}
	if v, err := e.fns.Finalize(ctx, VideoRef{VideoID: out.VideoID}); err != nil || v.Status != scenedex.StatusReady {
		t.Fatalf("finalize: %+v %v", v, err)
	}
	// Deleted by a user in the console (or aws s3 rm): S3 sends Object Deleted.
	if err := e.store.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	res, err := e.fns.Forget(ctx, s3DeletedEvent(t, key))
	if err != nil || res.Removed != 1 || res.Key != key {
		t.Fatalf("forget: %+v %v", res, err)
	}
	e.nothingLeft(t, out.VideoID, sent)
	// A repeated event, and one for a key that never made a video, change nothing.
	for _, k := range []string{key, "uploads/ads/other.mp4", "chunks/x/0000/clip.mp4"} {
		if res, err := e.fns.Forget(ctx, s3DeletedEvent(t, k)); err != nil || res.Removed != 0 {
			t.Errorf("forget %s: %+v %v", k, res, err)
		}
	}
	var perm *Permanent
	if _, err := e.fns.Forget(ctx, events.EventBridgeEvent{Detail: json.RawMessage(`{}`)}); !errors.As(err, &perm) {
		t.Errorf("malformed event: %v", err)
	}

	// Deleted (through the API) between cutting and waiting; a window cut
	// again after (a retried Map item) ends quietly, and a late fail step too.
	out, sent = e.run(t, "uploads/ads/second.mp4", video)
	if err := e.fns.P.Delete(ctx, out.VideoID); err != nil {
		t.Fatal(err)
	}
	second := ChunkInput{Video: out.Video, Plan: out.Plan, Window: out.Windows[0], TaskToken: "tok-second"}
	if resp, err := e.fns.Chunk(ctx, windowEvent(t, second, 1)); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Errorf("a window of a deleted video: %+v %v", resp, err)
	}
	if got := answerOf(e.tokens, "tok-second"); got != `success {"chunks":0}` {
		t.Errorf("a window of a deleted video answered %q, want 0 chunks", got)
	}
	var fail FailInput
	fail.VideoID, fail.Error.Error = out.VideoID, "States.TaskFailed"
	if _, err := e.fns.Fail(ctx, fail); err != nil {
		t.Errorf("fail step of a deleted video: %v", err)
	}
	if err := e.fns.Await(ctx, AwaitInput{VideoID: out.VideoID, Counts: []int{len(sent)}, TaskToken: "tok-b"}); err != nil {
		t.Fatalf("await of a deleted video: %v", err)
	}
	if last := e.tokens.succeeded[len(e.tokens.succeeded)-1]; last != "tok-b" {
		t.Errorf("the wait was not released: %v", e.tokens.succeeded)
	}
	if resp, err := e.fns.Embed(ctx, sqsEvent(sent)); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Errorf("embed of a deleted video's chunks: %+v %v", resp, err)
	}
	if v, err := e.fns.Finalize(ctx, VideoRef{VideoID: out.VideoID}); err != nil || v.ID != "" {
		t.Errorf("finalize of a deleted video: %+v %v", v, err)
	}
	e.nothingLeft(t, out.VideoID, sent)
	// Deleted while its window waited in the window queue: the window is
	// skipped with no chunk (its object is gone), and the wait step, finding
	// the video gone, ends the run quietly.
	size, etag := putVideo(t, e, "uploads/ads/third.mp4", video)
	out, err = e.fns.Probe(ctx, s3Event(t, "uploads/ads/third.mp4", size, etag))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.fns.P.Delete(ctx, out.VideoID); err != nil {
		t.Fatal(err)
	}
	win := ChunkInput{Video: out.Video, Plan: out.Plan, Window: out.Windows[0], TaskToken: "tok-third"}
	if resp, err := e.fns.Chunk(ctx, windowEvent(t, win, 1)); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("chunk of a deleted video: %+v %v", resp, err)
	}
	if got := answerOf(e.tokens, "tok-third"); got != `success {"chunks":0}` {
		t.Fatalf("window token answered %q, want 0 chunks", got)
	}
	if err := e.fns.Await(ctx, AwaitInput{VideoID: out.VideoID, Counts: []int{0}, TaskToken: "tok-third-wait"}); err != nil {
		t.Fatalf("await of a deleted video: %v", err)
	}
	if _, err := e.fns.P.Catalog.Get(ctx, out.VideoID); scenedex.ErrorCode(err) != scenedex.CodeNotFound {
		t.Errorf("a ghost record after the run: %v", err)
	}
	// A late Object Created for it (its run retried) makes no record.
	if out, err := e.fns.Probe(ctx, s3Event(t, "uploads/ads/second.mp4", 100, "abc")); err == nil || out.VideoID != "" {
		t.Errorf("probe of a deleted object: %+v %v", out, err)
	}
	if _, err := e.fns.P.Register(ctx, scenedex.ObjectCreated{Bucket: "media", Key: "uploads/ads/second.mp4", Size: 1, ETag: "x"}); !errors.Is(err, pipeline.ErrGone) {
		t.Errorf("register of a deleted object: %v", err)
	}
	if vs, _ := e.fns.P.Catalog.ByKey(ctx, "uploads/ads/second.mp4"); len(vs) != 0 {
		t.Errorf("ghost records %+v", vs)
	}
}

// The same bytes put back after a delete get a run (a new arrival, a new
// run name) and a video again; a repeated delivery of an arrival's event
// keeps its name, and a run that starts anyway for content already processed
// ends at Register (the record keeps runs idempotent).
func TestSameBytesAfterDeleteGetANewRun(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	starter := &recordingStarter{}
	e.fns.Starter = starter
	video := testvideo.Make(t, t.TempDir(), "v.mp4", testvideo.Spec{Scenes: []int{0, 1}, SceneSecs: 2, GOP: 25})
	key := "uploads/ads/again.mp4"
	size, etag := putVideo(t, e, key, video)
	first := s3EventOf(t, key, size, etag, "0062E99A88DC407460")
	for range 2 { // EventBridge delivers it twice
		startQueued(t, e.fns, first)
	}
	out := e.finish(t, first)

	if err := e.store.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if res, err := e.fns.Forget(ctx, s3DeletedEvent(t, key)); err != nil || res.Removed != 1 {
		t.Fatalf("forget: %+v %v", res, err)
	}
	if again, _ := putVideo(t, e, key, video); again != size {
		t.Fatal("not the same bytes")
	}
	second := s3EventOf(t, key, size, etag, "0062E99A88DC4074FF")
	startQueued(t, e.fns, second)
	if n := starter.names; len(n) != 3 || n[0] != n[1] || n[2] == n[0] {
		t.Fatalf("run names %v: want the first arrival's twice, then a new one", n)
	}
	if again := e.finish(t, second); again.VideoID != out.VideoID {
		t.Errorf("the same bytes made video %s, then %s", out.VideoID, again.VideoID)
	}
	// A run for the same arrival that starts anyway (the sweep names runs
	// after the content) changes nothing.
	if dup, err := e.fns.Probe(ctx, second); err != nil || !dup.Skip {
		t.Fatalf("a repeated run: %+v %v", dup, err)
	}
}

// finish takes the arrival of ev through its whole run, as Step Functions
// would, and checks its video ends READY.
func (e *env) finish(t *testing.T, ev events.EventBridgeEvent) ProbeOutput {
	t.Helper()
	ctx := context.Background()
	out, err := e.fns.Probe(ctx, ev)
	if err != nil || out.Skip {
		t.Fatalf("probe: %+v %v", out, err)
	}
	before := len(e.queue.sent)
	var counts []int
	for _, w := range out.Windows {
		counts = append(counts, e.cutWindow(t, ChunkInput{Video: out.Video, Plan: out.Plan, Window: w}))
	}
	if err := e.fns.Await(ctx, AwaitInput{VideoID: out.VideoID, Counts: counts, TaskToken: "tok-" + out.VideoID}); err != nil {
		t.Fatal(err)
	}
	if resp, err := e.fns.Embed(ctx, sqsEvent(e.queue.sent[before:])); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("embed: %+v %v", resp, err)
	}
	if v, err := e.fns.Finalize(ctx, VideoRef{VideoID: out.VideoID}); err != nil || v.Status != scenedex.StatusReady {
		t.Fatalf("finalize: %+v %v", v, err)
	}
	return out
}

// putVideo stores a video file under key and returns its size and ETag.
func putVideo(t *testing.T, e *env, key, video string) (int64, string) {
	t.Helper()
	f, _ := os.Open(video)
	defer f.Close()
	if err := e.store.Put(context.Background(), key, f, "video/mp4"); err != nil {
		t.Fatal(err)
	}
	info, err := e.store.Head(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size, info.ETag
}

func (e *env) nothingLeft(t *testing.T, id string, sent []scenedex.Chunk) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.fns.P.Catalog.Get(ctx, id); scenedex.ErrorCode(err) != scenedex.CodeNotFound {
		t.Errorf("record of %s: %v", id, err)
	}
	for _, c := range sent {
		if _, err := e.index.Get(ctx, c.ID()); scenedex.ErrorCode(err) != scenedex.CodeNotFound {
			t.Errorf("document %s: %v", c.ID(), err)
		}
		for _, k := range append([]string{c.ClipKey, c.ThumbKey}, c.FrameKeys...) {
			if _, err := e.store.Head(ctx, k); scenedex.ErrorCode(err) != scenedex.CodeNotFound {
				t.Errorf("chunk file %s: %v", k, err)
			}
		}
	}
}

// An object overwritten with other bytes: the Object Created event of the
// new bytes runs as a new version (not a duplicate), and its finalize
// retires the old one; the old bytes' event sent again is still a duplicate.
func TestOverwriteRunsNewVersion(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	a := testvideo.Make(t, dir, "a.mp4", testvideo.Spec{Scenes: []int{0, 1}, SceneSecs: 2, GOP: 25})
	b := testvideo.Make(t, dir, "b.mp4", testvideo.Spec{Scenes: []int{3}, SceneSecs: 2, GOP: 25})
	finish := func(out ProbeOutput, sent []scenedex.Chunk) {
		t.Helper()
		if err := e.fns.Await(ctx, AwaitInput{VideoID: out.VideoID, Counts: []int{len(sent)}, TaskToken: "tok-" + out.VideoID}); err != nil {
			t.Fatal(err)
		}
		if resp, err := e.fns.Embed(ctx, sqsEvent(sent)); err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("embed: %+v %v", resp, err)
		}
		if v, err := e.fns.Finalize(ctx, VideoRef{VideoID: out.VideoID}); err != nil || v.Status != scenedex.StatusReady {
			t.Fatalf("finalize: %+v %v", v, err)
		}
	}
	key := "uploads/ads/spot.mp4"
	first, sentA := e.run(t, key, a)
	finish(first, sentA)
	info, _ := e.store.Head(ctx, key)
	oldEvent := s3Event(t, key, info.Size, info.ETag)

	second, sentB := e.run(t, key, b)
	if second.Skip || second.VideoID == first.VideoID || second.Video.Collection != "ads" {
		t.Fatalf("overwrite probed as %+v", second)
	}
	if _, err := e.index.Get(ctx, sentA[0].ID()); err != nil {
		t.Errorf("the old version went before the new one was READY: %v", err)
	}
	finish(second, sentB)
	e.nothingLeft(t, first.VideoID, sentA)
	if vs, _ := e.fns.P.Catalog.ByKey(ctx, key); len(vs) != 1 || vs[0].ID != second.VideoID {
		t.Errorf("videos of the key: %+v", vs)
	}
	// The newest event again is a duplicate.
	info, _ = e.store.Head(ctx, key)
	if out, err := e.fns.Probe(ctx, s3Event(t, key, info.Size, info.ETag)); err != nil || !out.Skip {
		t.Errorf("the same bytes again: %+v %v", out, err)
	}
	// A late copy of the first bytes' event (EventBridge may deliver out of
	// order) makes nothing: the object holds other bytes now.
	if out, err := e.fns.Probe(ctx, oldEvent); err != nil || !out.Skip {
		t.Errorf("a stale event: %+v %v", out, err)
	}
	if vs, _ := e.fns.P.Catalog.ByKey(ctx, key); len(vs) != 1 {
		t.Errorf("a stale event made a video: %+v", vs)
	}
}

// staleNow lists videos as if the sweep's grace had passed (the test does
// not wait five minutes): the catalog itself answers.
type staleNow struct{ StaleLister }

func (s staleNow) Stale(ctx context.Context, st scenedex.Status, _ time.Time) ([]scenedex.Video, error) {
	return s.StaleLister.Stale(ctx, st, time.Now().Add(time.Second))
}

// A delete cut short (the API function crashed after the tombstone and part
// of the removal) leaves a DELETING video: no step works for it, search
// never answers with it, and the sweep completes it — documents, chunk files,
// upload, record; a redelivered Object Deleted event does the same for one
// whose object is gone.
func TestDeleteCutShortIsCompleted(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cat := e.fns.Store.(*memTokens).Catalog
	e.fns.Stale = staleNow{cat}
	video := testvideo.Make(t, t.TempDir(), "v.mp4", testvideo.Spec{Scenes: []int{0, 1}, SceneSecs: 2, GOP: 25})
	ready := func(key string) (ProbeOutput, []scenedex.Chunk) {
		out, sent := e.run(t, key, video)
		if err := e.fns.Await(ctx, AwaitInput{VideoID: out.VideoID, Counts: []int{len(sent)}, TaskToken: "tok-" + key}); err != nil {
			t.Fatal(err)
		}
		if resp, err := e.fns.Embed(ctx, sqsEvent(sent)); err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("embed: %+v %v", resp, err)
		}
		if v, err := e.fns.Finalize(ctx, VideoRef{VideoID: out.VideoID}); err != nil || v.Status != scenedex.StatusReady {
			t.Fatalf("finalize: %+v %v", v, err)
		}
		return out, sent
	}
	cutShort := func(id, stage string, sent []scenedex.Chunk) {
		// What pipeline.Delete writes first, then half of the removal.
		if _, err := cat.Update(ctx, id, func(v *scenedex.Video) error {
			v.Status, v.Stage = scenedex.StatusDeleting, stage
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := e.store.Delete(ctx, sent[0].ClipKey); err != nil {
			t.Fatal(err)
		}
	}
	keep, _ := ready("uploads/ads/keep.mp4")
	doomed, doomedSent := ready("uploads/ads/doomed.mp4")
	cutShort(doomed.VideoID, scenedex.StageDeleting, doomedSent)

	hits, err := e.fns.P.Search(ctx, scenedex.Query{Like: &scenedex.LikeRef{VideoID: keep.VideoID, T: 0.5}, K: 50})
	if err != nil || len(hits) == 0 {
		t.Fatalf("search: %v %v", hits, err)
	}
	for _, h := range hits {
		if h.VideoID == doomed.VideoID {
			t.Errorf("search answered with a video being deleted: %+v", h)
		}
	}
	if _, err := e.fns.P.Search(ctx, scenedex.Query{Like: &scenedex.LikeRef{VideoID: doomed.VideoID, T: 0.5}}); scenedex.ErrorCode(err) != scenedex.CodeNotFound {
		t.Errorf("search from a video being deleted: %v, want not found", err)
	}
	// Its chunk messages delivered again: taken quietly, nothing counted or indexed.
	if resp, err := e.fns.Embed(ctx, sqsEvent(doomedSent)); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Errorf("embed of a video being deleted: %+v %v", resp, err)
	}
	if v, _ := cat.Get(ctx, doomed.VideoID); v.Status != scenedex.StatusDeleting {
		t.Errorf("a step changed the tombstone: %+v", v)
	}
	res, err := e.fns.Sweep(ctx)
	if err != nil || res.Deleted != 1 {
		t.Fatalf("sweep: %+v %v", res, err)
	}
	e.nothingLeft(t, doomed.VideoID, doomedSent)
	if _, err := e.store.Head(ctx, "uploads/ads/doomed.mp4"); scenedex.ErrorCode(err) != scenedex.CodeNotFound {
		t.Errorf("the upload of a video deleted through the API is still there: %v", err)
	}
	if v, err := cat.Get(ctx, keep.VideoID); err != nil || v.Status != scenedex.StatusReady {
		t.Errorf("the other video: %+v %v", v, err)
	}

	// Cut short while following an Object Deleted event: the event,
	// redelivered, completes it.
	again, againSent := ready("uploads/ads/again.mp4")
	if err := e.store.Delete(ctx, "uploads/ads/again.mp4"); err != nil {
		t.Fatal(err)
	}
	cutShort(again.VideoID, scenedex.StageRetiring, againSent)
	if res, err := e.fns.Forget(ctx, s3DeletedEvent(t, "uploads/ads/again.mp4")); err != nil || res.Removed != 1 {
		t.Fatalf("forget: %+v %v", res, err)
	}
	e.nothingLeft(t, again.VideoID, againSent)
}
