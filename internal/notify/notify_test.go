package notify

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/scenedex/scenedex/internal/awsfake"
	"github.com/scenedex/scenedex/internal/scenedex"
)

// The fake stands in for Amazon EventBridge PutEvents, including its
// per-entry failures (FailedEntryCount) that arrive with a 200.
func TestVideoIndexed(t *testing.T) {
	fake := awsfake.New(t)
	fail := false
	fake.On("PutEvents", func(t *testing.T, b map[string]any) awsfake.Reply {
		e := awsfake.Field(b, "Entries", 0)
		var detail map[string]any
		json.Unmarshal([]byte(awsfake.String(e, "Detail")), &detail)
		if awsfake.String(e, "Source") != "scenedex" || awsfake.String(e, "DetailType") != "Video Indexed" ||
			awsfake.String(e, "EventBusName") != "bus" || detail["video_id"] != "v1" || detail["chunks"] != 3.0 {
			t.Errorf("entry %v", e)
		}
		if fail {
			return awsfake.Reply{Body: map[string]any{"FailedEntryCount": 1, "Entries": []any{map[string]any{"ErrorCode": "InternalFailure", "ErrorMessage": "try later"}}}}
		}
		return awsfake.Reply{Body: map[string]any{"FailedEntryCount": 0, "Entries": []any{map[string]any{"EventId": "e1"}}}}
	})
	p := Publisher{Client: eventbridge.NewFromConfig(fake.Config()), Bus: "bus"}
	v := scenedex.Video{ID: "v1", Collection: "ads", ChunksTotal: 3}
	if err := p.VideoIndexed(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	fail = true
	if err := p.VideoIndexed(context.Background(), v); scenedex.ErrorCode(err) != scenedex.CodeUnavailable {
		t.Fatalf("failed entry: %v", err)
	}
}
