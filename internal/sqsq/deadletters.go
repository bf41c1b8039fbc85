package sqsq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/scenedex/scenedex/internal/scenedex"
)

// DLQAPI is the SQS calls dead-letter handling uses.
type DLQAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	StartMessageMoveTask(ctx context.Context, in *sqs.StartMessageMoveTaskInput, optFns ...func(*sqs.Options)) (*sqs.StartMessageMoveTaskOutput, error)
}

// Starter starts a workflow run for an Object Created event (the events
// DLQ holds events whose run never started). It returns an error wrapping
// ErrNotStartable for a dead letter that is no Object Created event.
type Starter interface {
	StartEvent(ctx context.Context, event []byte) error
}

// ErrNotStartable is a dead letter of the events DLQ that starts no run: an
// Object Deleted event or forget's failed invocation record (forget's rule
// and destination share the events DLQ). Redrive leaves it for a person.
var ErrNotStartable = errors.New("not an Object Created event")

// DeadLetters implements scenedex.DeadLetterQueues on the stack's two DLQs:
// chunk messages that failed their receives (ChunksDLQ, moved back to the
// chunk queue by an SQS message move task) and EventBridge events whose start
// failed (EventsDLQ, whose redrive starts their runs again).
type DeadLetters struct {
	Client       DLQAPI
	ChunksDLQURL string
	ChunksDLQARN string
	EventsDLQURL string
	Starter      Starter
	MaxListed    int // most messages listed per queue (100)
}

var _ scenedex.DeadLetterQueues = (*DeadLetters)(nil)

// DeadLetters lists what the DLQs hold (up to MaxListed each). Listing
// receives the messages and makes them visible again at once; SQS counts the
// receive, which a DLQ (no redrive policy of its own) does not act on.
func (d *DeadLetters) DeadLetters(ctx context.Context) (scenedex.DeadLetters, error) {
	out := scenedex.DeadLetters{Workflow: []scenedex.DeadLetter{}, Chunks: []scenedex.DeadLetter{}}
	var err error
	if out.Chunks, err = d.list(ctx, d.ChunksDLQURL); err != nil {
		return out, err
	}
	if d.EventsDLQURL != "" {
		if out.Workflow, err = d.list(ctx, d.EventsDLQURL); err != nil {
			return out, err
		}
	}
	return out, nil
}

func (d *DeadLetters) list(ctx context.Context, queue string) ([]scenedex.DeadLetter, error) {
	limit := d.MaxListed
	if limit <= 0 {
		limit = 100
	}
	seen := map[string]bool{}
	out := []scenedex.DeadLetter{}
	for round := 0; len(out) < limit && round < limit/10+2; round++ {
		resp, err := d.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queue), MaxNumberOfMessages: 10,
			VisibilityTimeout: 30, WaitTimeSeconds: 0,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
			MessageAttributeNames:       []string{"All"}})
		if err != nil {
			return out, scenedex.Wrap(scenedex.CodeUnavailable, err, "list dead letters of %s", queue)
		}
		if len(resp.Messages) == 0 {
			break
		}
		for _, m := range resp.Messages {
			// Visible again at once: listing takes nothing away.
			d.Client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(queue),
				ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0})
			id := aws.ToString(m.MessageId)
			if seen[id] {
				continue
			}
			seen[id] = true
			n, _ := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
			dl := scenedex.DeadLetter{ID: id, Attempts: n, Body: json.RawMessage(body(m))}
			if v, ok := m.MessageAttributes["ERROR_MESSAGE"]; ok { // what EventBridge and Lambda destinations record
				dl.LastError = aws.ToString(v.StringValue)
			}
			out = append(out, dl)
		}
	}
	return out, nil
}

// body is the message's body when it is JSON, else as a JSON string.
func body(m types.Message) []byte {
	b := []byte(aws.ToString(m.Body))
	if json.Valid(b) {
		return b
	}
	q, _ := json.Marshal(string(b))
	return q
}

// Redrive moves the chunk DLQ's messages back to the chunk queue (an SQS
// message move task, which redelivers them to their source queue) and starts
// the runs of the events in the events DLQ, deleting each once started. The
// events DLQ is not moved back by a task: besides the events queue's dead
// messages (the original EventBridge events) it holds what EventBridge and
// Lambda destinations send it directly, which a move task cannot return to
// a source queue ("limited to ... dead-letter queues of other Amazon SQS
// queues only", SQS API reference, StartMessageMoveTask). Starting the run
// here is what the events queue's consumer would do with the same body.
// Dead letters that start no run (ErrNotStartable) stay in the DLQ.
func (d *DeadLetters) Redrive(ctx context.Context) (int, error) {
	attrs, err := d.Client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(d.ChunksDLQURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages}})
	if err != nil {
		return 0, scenedex.Wrap(scenedex.CodeUnavailable, err, "count the chunk dead letters")
	}
	moved, _ := strconv.Atoi(attrs.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	if moved > 0 {
		if _, err := d.Client.StartMessageMoveTask(ctx, &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(d.ChunksDLQARN)}); err != nil {
			return 0, scenedex.Wrap(scenedex.CodeUnavailable, err, "start moving the chunk dead letters back")
		}
	}
	started := 0
	if d.EventsDLQURL != "" && d.Starter != nil {
		for round := 0; round < 100; round++ {
			resp, err := d.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(d.EventsDLQURL), MaxNumberOfMessages: 10,
				VisibilityTimeout: 60})
			if err != nil {
				return moved + started, scenedex.Wrap(scenedex.CodeUnavailable, err, "read the events DLQ")
			}
			if len(resp.Messages) == 0 {
				break
			}
			for _, m := range resp.Messages {
				if err := d.Starter.StartEvent(ctx, []byte(aws.ToString(m.Body))); errors.Is(err, ErrNotStartable) {
					continue // hidden for this redrive's receives, then listed again
				} else if err != nil {
					return moved + started, fmt.Errorf("start the run of a dead-lettered event: %w", err)
				}
				if _, err := d.Client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(d.EventsDLQURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
					return moved + started, scenedex.Wrap(scenedex.CodeUnavailable, err, "delete a restarted event")
				}
				started++
			}
		}
	}
	return moved + started, nil
}
