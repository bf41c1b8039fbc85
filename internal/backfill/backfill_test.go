package backfill

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/scenedex/scenedex/internal/awsfake"
	"github.com/scenedex/scenedex/internal/lambdas"
	"github.com/scenedex/scenedex/internal/s3blob"
	"github.com/scenedex/scenedex/internal/s3local"
	sfnadapter "github.com/scenedex/scenedex/internal/sfn"
)

// Listing runs against the local S3 endpoint through the real SDK; the fake
// stands in for Step Functions' StartExecution (ExecutionAlreadyExists for a
// name used before).
func TestBackfill(t *testing.T) {
	srv, err := s3local.New(s3local.Config{Dir: t.TempDir(), Bucket: "media"})
	if err != nil {
		t.Fatal(err)
	}
	h := httptest.NewServer(srv)
	defer h.Close()
	client := s3blob.LocalClient(h.URL, srv.AccessKey, srv.Secret)
	store := s3blob.New(client, "media")
	ctx := context.Background()
	keys := []string{"uploads/ads/a b+ü%.mp4", "uploads/ads/sub/c.mp4", "uploads/talks/d.mp4", "chunks/x/00000/clip.mp4"}
	for _, k := range keys {
		if err := store.Put(ctx, k, strings.NewReader("video "+k), "video/mp4"); err != nil {
			t.Fatal(err)
		}
	}
	fake := awsfake.New(t)
	names := map[string]bool{}
	fake.On("StartExecution", func(t *testing.T, b map[string]any) awsfake.Reply {
		var ev events.EventBridgeEvent
		if err := json.Unmarshal([]byte(awsfake.String(b, "input")), &ev); err != nil || ev.DetailType != "Object Created" {
			t.Errorf("input is not an Object Created event: %v", err)
		}
		var d lambdas.S3ObjectCreated
		json.Unmarshal(ev.Detail, &d)
		if d.Bucket.Name != "media" || d.Object.Size == 0 || d.Object.ETag == "" || strings.Contains(d.Object.Key, " ") {
			t.Errorf("detail %+v (keys are URL-encoded as S3 does)", d)
		}
		name := awsfake.String(b, "name")
		if name != lambdas.ExecutionName(d) {
			t.Errorf("execution name %s, want the event's own %s", name, lambdas.ExecutionName(d))
		}
		if names[name] {
			return awsfake.Reply{Status: 400, Type: "ExecutionAlreadyExists"}
		}
		names[name] = true
		return awsfake.Reply{Body: map[string]any{"executionArn": "arn:x:" + name, "startDate": 1.7e9}}
	})
	starter := sfnadapter.Starter{Client: sfn.NewFromConfig(fake.Config()), StateMachineArn: "arn:aws:states:us-east-1:1:stateMachine:ingest"}

	bucket, prefix, err := ParseURI("s3://media/uploads/ads/")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(ctx, client, starter, bucket, prefix, false, nil)
	if err != nil || res != (Result{Listed: 2, Started: 2}) {
		t.Fatalf("first run %+v %v", res, err)
	}
	// Again, over all of uploads/: the two already started are skipped.
	res, err = Run(ctx, client, starter, "media", "uploads/", false, nil)
	if err != nil || res != (Result{Listed: 3, Started: 1, Skipped: 2}) {
		t.Fatalf("second run %+v %v", res, err)
	}
	if res, _ := Run(ctx, client, starter, "media", "uploads/", true, nil); res.Listed != 3 || res.Started != 0 {
		t.Fatalf("dry run %+v", res)
	}
	for _, bad := range []string{"media/uploads", "s3://", "s3://media/chunks/"} {
		if _, _, err := ParseURI(bad); err == nil {
			t.Errorf("ParseURI(%q) accepted", bad)
		}
	}
}
