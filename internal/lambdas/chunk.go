package lambdas

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/aws/aws-lambda-go/events"

	"github.com/scenedex/scenedex/internal/scenedex"
)

// Error names the chunk function answers a window's task token with; the
// workflow's Catch routes them (infra/workflow.go).
const (
	// ErrorPermanent is the user's file: the video ends FAILED with the
	// reason, through MarkRejected.
	ErrorPermanent = "Permanent"
	// ErrorChunkFailed is a window that failed every attempt for a reason of
	// scenedex's own: the video ends FAILED with the last error.
	ErrorChunkFailed = "ChunkFailed"
)

// Chunk consumes the window queue (BatchSize 1; the event source's
// MaximumConcurrency bounds the windows cut at once across all videos). Each
// message is one window and the task token its workflow's Map item waits on:
//
//   - cut → SendTaskSuccess {"chunks": n};
//   - the user's file (a Permanent error) → SendTaskFailure "Permanent";
//   - any other error → a batch item failure: SQS redelivers the window after
//     its visibility timeout, except on the queue's last allowed receive
//     (WindowMaxReceives), where the token is failed with "ChunkFailed" and
//     the last error, so the video ends FAILED instead of waiting;
//   - a message from the window's dead-letter queue (the function crashed or
//     timed out on its last receive) → SendTaskFailure "ChunkFailed" at once.
//
// A token the run no longer waits on (timed out, or the run is gone) is
// logged and the message acknowledged: nothing is retried for ever.
func (f *Functions) Chunk(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	return f.eachMessage(ctx, ev, "window not cut; SQS will redeliver it", f.chunkOne), nil
}

func (f *Functions) chunkOne(ctx context.Context, rec events.SQSMessage) error {
	var in ChunkInput
	if err := json.Unmarshal([]byte(rec.Body), &in); err != nil {
		// No token: no run to answer. It reaches the dead-letter queue,
		// which keeps it for inspection.
		return scenedex.Wrap(scenedex.CodeInvalid, err, "message %s is not a window", rec.MessageId)
	}
	if in.TaskToken == "" {
		return scenedex.Errorf(scenedex.CodeInvalid, "message %s is a window without a task token", rec.MessageId)
	}
	if f.WindowDLQArn != "" && rec.EventSourceARN == f.WindowDLQArn {
		cause := fmt.Sprintf("window %d failed every attempt: on each receive the chunk function crashed, timed out or was throttled (see its logs)", in.Window.Index)
		return f.answerWindow(ctx, in, rec, f.Tokens.Fail(ctx, in.TaskToken, ErrorChunkFailed, cause))
	}
	chunks, err := f.P.ChunkWindow(ctx, in.Video, in.Plan, in.Window)
	switch {
	case err == nil:
		return f.answerWindow(ctx, in, rec, f.Tokens.Succeed(ctx, in.TaskToken, ChunkOutput{Chunks: len(chunks)}))
	case scenedex.Permanent(err):
		return f.answerWindow(ctx, in, rec, f.Tokens.Fail(ctx, in.TaskToken, ErrorPermanent, scenedex.Message(err)))
	case lastReceive(rec, f.WindowMaxReceives):
		cause := fmt.Sprintf("window %d failed every attempt: %v", in.Window.Index, err)
		return f.answerWindow(ctx, in, rec, f.Tokens.Fail(ctx, in.TaskToken, ErrorChunkFailed, cause))
	default:
		return err
	}
}

// answerWindow settles a window message after its token was answered (err is
// the answer's error): a refused token means the run no longer waits on it,
// so the message is acknowledged and logged; any other error redelivers it.
func (f *Functions) answerWindow(ctx context.Context, in ChunkInput, rec events.SQSMessage, err error) error {
	if err == nil {
		return nil
	}
	if scenedex.Permanent(err) {
		f.Log.Error("window's task token refused: its run no longer waits on it", "video", in.Video.ID,
			"window", in.Window.Index, "message", rec.MessageId, "err", err)
		return nil
	}
	return fmt.Errorf("answer window %d of %s: %w", in.Window.Index, in.Video.ID, err)
}

// lastReceive reports whether rec is on its queue's last allowed receive
// (SQS's ApproximateReceiveCount reaching the redrive policy's
// maxReceiveCount); max 0 means never.
func lastReceive(rec events.SQSMessage, max int) bool {
	n, err := strconv.Atoi(rec.Attributes["ApproximateReceiveCount"])
	return max > 0 && err == nil && n >= max
}
