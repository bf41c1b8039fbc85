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

// ExecutionName names the workflow run of one object version: readable key
// words plus a hash of bucket, key and version (the version id, or the ETag in
// an unversioned bucket), within Step Functions' 80 characters. The same object
// version always gets the same name, whether from a (repeated) event or a
// backfill, so it cannot start a second run.
func ExecutionName(d S3ObjectCreated) string {
	version := d.Object.VersionID
	if version == "" {
		version = "etag:" + strings.Trim(d.Object.ETag, `"`)
	}
	sum := sha256.Sum256([]byte(d.Bucket.Name + "\x00" + d.Object.Key + "\x00" + version))
	words := strings.Trim(unsafeName.ReplaceAllString(d.Object.Key, "-"), "-")
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
