package lambdas

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
func ExecutionName(d S3ObjectCreated) string {
	id := d.Bucket.Name + "\x00" + d.Object.Key + "\x00etag:" + strings.Trim(d.Object.ETag, `"`)
	if d.Object.Sequencer != "" {
		id += "\x00seq:" + d.Object.Sequencer
	}
	sum := sha256.Sum256([]byte(id))
	words := strings.Trim(unsafeName.ReplaceAllString(d.Object.Key, "-"), "-")
	if len(words) > 47 {
		words = words[len(words)-47:]
	}
	return strings.TrimLeft(words, "-_") + "-" + hex.EncodeToString(sum[:])[:32]
}

// Start is the EventBridge rule's target: it starts the workflow for an
// Object Created event under the name of that arrival (ExecutionName).
func (f *Functions) Start(ctx context.Context, ev events.EventBridgeEvent) error {
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
		return err
	}
	f.Log.Info("workflow", "execution", name, "key", d.Object.Key, "started", started)
	return nil
}
