package lambdas

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// ExecutionName names the workflow run of one arrival of an object's content:
// readable key words plus a hash of bucket, key, ETag and the S3 event's
// sequencer, within Step Functions' 80 characters. A redelivery of the same
// event (EventBridge retries, a dead letter restarted) carries the same
// sequencer, so it gets the same name and cannot start a second run; a new
// arrival — new content, or the same bytes put back after a delete — has a
// new sequencer and gets a run of its own (S3 user guide, "Event message
// structure": the sequencer orders the events of one key). A name lives 90
// days after its run, so without the sequencer a same-bytes re-put would
// start nothing. Runs started without an event (the sweep, a backfill) have
// no sequencer and are named after the content alone. Whatever the name, the
// video's record keeps a repeated run harmless: Register finds the content's
// video READY or FAILED and the run ends (pipeline.ErrDuplicate).
//
// The key is read decoded: S3's events URL-encode it (a space as '+'), the
// sweep and the backfill encode it with url.QueryEscape (a '/' as %2F too);
// both decode to the object's key, so the same content is named alike
// whoever starts its run.
func ExecutionName(d S3ObjectCreated) string {
	key := d.Object.Key
	if dec, err := url.QueryUnescape(key); err == nil {
		key = dec
	}
	id := d.Bucket.Name + "\x00" + key + "\x00etag:" + strings.Trim(d.Object.ETag, `"`)
	if d.Object.Sequencer != "" {
		id += "\x00seq:" + d.Object.Sequencer
	}
	sum := sha256.Sum256([]byte(id))
	words := strings.Trim(unsafeName.ReplaceAllString(key, "-"), "-")
	if len(words) > 47 {
		words = words[len(words)-47:]
	}
	return strings.TrimLeft(words, "-_") + "-" + hex.EncodeToString(sum[:])[:32]
}

// Start consumes the events queue, the Object Created rule's target: each
// message's body is the EventBridge event (EventBridge user guide, "Amazon
// SQS" targets: the event is the message). Each event starts the workflow
// under the name of that arrival (ExecutionName); a run already started
// under that name counts as started. A body that is no Object Created event,
// or whose run could not be started, is reported as a batch item failure
// (ReportBatchItemFailures): it alone returns to the queue, and after the
// queue's maxReceiveCount to the events DLQ.
func (f *Functions) Start(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	return f.eachMessage(ctx, ev, "Object Created event not started; SQS will redeliver it", func(ctx context.Context, m events.SQSMessage) error {
		var e events.EventBridgeEvent
		if err := json.Unmarshal([]byte(m.Body), &e); err != nil {
			return &Permanent{Message: "not an EventBridge event: " + err.Error()}
		}
		return f.startEvent(ctx, e)
	}), nil
}

// startEvent starts the run of one Object Created event.
func (f *Functions) startEvent(ctx context.Context, ev events.EventBridgeEvent) error {
	var d S3ObjectCreated
	if err := json.Unmarshal(ev.Detail, &d); err != nil || d.Object.Key == "" {
		return &Permanent{Message: "not an S3 Object Created event"}
	}
	input, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	name := ExecutionName(d)
	started, err := f.Starter.Start(ctx, name, input)
	if err != nil {
		return fmt.Errorf("start run %s of %s: %w", name, d.Object.Key, err)
	}
	f.Log.Info("workflow", "execution", name, "key", d.Object.Key, "started", started)
	return nil
}
