package awslocal

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/scenedex/scenedex/harness/asl"
)

// Router is one HTTP endpoint for every AWS service the functions call, so
// one aws.Config (BaseEndpoint) serves all the real SDK clients: requests
// with an X-Amz-Target header go to the JSON-protocol service it names,
// SageMaker Runtime's /endpoints/{name}/invocations to Model, the rest to S3.
type Router struct {
	S3       http.Handler // internal/s3local
	DynamoDB http.Handler // minidyn's server
	Model    http.Handler // internal/modelserver
	SQS      *SQS
	SFN      *asl.Engine
	Events   *EventBus
}

func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	service, op, _ := strings.Cut(target, ".")
	switch {
	case service == "DynamoDB_20120810":
		rt.DynamoDB.ServeHTTP(w, r)
	case service == "AmazonSQS":
		serveJSON(w, r, "com.amazonaws.sqs#", func(body map[string]any) (any, *asl.Error) { return rt.SQS.serve(op, body) })
	case service == "AWSStepFunctions":
		serveJSON(w, r, "com.amazonaws.states#", func(body map[string]any) (any, *asl.Error) { return serveSFN(rt.SFN, op, body) })
	case service == "AWSEvents":
		serveJSON(w, r, "", func(body map[string]any) (any, *asl.Error) { return rt.Events.serve(op, body) })
	case target != "":
		http.Error(w, "the harness does not serve "+target, http.StatusNotImplemented)
	case strings.HasPrefix(r.URL.Path, "/endpoints/"):
		rt.Model.ServeHTTP(w, r)
	default:
		rt.S3.ServeHTTP(w, r)
	}
}

// serveJSON speaks the AWS JSON 1.0 protocol: a JSON body in, a JSON body
// out; an error is HTTP 400 with "__type" naming the error shape, which the
// SDK's deserializers map to the typed error.
func serveJSON(w http.ResponseWriter, r *http.Request, ns string, op func(map[string]any) (any, *asl.Error)) {
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		body = map[string]any{}
	}
	out, aerr := op(body)
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	if aerr != nil {
		w.Header().Set("X-Amzn-ErrorType", aerr.Name)
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"__type": ns + aerr.Name, "message": aerr.Cause})
		return
	}
	if out == nil {
		out = map[string]any{}
	}
	json.NewEncoder(w).Encode(out)
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

// serveSFN answers the Step Functions API calls the functions make, from
// the interpreter (API reference: StartExecution, SendTaskSuccess,
// SendTaskFailure, SendTaskHeartbeat).
func serveSFN(e *asl.Engine, op string, b map[string]any) (any, *asl.Error) {
	switch op {
	case "StartExecution":
		input := str(b, "input")
		if input == "" {
			input = "{}"
		}
		arn, err := e.Start(str(b, "stateMachineArn"), str(b, "name"), input)
		if err != nil {
			return nil, err
		}
		return map[string]any{"executionArn": arn, "startDate": float64(e.Sim.Now().Unix())}, nil
	case "SendTaskSuccess":
		return nil, e.SendTaskSuccess(str(b, "taskToken"), str(b, "output"))
	case "SendTaskFailure":
		return nil, e.SendTaskFailure(str(b, "taskToken"), str(b, "error"), str(b, "cause"))
	case "SendTaskHeartbeat":
		return nil, e.SendTaskHeartbeat(str(b, "taskToken"))
	}
	return nil, &asl.Error{Name: "UnknownOperationException", Cause: "the harness does not serve Step Functions " + op}
}

// SQS is the queues by URL, served over SQS's JSON protocol (the SDK's SQS
// client since v1.50 speaks AWS JSON 1.0, X-Amz-Target AmazonSQS.<Op>).
type SQS struct {
	mu     sync.Mutex
	queues map[string]*Queue
}

// Add registers q under its URL and ARN.
func (s *SQS) Add(q *Queue) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.queues == nil {
		s.queues = map[string]*Queue{}
	}
	s.queues[q.URL], s.queues[q.Arn] = q, q
}

// Queue finds a queue by URL or ARN.
func (s *SQS) Queue(urlOrArn string) *Queue {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queues[urlOrArn]
}

