// Package sqsq sends chunks to the embedding queue on Amazon SQS
// (SendMessageBatch, 10 per call, retrying only the entries that failed).
package sqsq

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/scenedex/scenedex/internal/scenedex"
)

// API is the one SQS call used.
type API interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// Sender implements scenedex.ChunkSender.
type Sender struct {
	Client   API
	QueueURL string
	Attempts int           // tries per entry (5)
	Backoff  time.Duration // first retry delay (100ms), doubling
}

var _ scenedex.ChunkSender = (*Sender)(nil)

// New returns a Sender with defaults.
func New(client API, queueURL string) *Sender {
	return &Sender{Client: client, QueueURL: queueURL, Attempts: 5, Backoff: 100 * time.Millisecond}
}

// maxBatch is SQS's limit of entries per SendMessageBatch.
const maxBatch = 10

// SendChunks sends one message per chunk.
func (s *Sender) SendChunks(ctx context.Context, chunks []scenedex.Chunk) error {
	for i := 0; i < len(chunks); i += maxBatch {
		if err := s.sendBatch(ctx, chunks[i:min(i+maxBatch, len(chunks))]); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sender) sendBatch(ctx context.Context, chunks []scenedex.Chunk) error {
	pending := map[string]types.SendMessageBatchRequestEntry{}
	for i, c := range chunks {
		body, err := json.Marshal(c)
		if err != nil {
			return err
		}
		id := strconv.Itoa(i)
		pending[id] = types.SendMessageBatchRequestEntry{Id: aws.String(id), MessageBody: aws.String(string(body)),
			MessageAttributes: map[string]types.MessageAttributeValue{
				"chunk_id": {DataType: aws.String("String"), StringValue: aws.String(c.ID())},
			}}
	}
	attempts := max(s.Attempts, 1)
	var lastErr error
	for attempt := 1; attempt <= attempts && len(pending) > 0; attempt++ {
		if attempt > 1 {
			d := time.Duration(rand.Int64N(int64(s.Backoff) << (attempt - 2)))
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(d):
			}
		}
		entries := make([]types.SendMessageBatchRequestEntry, 0, len(pending))
		for i := range chunks {
			if e, ok := pending[strconv.Itoa(i)]; ok {
				entries = append(entries, e)
			}
		}
		out, err := s.Client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(s.QueueURL), Entries: entries})
		if err != nil {
			lastErr = err // the whole call failed (the SDK already retried): try all again
			continue
		}
		for _, ok := range out.Successful {
			delete(pending, aws.ToString(ok.Id))
		}
		for _, f := range out.Failed {
			lastErr = fmt.Errorf("entry %s: %s: %s", aws.ToString(f.Id), aws.ToString(f.Code), aws.ToString(f.Message))
			if f.SenderFault {
				// Our fault (e.g. a message too large): retrying cannot help.
				return scenedex.Errorf(scenedex.CodeInvalid, "sqs refused a chunk message: %v", lastErr)
			}
		}
	}
	if len(pending) > 0 {
		return scenedex.Wrap(scenedex.CodeUnavailable, lastErr, "sqs: %d of %d chunk messages not sent after %d attempts", len(pending), len(chunks), attempts)
	}
	return nil
}
