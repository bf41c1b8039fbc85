package lambdas

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/aws/aws-lambda-go/events"

	"github.com/scenedex/scenedex/internal/pipeline"
	"github.com/scenedex/scenedex/internal/scenedex"
)

// Embed consumes a batch of chunk messages. Each is embedded, indexed and
// counted on its own; only the ones that failed in a way a retry may fix are
// returned as batch item failures, so one bad message never fails nine good
// ones. The delivery that completes a video's last chunk releases the
// workflow's task token.
func (f *Functions) Embed(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	return f.eachMessage(ctx, ev, "chunk not embedded; SQS will redeliver it", f.embedOne), nil
}

// eachMessage handles each record of an SQS batch on its own with handle; the
// ones it fails are reported as batch item failures (the event source's
// ReportBatchItemFailures), so SQS redelivers those alone, and logged as
// what.
func (f *Functions) eachMessage(ctx context.Context, ev events.SQSEvent, what string,
	handle func(context.Context, events.SQSMessage) error) events.SQSEventResponse {
	var resp events.SQSEventResponse
	for _, rec := range ev.Records {
		if err := handle(ctx, rec); err != nil {
			f.Log.Warn(what, "message", rec.MessageId, "err", err)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
		}
	}
	return resp
}

func (f *Functions) embedOne(ctx context.Context, rec events.SQSMessage) error {
	var c scenedex.Chunk
	if err := json.Unmarshal([]byte(rec.Body), &c); err != nil || (c.VideoID == "" && !pipeline.SwitchMessage(c)) {
		// A poison message: let it reach the dead-letter queue for inspection.
		return scenedex.Errorf(scenedex.CodeInvalid, "message %s is not a chunk: %v", rec.MessageId, err)
	}
	if pipeline.SwitchMessage(c) {
		return f.P.EmbedNext(ctx, c) // no workflow waits on a model switch
	}
	v, err := f.P.EmbedChunk(ctx, c)
	switch {
	case err == nil:
	case errors.Is(err, pipeline.ErrGone):
		return nil // the video was deleted meanwhile
	case scenedex.Permanent(err):
		reason := scenedex.Message(err)
		f.P.MarkFailed(ctx, c.VideoID, reason)
		if token, terr := f.Store.TaskToken(ctx, c.VideoID); terr == nil && token != "" {
			return f.Tokens.Fail(ctx, token, "Permanent", reason)
		}
		return nil
	default:
		return err
	}
	if v.Status == scenedex.StatusReady {
		return nil // a re-index of a finished video: no workflow is waiting
	}
	if !pipeline.Complete(v) {
		// Chunks still to come. No heartbeat: the wait has none, since a
		// backlog can keep a video's chunks from embedding for hours.
		return nil
	}
	token, err := f.Store.TaskToken(ctx, c.VideoID)
	if err != nil {
		return err
	}
	if token == "" {
		return nil // the workflow has not started waiting yet: Await will see it complete
	}
	return f.Tokens.Succeed(ctx, token, VideoRef{VideoID: c.VideoID})
}