// SendMessage implements asl.Integrations' SendMessage (the Step Functions
// sqs:sendMessage integration calls SQS directly).
func (s *SQS) SendMessage(url, body string, done func(*asl.Error)) {
	q := s.Queue(url)
	if q == nil {
		done(&asl.Error{Name: "SQS.QueueDoesNotExistException", Cause: "no queue " + url})
		return
	}
	q.Send(body)
	done(nil)
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// serve answers one SQS API action, as the SQS API reference gives its
// request and response members.
func (s *SQS) serve(op string, b map[string]any) (any, *asl.Error) {
	q := s.Queue(str(b, "QueueUrl"))
	if q == nil {
		return nil, &asl.Error{Name: "QueueDoesNotExist", Cause: "The specified queue does not exist."}
	}
	switch op {
	case "SendMessage":
		// SendMessage: MessageBody in; MessageId and MD5OfMessageBody out
		// (the SDK checks the digest).
		body := str(b, "MessageBody")
		return map[string]any{"MessageId": q.Send(body), "MD5OfMessageBody": md5hex(body)}, nil
	case "SendMessageBatch":
		// SendMessageBatch: up to 10 Entries {Id, MessageBody}; Successful
		// {Id, MessageId, MD5OfMessageBody} and Failed lists out.
		entries, _ := b["Entries"].([]any)
		if len(entries) > 10 {
			return nil, &asl.Error{Name: "TooManyEntriesInBatchRequest", Cause: fmt.Sprintf("%d entries; the limit is 10", len(entries))}
		}
		var ok []any
		for _, e := range entries {
			m, _ := e.(map[string]any)
			body := str(m, "MessageBody")
			ok = append(ok, map[string]any{"Id": str(m, "Id"), "MessageId": q.Send(body), "MD5OfMessageBody": md5hex(body)})
		}
		return map[string]any{"Successful": ok, "Failed": []any{}}, nil
	case "ReceiveMessage":
		// ReceiveMessage: MaxNumberOfMessages 1..10 (default 1),
		// VisibilityTimeout overriding the queue's; no long polling here
		// (WaitTimeSeconds would wait on the virtual clock).
		n := 1
		if v, ok := b["MaxNumberOfMessages"].(float64); ok {
			n = int(v)
		}
		vis := time.Duration(0)
		if v, ok := b["VisibilityTimeout"].(float64); ok {
			vis = time.Duration(v) * time.Second
		}
		var msgs []any
		for _, r := range q.Receive(n, vis) {
			msgs = append(msgs, map[string]any{"MessageId": r.ID, "ReceiptHandle": r.Receipt, "MD5OfBody": r.MD5, "Body": r.Body,
				"Attributes": map[string]string{"ApproximateReceiveCount": fmt.Sprint(r.ReceiveCount)}})
		}
		return map[string]any{"Messages": msgs}, nil
	case "DeleteMessage":
		return nil, nil2(q.Delete(str(b, "ReceiptHandle")))
	case "ChangeMessageVisibility":
		v, _ := b["VisibilityTimeout"].(float64)
		return nil, nil2(q.ChangeVisibility(str(b, "ReceiptHandle"), time.Duration(v)*time.Second))
	case "GetQueueAttributes":
		return map[string]any{"Attributes": q.Attributes()}, nil
	}
	return nil, &asl.Error{Name: "UnsupportedOperation", Cause: "the harness does not serve SQS " + op}
}

func nil2(err error) *asl.Error {
	if err == nil {
		return nil
	}
	return &asl.Error{Name: "ReceiptHandleIsInvalid", Cause: err.Error()}
}

// EventBus records PutEvents entries (EventBridge API reference, PutEvents:
// Entries in; FailedEntryCount and one Entries item with EventId each out).
type EventBus struct {
	mu      sync.Mutex
	Entries []map[string]any
}

func (e *EventBus) serve(op string, b map[string]any) (any, *asl.Error) {
	if op != "PutEvents" {
		return nil, &asl.Error{Name: "UnsupportedOperation", Cause: "the harness does not serve EventBridge " + op}
	}
	entries, _ := b["Entries"].([]any)
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []any
	for _, x := range entries {
		m, _ := x.(map[string]any)
		e.Entries = append(e.Entries, m)
		out = append(out, map[string]any{"EventId": fmt.Sprintf("event-%d", len(e.Entries))})
	}
	return map[string]any{"FailedEntryCount": 0, "Entries": out}, nil
}

// Count is the number of events put.
func (e *EventBus) Count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.Entries)
}
