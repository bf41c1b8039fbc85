package awslocal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/scenedex/scenedex/harness/asl"
	"github.com/scenedex/scenedex/harness/sim"
)

// handlerFunc is a function's code in these tests (the burst runs the real
// handlers).
type handlerFunc func(payload []byte) ([]byte, error)

func (h handlerFunc) Invoke(_ context.Context, p []byte) ([]byte, error) { return h(p) }

func newLambda(limit int) *Lambda {
	return &Lambda{Sim: sim.New(time.Unix(0, 0)), AccountLimit: limit}
}

func run(l *Lambda) { l.Sim.Run(context.Background(), func() bool { return false }) }

// Reserved concurrency caps a function; the rest share what the account
// has left; past either, invocations are throttled with
// Lambda.TooManyRequestsException — and run again once concurrency frees.
func TestConcurrencyAndThrottling(t *testing.T) {
	l := newLambda(5)
	ok := handlerFunc(func([]byte) ([]byte, error) { return []byte(`{}`), nil })
	ten := func([]byte) time.Duration { return 10 * time.Second }
	l.Add(&Function{Name: "reserved", Arn: "arn:r", Handler: ok, Reserved: 2, Duration: ten})
	l.Add(&Function{Name: "shared", Arn: "arn:s", Handler: ok, Duration: ten})
	var mu sync.Mutex
	errs := map[string]int{}
	for _, name := range []string{"reserved", "reserved", "reserved", "shared", "shared", "shared", "shared"} {
		l.Invoke(name, nil, func(_ []byte, err *asl.Error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[name+" "+err.Name]++
			}
		})
	}
	run(l)
	// reserved: 2 of 3; shared: the account's 5 less 2 reserved = 3 of 4.
	want := map[string]int{"reserved " + ErrThrottled: 1, "shared " + ErrThrottled: 1}
	if fmt.Sprint(errs) != fmt.Sprint(want) || l.Throttled() != 2 {
		t.Fatalf("errors %v (throttled %d), want %v", errs, l.Throttled(), want)
	}
	if l.Peak("reserved") != 2 || l.Peak("shared") != 3 {
		t.Fatalf("peaks %d and %d, want 2 and 3", l.Peak("reserved"), l.Peak("shared"))
	}
	// Concurrency comes back when the invocations end (10 s later).
	var again *asl.Error
	l.Invoke("reserved", nil, func(_ []byte, err *asl.Error) { again = err })
	run(l)
	if again != nil {
		t.Fatalf("after the others ended: %v", again)
	}
}

// A handler's error is named by its type, as the Lambda Go runtime reports
// errorType, and its message is in the JSON cause.
type Permanent struct{ Message string }

func (e *Permanent) Error() string { return e.Message }

func TestFunctionErrorNames(t *testing.T) {
	e := FunctionError(&Permanent{Message: "not a video"})
	if e.Name != "Permanent" || !strings.Contains(e.Cause, `"errorMessage":"not a video"`) {
		t.Fatalf("%+v", e)
	}
}

// Asynchronous invocations (EventBridge's) are retried while throttled.
func TestAsyncRetriesThrottles(t *testing.T) {
	l := newLambda(1)
	l.Add(&Function{Name: "f", Arn: "arn:f", Handler: handlerFunc(func([]byte) ([]byte, error) { return nil, nil }),
		Duration: func([]byte) time.Duration { return time.Minute }})
	var outcomes []*asl.Error
	var mu sync.Mutex
	for range 3 {
		l.InvokeAsync("f", nil, func(err *asl.Error) { mu.Lock(); outcomes = append(outcomes, err); mu.Unlock() })
	}
	run(l)
	if len(outcomes) != 3 || outcomes[0] != nil || outcomes[1] != nil || outcomes[2] != nil || l.Throttled() == 0 {
		t.Fatalf("outcomes %v, throttled %d: want all three run after throttles", outcomes, l.Throttled())
	}
}

