package lambdas

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/aws/aws-lambda-go/events"

	"github.com/scenedex/scenedex/internal/scenedex"
)

// ForgetResult says what an Object Deleted event removed.
type ForgetResult struct {
	Key     string `json:"key"`
	Removed int    `json:"removed"`
}

// Forget removes the videos of a deleted object (EventBridge "Object
// Deleted"). S3 URL-encodes the key in the event; both readings are tried,
// as for Object Created. An error makes EventBridge retry (then the events
// DLQ); removing twice is harmless.
func (f *Functions) Forget(ctx context.Context, ev events.EventBridgeEvent) (ForgetResult, error) {
	var d S3ObjectCreated // the same bucket/object shape
	if err := json.Unmarshal(ev.Detail, &d); err != nil || d.Object.Key == "" {
		return ForgetResult{}, &Permanent{Message: fmt.Sprintf("not an S3 Object Deleted event: %v", err)}
	}
	keys := []string{}
	if dec, err := url.QueryUnescape(d.Object.Key); err == nil {
		keys = append(keys, dec)
	}
	if len(keys) == 0 || keys[0] != d.Object.Key {
		keys = append(keys, d.Object.Key)
	}
	res := ForgetResult{Key: keys[0]}
	for _, key := range keys {
		n, err := f.P.Forget(ctx, scenedex.ObjectDeleted{Bucket: d.Bucket.Name, Key: key})
		if err != nil {
			return res, stepError(err)
		}
		res.Removed += n
	}
	f.Log.Info("object deleted", "key", res.Key, "videos_removed", res.Removed)
	return res, nil
}
