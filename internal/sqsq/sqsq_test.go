package sqsq

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/scenedex/scenedex/internal/awsfake"
	"github.com/scenedex/scenedex/internal/scenedex"
)

// The fake stands in for Amazon SQS (JSON protocol): it checks each
// SendMessageBatch the way SQS documents it (at most 10 entries, unique ids,
// the queue URL) and answers with Successful entries carrying the body's MD5
// (which the SDK verifies) or Failed entries.
func fakeSQS(t *testing.T, failFirst map[string]bool, senderFault bool) *awsfake.Server {
	fake := awsfake.New(t)
	failed := map[string]bool{}
	fake.On("SendMessageBatch", func(t *testing.T, b map[string]any) awsfake.Reply {
		if awsfake.String(b, "QueueUrl") != "https://sqs.us-east-1.amazonaws.com/1/chunks" {
			t.Errorf("queue url %v", b["QueueUrl"])
		}
		entries, _ := b["Entries"].([]any)
		if len(entries) == 0 || len(entries) > 10 {
			t.Errorf("%d entries in one batch", len(entries))
		}
		var ok, bad []map[string]any
		seen := map[string]bool{}
		for _, e := range entries {
			id, body := awsfake.String(e, "Id"), awsfake.String(e, "MessageBody")
			if seen[id] {
				t.Errorf("duplicate entry id %s", id)
			}
			seen[id] = true
			var c scenedex.Chunk
			if err := json.Unmarshal([]byte(body), &c); err != nil {
				t.Errorf("entry %s body is not a chunk: %v", id, err)
			}
			if awsfake.String(e, "MessageAttributes", "chunk_id", "StringValue") != c.ID() {
				t.Errorf("chunk_id attribute missing on %s", id)
			}
			if failFirst[c.ID()] && !failed[c.ID()] {
				failed[c.ID()] = true
				bad = append(bad, map[string]any{"Id": id, "SenderFault": senderFault, "Code": "InternalError", "Message": "try again"})
				continue
			}
			sum := md5.Sum([]byte(body))
			ok = append(ok, map[string]any{"Id": id, "MessageId": "m-" + c.ID(), "MD5OfMessageBody": hex.EncodeToString(sum[:])})
		}
		return awsfake.Reply{Body: map[string]any{"Successful": ok, "Failed": bad}}
	})
	return fake
}

func chunks(n int) []scenedex.Chunk {
	out := make([]scenedex.Chunk, n)
	for i := range out {
		out[i] = scenedex.Chunk{VideoID: "v", Index: i, FrameKeys: []string{fmt.Sprintf("chunks/v/%05d/frame-00.jpg", i)}}
	}
	return out
}

func TestSendChunksRetriesOnlyFailedEntries(t *testing.T) {
	fake := fakeSQS(t, map[string]bool{"v:3": true, "v:12": true}, false)
	s := New(sqs.NewFromConfig(fake.Config()), "https://sqs.us-east-1.amazonaws.com/1/chunks")
	s.Backoff = time.Millisecond
	if err := s.SendChunks(context.Background(), chunks(23)); err != nil {
		t.Fatal(err)
	}
	calls := fake.Calls("SendMessageBatch")
	// 23 chunks = 3 batches; batches 1 and 2 each had one failure, re-sent alone.
	if len(calls) != 5 {
		t.Fatalf("%d calls, want 5", len(calls))
	}
	sent := 0
	for _, c := range calls {
		sent += len(c.Body["Entries"].([]any))
	}
	if sent != 25 {
		t.Errorf("%d entries sent in all, want 23 + 2 retries", sent)
	}
	for _, i := range []int{1, 3} {
		if n := len(calls[i].Body["Entries"].([]any)); n != 1 {
			t.Errorf("retry call %d re-sent %d entries, want only the failed one", i, n)
		}
	}
}

func TestSenderFaultIsPermanent(t *testing.T) {
	fake := fakeSQS(t, map[string]bool{"v:0": true}, true)
	s := New(sqs.NewFromConfig(fake.Config()), "https://sqs.us-east-1.amazonaws.com/1/chunks")
	err := s.SendChunks(context.Background(), chunks(2))
	if scenedex.ErrorCode(err) != scenedex.CodeInvalid {
		t.Fatalf("err %v", err)
	}
}
