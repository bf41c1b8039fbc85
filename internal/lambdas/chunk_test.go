package lambdas

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/testvideo"
)

// The chunk function answers every window's task token, so no video waits on
// a window nobody will cut: the cut count, the user's fault, the last error
// on the queue's last receive, a dead letter; it leaves the message to SQS
// (a batch item failure) only while a retry may still help. ffmpeg, S3 (the
// local endpoint) and the catalog are real; Step Functions' task-token calls
// and SQS delivery are played (recordingTokens, windowEvent).
func TestChunkAnswersTheWindowToken(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	video := testvideo.Make(t, t.TempDir(), "w.mp4", testvideo.Spec{Scenes: []int{0, 1}, SceneSecs: 2, GOP: 25})
	f, _ := os.Open(video)
	if err := e.store.Put(ctx, "uploads/ads/w.mp4", f, "video/mp4"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	info, _ := e.store.Head(ctx, "uploads/ads/w.mp4")
	out, err := e.fns.Probe(ctx, s3Event(t, "uploads/ads/w.mp4", info.Size, info.ETag))
	if err != nil {
		t.Fatal(err)
	}
	// A window of a file that is not a video (probe would have refused it:
	// this is the user's file failing in ffmpeg's cut).
	e.store.Put(ctx, "uploads/ads/notes.mp4", strings.NewReader(strings.Repeat("not a video\n", 100)), "video/mp4")
	notVideo := out.Video
	notVideo.Key = "uploads/ads/notes.mp4"

	const dlq = "arn:aws:sqs:us-east-1:123456789012:scenedex-WindowsDLQ"
	e.fns.WindowMaxReceives, e.fns.WindowDLQArn = 3, dlq
	sqsDown := errors.New("SendMessageBatch: ServiceUnavailable")
	tests := []struct {
		name    string
		video   scenedex.Video
		receive int
		fromDLQ bool
		sqsDown bool
		refuse  error
		body    string // instead of the window
		retry   bool   // left to SQS: a batch item failure
		answer  string // the token's answer, "" for none
	}{
		{name: "cut", video: out.Video, receive: 1, answer: `success {"chunks":2}`},
		{name: "the user's file", video: notVideo, receive: 1, answer: "Permanent: ffmpeg: "},
		{name: "transient, receives left", video: out.Video, receive: 2, sqsDown: true, retry: true},
		{name: "transient on the last receive", video: out.Video, receive: 3, sqsDown: true,
			answer: "ChunkFailed: window 0 failed every attempt: send chunks of " + out.VideoID + " window 0: SendMessageBatch: ServiceUnavailable"},
		{name: "a dead letter", video: out.Video, receive: 1, fromDLQ: true,
			answer: "ChunkFailed: window 0 failed every attempt: on each receive the chunk function crashed, timed out or was throttled"},
		{name: "the run is gone", video: out.Video, receive: 1, refuse: scenedex.Errorf(scenedex.CodeInvalid, "task token: InvalidToken")},
		{name: "step functions throttles the answer", video: out.Video, receive: 1, retry: true,
			refuse: scenedex.Errorf(scenedex.CodeUnavailable, "step functions: ThrottlingException")},
		{name: "not a window", body: `{"video":{}}`, receive: 1, retry: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			token := "tok-" + strings.ReplaceAll(tc.name, " ", "-")
			e.tokens.refuse = map[string]error{token: tc.refuse}
			e.queue.err = nil
			if tc.sqsDown {
				e.queue.err = sqsDown
			}
			sentBefore := len(e.queue.sent)
			ev := windowEvent(t, ChunkInput{Video: tc.video, Plan: out.Plan, Window: out.Windows[0], TaskToken: token}, tc.receive)
			if tc.fromDLQ {
				ev.Records[0].EventSourceARN = dlq
			}
			if tc.body != "" {
				ev.Records[0].Body = tc.body
			}
			resp, err := e.fns.Chunk(ctx, ev)
			if err != nil {
				t.Fatal(err)
			}
			if retried := len(resp.BatchItemFailures) == 1 && resp.BatchItemFailures[0].ItemIdentifier == ev.Records[0].MessageId; retried != tc.retry {
				t.Errorf("left to SQS: %v, want %v (%+v)", retried, tc.retry, resp)
			}
			if got := answerOf(e.tokens, token); !strings.HasPrefix(got, tc.answer) || (tc.answer == "") != (got == "") {
				t.Errorf("token answered %q, want %q…", got, tc.answer)
			}
			if tc.fromDLQ && len(e.queue.sent) != sentBefore {
				t.Error("a dead letter was cut again")
			}
		})
	}
}

// answerOf is how the test's Step Functions saw token answered.
func answerOf(r *recordingTokens, token string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if out, ok := r.outputs[token]; ok {
		return "success " + out
	}
	for _, f := range r.failed {
		if rest, ok := strings.CutPrefix(f, token+" "); ok {
			return rest
		}
	}
	return ""
}

// A window's failure reaches the video as its reason: the Map's Catch hands
// the window task's error (ChunkFailed from the chunk function, or the Map
// item's own WindowTimedOut) to the fail step.
func TestWindowFailuresBecomeTheReason(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	video := testvideo.Make(t, t.TempDir(), "w.mp4", testvideo.Spec{Scenes: []int{0}, SceneSecs: 2, GOP: 25})
	for i, tc := range []struct{ error, cause string }{
		{ErrorChunkFailed, "window 3 failed every attempt: send chunks of v window 3: SendMessageBatch: ServiceUnavailable"},
		{"WindowTimedOut", "a window waited over 72 hours to be cut (queued behind other videos, or failing every attempt): raise -c windowWaitHours or -c chunkConcurrency, then reprocess the video"},
	} {
		key := fmt.Sprintf("uploads/ads/w%d.mp4", i)
		size, etag := putVideo(t, e, key, video)
		out, err := e.fns.Probe(ctx, s3Event(t, key, size, etag))
		if err != nil {
			t.Fatal(err)
		}
		in := roundTrip[FailInput](t, map[string]any{"video_id": out.VideoID, "windows": out.Windows,
			"error": map[string]string{"Error": tc.error, "Cause": tc.cause}})
		if v, err := e.fns.Fail(ctx, in); err != nil || v.Status != scenedex.StatusFailed || v.Reason != tc.cause {
			t.Errorf("%s: %+v %v", tc.error, v, err)
		}
	}
}
