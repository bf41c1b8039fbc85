// Package notify publishes scenedex's own events on Amazon EventBridge, so
// integrations can react: "Video Indexed" when a video is READY.
package notify

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/scenedex/scenedex/internal/scenedex"
)

// Source is the events' source field.
const Source = "scenedex"

// API is the one EventBridge call used.
type API interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Publisher sends events to a bus.
type Publisher struct {
	Client API
	Bus    string
}

// VideoIndexed announces a READY video.
func (p Publisher) VideoIndexed(ctx context.Context, v scenedex.Video) error {
	detail, err := json.Marshal(map[string]any{"video_id": v.ID, "collection": v.Collection, "filename": v.Filename,
		"key": v.Key, "duration_seconds": v.Duration, "chunks": v.ChunksTotal, "metadata": v.Metadata})
	if err != nil {
		return err
	}
	out, err := p.Client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{{
		EventBusName: aws.String(p.Bus), Source: aws.String(Source), DetailType: aws.String("Video Indexed"),
		Detail: aws.String(string(detail)), Resources: []string{},
	}}})
	if err != nil {
		return scenedex.Wrap(scenedex.CodeUnavailable, err, "publish Video Indexed for %s", v.ID)
	}
	if out.FailedEntryCount > 0 {
		e := out.Entries[0]
		return scenedex.Errorf(scenedex.CodeUnavailable, "publish Video Indexed for %s: %s: %s", v.ID,
			aws.ToString(e.ErrorCode), aws.ToString(e.ErrorMessage))
	}
	return nil
}

// String is for logs.
func (p Publisher) String() string { return fmt.Sprintf("eventbridge bus %s", p.Bus) }
