package lambdas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/scenedex/scenedex/internal/pipeline"
	"github.com/scenedex/scenedex/internal/scenedex"
)

// S3ObjectCreated is the detail of EventBridge's "Object Created" event.
type S3ObjectCreated struct {
	Bucket struct {
		Name string `json:"name"`
	} `json:"bucket"`
	Object struct {
		Key       string `json:"key"`
		Size      int64  `json:"size"`
		ETag      string `json:"etag"`
		VersionID string `json:"version-id"`
		Sequencer string `json:"sequencer"`
	} `json:"object"`
	Reason string `json:"reason"`
}

// ProbeOutput is the state after probing: Map iterates Windows.
type ProbeOutput struct {
	Skip    bool              `json:"skip"` // a repeated event: nothing to do
	VideoID string            `json:"video_id"`
	Video   scenedex.Video    `json:"video"`
	Plan    scenedex.Plan     `json:"plan"` // without windows, so Map items stay small
	Windows []scenedex.Window `json:"windows"`
}

// ChunkInput is one window's message on the window queue: the body the
// workflow's Map item sends (sqs:sendMessage.waitForTaskToken), with the task
// token the item waits on.
type ChunkInput struct {
	Video     scenedex.Video  `json:"video"`
	Plan      scenedex.Plan   `json:"plan"`
	Window    scenedex.Window `json:"window"`
	TaskToken string          `json:"task_token"`
}

// ChunkOutput is what a Map item returns: the output its task token is
// answered with.
type ChunkOutput struct {
	Chunks int `json:"chunks"`
}

// AwaitInput starts the wait for embeddings (.waitForTaskToken).
type AwaitInput struct {
	VideoID   string `json:"video_id"`
	Counts    []int  `json:"counts"` // chunks per window, from the Map
	TaskToken string `json:"task_token"`
}

// VideoRef names a video.
type VideoRef struct {
	VideoID string `json:"video_id"`
}

// FailInput is the state the Catch hands to the fail step.
type FailInput struct {
	VideoID string           `json:"video_id"`
	Detail  *S3ObjectCreated `json:"detail,omitempty"`
	Error   struct {
		Error string `json:"Error"`
		Cause string `json:"Cause"`
	} `json:"error"`
}

// Probe registers the object of an EventBridge Object Created event, probes
// it through a presigned GET and plans its windows.
func (f *Functions) Probe(ctx context.Context, ev events.EventBridgeEvent) (ProbeOutput, error) {
	var d S3ObjectCreated
	if err := json.Unmarshal(ev.Detail, &d); err != nil || d.Object.Key == "" {
		return ProbeOutput{}, &Permanent{Message: fmt.Sprintf("not an S3 Object Created event: %v", err)}
	}
	oc, err := f.objectCreated(ctx, d)
	if err != nil {
		return ProbeOutput{}, stepError(err)
	}
	v, err := f.P.Register(ctx, oc)
	if errors.Is(err, pipeline.ErrDuplicate) {
		return ProbeOutput{Skip: true, VideoID: v.ID, Video: v}, nil
	}
	if errors.Is(err, pipeline.ErrGone) {
		return ProbeOutput{Skip: true}, nil // deleted before its run began: nothing to make
	}
	if err != nil {
		if v.ID != "" && scenedex.Permanent(err) {
			// Registered, but unusable (empty file, bad collection): fail it now.
			f.P.MarkFailed(ctx, v.ID, scenedex.Message(err))
		}
		return ProbeOutput{VideoID: v.ID}, stepError(err)
	}
	plan, err := f.P.Probe(ctx, v)
	if errors.Is(err, pipeline.ErrGone) {
		return ProbeOutput{Skip: true}, nil // deleted while it was probed
	}
	if err != nil {
		return ProbeOutput{VideoID: v.ID}, stepError(err)
	}
	windows := plan.Windows
	plan.Windows = nil
	return ProbeOutput{VideoID: v.ID, Video: v, Plan: plan, Windows: windows}, nil
}

