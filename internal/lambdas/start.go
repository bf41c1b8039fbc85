package lambdas

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// ExecutionName names the workflow run of one object's content: readable key
// words plus a hash of bucket, key and ETag, within Step Functions' 80
// characters. The same content always gets the same name — from a (repeated)
// event, a backfill (which lists no version ids) or the sweep, in versioned
// and unversioned buckets alike — so it cannot start a second run; new content
// under the key (a new ETag) gets a new run.
//
// The key is read decoded: S3's events URL-encode it (a space as '+'), the
// sweep and the backfill encode it with url.QueryEscape (a '/' as %2F too);
// both decode to the object's key, so a run started by the sweep has the name
// the event's run has and cannot be a second run of the same object.
func ExecutionName(d S3ObjectCreated) string {
	key := d.Object.Key
	if dec, err := url.QueryUnescape(key); err == nil {
		key = dec
	}
	sum := sha256.Sum256([]byte(d.Bucket.Name + "\x00" + key + "\x00etag:" + strings.Trim(d.Object.ETag, `"`)))
	words := strings.Trim(unsafeName.ReplaceAllString(key, "-"), "-")
	if len(words) > 47 {
		words = words[len(words)-47:]
	}
	return strings.TrimLeft(words, "-_") + "-" + hex.EncodeToString(sum[:])[:32]
}

// Start is the EventBridge rule's target: it starts the workflow for an
// Object Created event under the name of the object version.
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
