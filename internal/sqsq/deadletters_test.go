package sqsq

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/scenedex/scenedex/internal/awsfake"
)

type startedEvents struct {
	mu     sync.Mutex
	bodies []string
}

func (s *startedEvents) StartEvent(_ context.Context, b []byte) error {
	if strings.Contains(string(b), "Object Deleted") { // as lambdas.StartEvent answers it
		return fmt.Errorf("detail-type Object Deleted: %w", ErrNotStartable)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bodies = append(s.bodies, string(b))
	return nil
}

// The cloud's dead letters through the real SQS client against a stand-in
// that answers as SQS documents: listing leaves the messages in place,
// redrive moves chunk messages with a message move task and restarts the
// events' runs.
func TestCloudDeadLetters(t *testing.T) {
	fake := awsfake.New(t)
	queues := map[string][]map[string]any{
		"https://sqs/1/chunks-dlq": {
			{"MessageId": "m1", "ReceiptHandle": "r1", "Body": `{"video_id":"v","index":3}`, "Attributes": map[string]any{"ApproximateReceiveCount": "4"}},
		},
		"https://sqs/1/events-dlq": {
			{"MessageId": "e1", "ReceiptHandle": "re1", "Body": `{"detail-type":"Object Created","detail":{"object":{"key":"uploads/a/x.mp4"}}}`,
				"Attributes":        map[string]any{"ApproximateReceiveCount": "1"},
				"MessageAttributes": map[string]any{"ERROR_MESSAGE": map[string]any{"DataType": "String", "StringValue": "Lambda throttled"}}},
			// The events queue's dead message: the EventBridge event as
			// EventBridge sent it to the queue, no attributes of its own.
			{"MessageId": "e2", "ReceiptHandle": "re2", "Body": `{"detail-type":"Object Created","detail":{"object":{"key":"uploads/a/y.mp4"}}}`,
				"Attributes": map[string]any{"ApproximateReceiveCount": "1000"}},
			// forget's failed Object Deleted event shares the DLQ: kept.
			{"MessageId": "e3", "ReceiptHandle": "re3", "Body": `{"detail-type":"Object Deleted","detail":{"object":{"key":"uploads/a/z.mp4"}}}`,
				"Attributes": map[string]any{"ApproximateReceiveCount": "1"}},
		},
	}
	var mu sync.Mutex
	hidden := map[string]bool{}
	fake.On("ReceiveMessage", func(t *testing.T, b map[string]any) awsfake.Reply {
		mu.Lock()
		defer mu.Unlock()
		var out []any
		for _, m := range queues[awsfake.String(b, "QueueUrl")] {
			if !hidden[m["ReceiptHandle"].(string)] {
				out = append(out, m)
				hidden[m["ReceiptHandle"].(string)] = true
			}
		}
		return awsfake.Reply{Body: map[string]any{"Messages": out}}
	})
	fake.On("ChangeMessageVisibility", func(t *testing.T, b map[string]any) awsfake.Reply {
		mu.Lock()
		defer mu.Unlock()
		if awsfake.Field(b, "VisibilityTimeout") == 0.0 || b["VisibilityTimeout"] == nil {
			delete(hidden, awsfake.String(b, "ReceiptHandle"))
		}
		return awsfake.Reply{Body: map[string]any{}}
	})
	fake.On("GetQueueAttributes", func(t *testing.T, b map[string]any) awsfake.Reply {
		return awsfake.Reply{Body: map[string]any{"Attributes": map[string]any{"ApproximateNumberOfMessages": "1"}}}
	})
	fake.On("StartMessageMoveTask", func(t *testing.T, b map[string]any) awsfake.Reply {
		if awsfake.String(b, "SourceArn") != "arn:aws:sqs:us-east-1:1:chunks-dlq" || b["DestinationArn"] != nil {
			t.Errorf("move task %v", b)
		}
		return awsfake.Reply{Body: map[string]any{"TaskHandle": "h"}}
	})
	fake.On("DeleteMessage", func(t *testing.T, b map[string]any) awsfake.Reply {
		mu.Lock()
		defer mu.Unlock()
		url := awsfake.String(b, "QueueUrl")
		kept := queues[url][:0]
		for _, m := range queues[url] {
			if m["ReceiptHandle"] != awsfake.String(b, "ReceiptHandle") {
				kept = append(kept, m)
			}
		}
		queues[url] = kept
		return awsfake.Reply{Body: map[string]any{}}
	})
	starter := &startedEvents{}
	d := &DeadLetters{Client: sqs.NewFromConfig(fake.Config()), ChunksDLQURL: "https://sqs/1/chunks-dlq", ChunksDLQARN: "arn:aws:sqs:us-east-1:1:chunks-dlq",
		EventsDLQURL: "https://sqs/1/events-dlq", Starter: starter}
	ctx := context.Background()
	for range 2 { // listing twice sees the same: nothing was taken
		dl, err := d.DeadLetters(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(dl.Chunks) != 1 || dl.Chunks[0].Attempts != 4 || len(dl.Workflow) != 3 || dl.Workflow[0].LastError != "Lambda throttled" ||
			dl.Workflow[1].Attempts != 1000 || !strings.Contains(string(dl.Workflow[1].Body), "uploads/a/y.mp4") {
			t.Fatalf("dead letters %+v", dl)
		}
		var c map[string]any
		if json.Unmarshal(dl.Chunks[0].Body, &c); c["video_id"] != "v" {
			t.Fatalf("body %s", dl.Chunks[0].Body)
		}
	}
	n, err := d.Redrive(ctx)
	left := queues["https://sqs/1/events-dlq"]
	if err != nil || n != 3 || len(starter.bodies) != 2 || !strings.Contains(starter.bodies[0], "uploads/a/x.mp4") ||
		!strings.Contains(starter.bodies[1], "uploads/a/y.mp4") || len(left) != 1 || left[0]["MessageId"] != "e3" {
		t.Fatalf("redrive %d %v, started %v, left %v", n, err, starter.bodies, left)
	}
	if len(fake.Calls("StartMessageMoveTask")) != 1 {
		t.Fatal("no move task")
	}
}