// objectCreated turns the event into the domain event. S3 URL-encodes keys in
// its notifications ("red flower.jpg" becomes "red+flower.jpg"); the decoded
// form is tried first and the literal one after, so a key that really holds a
// '+' or '%' still resolves. The object's head confirms which one exists.
func (f *Functions) objectCreated(ctx context.Context, d S3ObjectCreated) (scenedex.ObjectCreated, error) {
	candidates := []string{}
	if dec, err := url.QueryUnescape(d.Object.Key); err == nil {
		candidates = append(candidates, dec)
	}
	if len(candidates) == 0 || candidates[0] != d.Object.Key {
		candidates = append(candidates, d.Object.Key)
	}
	var lastErr error
	for _, key := range candidates {
		info, err := f.P.Blobs.Head(ctx, key)
		if err == nil {
			return scenedex.ObjectCreated{Bucket: d.Bucket.Name, Key: key, Size: info.Size,
				ETag: strings.Trim(d.Object.ETag, `"`), Version: d.Object.VersionID}, nil
		}
		lastErr = err
		if scenedex.ErrorCode(err) != scenedex.CodeNotFound {
			return scenedex.ObjectCreated{}, err
		}
	}
	return scenedex.ObjectCreated{}, scenedex.Wrap(scenedex.CodeNotFound, lastErr, "object %q is gone", d.Object.Key)
}

// Await records the chunk total and the task token the workflow waits on,
// and releases it at once if every embedding already landed.
func (f *Functions) Await(ctx context.Context, in AwaitInput) error {
	if in.TaskToken == "" || in.VideoID == "" {
		return &Permanent{Message: "await needs video_id and task_token"}
	}
	total := 0
	for _, n := range in.Counts {
		total += n
	}
	if _, err := f.P.ChunksPlanned(ctx, in.VideoID, total); errors.Is(err, pipeline.ErrGone) {
		// Deleted while it was cut (its files are cleared): let the run
		// end now, quietly, instead of waiting out its timeout.
		return stepError(f.Tokens.Succeed(ctx, in.TaskToken, VideoRef{VideoID: in.VideoID}))
	} else if err != nil {
		return stepError(err)
	}
	v, err := f.Store.SetTaskToken(ctx, in.VideoID, in.TaskToken)
	if err != nil {
		return stepError(err)
	}
	if pipeline.Complete(v) {
		return stepError(f.Tokens.Succeed(ctx, in.TaskToken, VideoRef{VideoID: v.ID}))
	}
	return nil
}

// Finalize marks the video READY and announces it.
func (f *Functions) Finalize(ctx context.Context, in VideoRef) (scenedex.Video, error) {
	v, err := f.P.Finalize(ctx, in.VideoID)
	if errors.Is(err, pipeline.ErrGone) {
		return scenedex.Video{}, nil // deleted during its run: nothing to announce
	}
	if err != nil {
		return v, stepError(err)
	}
	if v.Status == scenedex.StatusFailed {
		return v, &Permanent{Message: v.Reason}
	}
	if v.Status != scenedex.StatusReady {
		return v, &Retryable{Message: fmt.Sprintf("video %s has %d of %d chunks indexed", v.ID, v.ChunksDone, v.ChunksTotal)}
	}
	if f.Events != nil {
		if err := f.Events.VideoIndexed(ctx, v); err != nil {
			return v, stepError(err)
		}
	}
	return v, nil
}

// Fail records why the workflow failed. The cause of a Lambda error is its
// JSON error object; the message inside is what the user reads.
func (f *Functions) Fail(ctx context.Context, in FailInput) (scenedex.Video, error) {
	id := in.VideoID
	if id == "" && in.Detail != nil {
		oc, err := f.objectCreated(ctx, *in.Detail)
		if err != nil {
			return scenedex.Video{}, nil // the object is gone: no video to fail
		}
		if v, err := f.P.Register(ctx, oc); v.ID != "" && (err == nil || !errors.Is(err, pipeline.ErrDuplicate)) {
			id = v.ID
		}
	}
	if id == "" {
		f.Log.Error("workflow failed before a video was registered", "error", in.Error.Error, "cause", in.Error.Cause)
		return scenedex.Video{}, nil
	}
	reason := in.Error.Cause
	var cause struct {
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal([]byte(reason), &cause) == nil && cause.ErrorMessage != "" {
		reason = cause.ErrorMessage
	}
	switch in.Error.Error {
	case "States.Timeout", "States.HeartbeatTimeout":
		reason = "timed out waiting for embeddings (see the chunk queue's dead letters): " + reason
	}
	if reason == "" {
		reason = in.Error.Error
	}
	v, err := f.P.MarkFailed(ctx, id, reason)
	if scenedex.ErrorCode(err) == scenedex.CodeNotFound {
		// Deleted while its run went on (a window whose object went fails in
		// ffmpeg): no record to mark, and what it made went with it.
		f.Log.Info("the video was deleted during its run: nothing to mark", "video", id, "error", in.Error.Error)
		return scenedex.Video{}, nil
	}
	return v, stepError(err)
}