// SQS: a received message is invisible for the visibility timeout, comes
// back with its receive count up, and past maxReceiveCount moves to the
// dead-letter queue; retention deletes old ones.
func TestQueueVisibilityRedriveRetention(t *testing.T) {
	s := sim.New(time.Unix(0, 0))
	dlq := NewQueue(s, "dlq", "u-dlq", "arn:dlq")
	q := NewQueue(s, "q", "u-q", "arn:q")
	q.Visibility, q.DLQ, q.MaxReceiveCount = 30*time.Second, dlq, 2
	q.Send("a")
	var got []string
	for _, at := range []time.Duration{0, 10 * time.Second, 31 * time.Second, 62 * time.Second, 93 * time.Second} {
		s.At(at, func() {
			for _, m := range q.Receive(10, 0) {
				got = append(got, fmt.Sprintf("%s@%v#%d", m.Body, s.Elapsed(), m.ReceiveCount))
			}
		})
	}
	s.Run(context.Background(), func() bool { return false })
	if want := "[a@0s#1 a@31s#2]"; fmt.Sprint(got) != want {
		t.Fatalf("receives %v, want %v", got, want)
	}
	if v, f, _ := dlq.Counts(); v != 1 || f != 0 {
		t.Fatalf("dead-letter queue holds %d visible, %d in flight; want the message", v, f)
	}
	q.Retention = time.Hour
	q.Send("old")
	s.At(2*time.Hour, func() {
		if got := q.Receive(10, 0); len(got) != 0 {
			t.Errorf("received %v past retention", got)
		}
	})
	s.Run(context.Background(), func() bool { return false })
}

// An event source mapping runs at most MaximumConcurrency batches at once,
// deletes what succeeded and returns only the reported failures, which
// come back after the visibility timeout until they reach the DLQ.
func TestMappingConcurrencyAndPartialFailures(t *testing.T) {
	l := newLambda(1000)
	dlq := NewQueue(l.Sim, "dlq", "u-dlq", "arn:dlq")
	q := NewQueue(l.Sim, "q", "u-q", "arn:q")
	q.Visibility, q.DLQ, q.MaxReceiveCount = time.Minute, dlq, 3
	var mu sync.Mutex
	seen := map[string]int{}
	l.Add(&Function{Name: "consumer", Arn: "arn:c", Duration: func([]byte) time.Duration { return 10 * time.Second },
		Handler: handlerFunc(func(p []byte) ([]byte, error) {
			var ev events.SQSEvent
			json.Unmarshal(p, &ev)
			var resp events.SQSEventResponse
			mu.Lock()
			defer mu.Unlock()
			for _, r := range ev.Records {
				seen[r.Body]++
				if strings.HasPrefix(r.Body, "bad") {
					resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
				}
			}
			return json.Marshal(resp)
		})})
	for i := range 20 {
		q.Send(fmt.Sprintf("good-%d", i))
	}
	q.Send("bad-1")
	(&Mapping{Lambda: l, Queue: q, Function: "consumer", BatchSize: 3, MaxConcurrency: 2, ReportBatchItemFailures: true}).Start()
	run(l)
	if p := l.Peak("consumer"); p != 2 {
		t.Fatalf("%d batches at once, want MaximumConcurrency 2", p)
	}
	for i := range 20 {
		if n := seen[fmt.Sprintf("good-%d", i)]; n != 1 {
			t.Fatalf("good-%d delivered %d times, want once", i, n)
		}
	}
	if seen["bad-1"] != 3 {
		t.Fatalf("bad-1 delivered %d times, want maxReceiveCount 3", seen["bad-1"])
	}
	if v, _, _ := q.Counts(); v != 0 {
		t.Fatalf("%d left in the queue", v)
	}
	if v, _, _ := dlq.Counts(); v != 1 {
		t.Fatalf("%d in the dead-letter queue, want bad-1", v)
	}
}

// The real SDK SQS client (JSON 1.0 protocol, MD5 checks) against the
// router: batch send, receive, delete.
func TestSQSWithTheSDK(t *testing.T) {
	s := sim.New(time.Unix(0, 0))
	q := NewQueue(s, "chunks", "https://sqs.us-east-1.amazonaws.com/123456789012/chunks", "arn:aws:sqs:us-east-1:123456789012:chunks")
	svc := &SQS{}
	svc.Add(q)
	srv := httptest.NewServer(&Router{SQS: svc})
	defer srv.Close()
	c := sqs.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", "")})
	ctx := context.Background()
	if _, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(q.URL), Entries: []sqstypes.SendMessageBatchRequestEntry{
		{Id: aws.String("1"), MessageBody: aws.String(`{"n":1}`)}, {Id: aws.String("2"), MessageBody: aws.String(`{"n":2}`)}}}); err != nil {
		t.Fatal(err)
	}
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.URL), MaxNumberOfMessages: 10})
	if err != nil || len(out.Messages) != 2 {
		t.Fatalf("receive: %v, %d messages", err, len(out.Messages))
	}
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.URL), ReceiptHandle: out.Messages[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	if _, f, _ := q.Counts(); f != 1 {
		t.Fatalf("%d in flight after one delete, want 1", f)
	}
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String("https://sqs.us-east-1.amazonaws.com/123456789012/nope"), MessageBody: aws.String("x")})
	var missing *sqstypes.QueueDoesNotExist
	if err == nil || !errors.As(err, &missing) {
		t.Fatalf("send to a missing queue: %v, want QueueDoesNotExist", err)
	}
}
