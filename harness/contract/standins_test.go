package contract

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/scenedex/scenedex/internal/awsfake"
)

// The stand-ins for the JSON-protocol services the functions call that have
// no emulator here that serves the SDK's client (SQS speaks JSON 1.0 in the
// SDK; goaws only the query protocol): each answers the operations the
// functions use, in the request and response shapes of its API reference,
// and refuses any other so a new call is noticed.

// jsonService answers X-Amz-Target operations with handlers.
type jsonService struct {
	t   *testing.T
	ops map[string]func(body map[string]any) (any, error)
}

// apiError is a service error: its __type and message.
type apiError struct{ typ, msg string }

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

func (s *jsonService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op := target[strings.LastIndexByte(target, '.')+1:]
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	json.Unmarshal(raw, &body)
	h := s.ops[op]
	var out any
	var err error
	if h == nil {
		s.t.Errorf("stand-in: %s is not played (a call the harness must learn)", target)
		err = &apiError{"InvalidAction", "the harness does not play " + op}
	} else {
		out, err = h(body)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	status := http.StatusOK
	if e, ok := err.(*apiError); ok {
		status, out = http.StatusBadRequest, map[string]string{"__type": e.typ, "message": e.msg}
		w.Header().Set("X-Amzn-ErrorType", e.typ)
	} else if err != nil {
		status, out = http.StatusInternalServerError, map[string]string{"__type": "InternalFailure", "message": err.Error()}
	}
	b, _ := json.Marshal(out)
	w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(b)), 10))
	w.WriteHeader(status)
	w.Write(b)
}

func str(v any, path ...any) string { return awsfake.String(v, path...) }

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// ---- SQS (Amazon SQS API Reference: SendMessage, SendMessageBatch,
// ReceiveMessage, DeleteMessage, ChangeMessageVisibility, GetQueueAttributes,
// StartMessageMoveTask) ----

type message struct {
	id, body, receipt string
	receives          int
	inFlight          bool
}

type sqsStandIn struct {
	jsonService
	mu     sync.Mutex
	queues map[string][]*message // by queue URL
	// redrive maps a dead-letter queue's ARN to its source queue's URL
	// (StartMessageMoveTask without DestinationArn moves messages back to
	// the queue they came from).
	redrive map[string]string
	arnURL  map[string]string
	n       int
}

func newSQS(t *testing.T, queueURLs map[string]string, redrive map[string]string) *sqsStandIn {
	q := &sqsStandIn{jsonService: jsonService{t: t}, queues: map[string][]*message{}, redrive: redrive, arnURL: queueURLs}
	for _, url := range queueURLs {
		q.queues[url] = nil
	}
	q.ops = map[string]func(map[string]any) (any, error){
		"SendMessage": func(b map[string]any) (any, error) {
			m, err := q.send(str(b, "QueueUrl"), str(b, "MessageBody"))
			if err != nil {
				return nil, err
			}
			return map[string]any{"MessageId": m.id, "MD5OfMessageBody": md5hex(m.body)}, nil
		},
		"SendMessageBatch": func(b map[string]any) (any, error) {
			var ok []any
			entries, _ := b["Entries"].([]any)
			for _, e := range entries {
				m, err := q.send(str(b, "QueueUrl"), str(e, "MessageBody"))
				if err != nil {
					return nil, err
				}
				ok = append(ok, map[string]any{"Id": str(e, "Id"), "MessageId": m.id, "MD5OfMessageBody": md5hex(m.body)})
			}
			return map[string]any{"Successful": ok, "Failed": []any{}}, nil
		},
		"ReceiveMessage": func(b map[string]any) (any, error) {
			max, _ := b["MaxNumberOfMessages"].(float64)
			if max == 0 {
				max = 1
			}
			var out []any
			for _, m := range q.receive(str(b, "QueueUrl"), int(max)) {
				out = append(out, map[string]any{"MessageId": m.id, "ReceiptHandle": m.receipt, "Body": m.body, "MD5OfBody": md5hex(m.body),
					"Attributes": map[string]string{"ApproximateReceiveCount": strconv.Itoa(m.receives)}})
			}
			return map[string]any{"Messages": out}, nil
		},
		"DeleteMessage": func(b map[string]any) (any, error) {
			q.remove(str(b, "QueueUrl"), str(b, "ReceiptHandle"))
			return map[string]any{}, nil
		},
		"ChangeMessageVisibility": func(b map[string]any) (any, error) {
			if v, _ := b["VisibilityTimeout"].(float64); v == 0 {
				q.release(str(b, "QueueUrl"), str(b, "ReceiptHandle"))
			}
			return map[string]any{}, nil
		},
		"GetQueueAttributes": func(b map[string]any) (any, error) {
			q.mu.Lock()
			defer q.mu.Unlock()
			msgs, ok := q.queues[str(b, "QueueUrl")]
			if !ok {
				return nil, &apiError{"com.amazonaws.sqs#QueueDoesNotExist", "no queue " + str(b, "QueueUrl")}
			}
			visible := 0
			for _, m := range msgs {
				if !m.inFlight {
					visible++
				}
			}
			return map[string]any{"Attributes": map[string]string{"ApproximateNumberOfMessages": strconv.Itoa(visible)}}, nil
		},
		"StartMessageMoveTask": func(b map[string]any) (any, error) {
			q.mu.Lock()
			defer q.mu.Unlock()
			src, dst := q.arnURL[str(b, "SourceArn")], q.redrive[str(b, "SourceArn")]
			if src == "" || dst == "" {
				return nil, &apiError{"com.amazonaws.sqs#ResourceNotFoundException", "source is no dead-letter queue: " + str(b, "SourceArn")}
			}
			q.queues[dst] = append(q.queues[dst], q.queues[src]...)
			q.queues[src] = nil
			return map[string]any{"TaskHandle": "task-" + strconv.Itoa(len(q.queues[dst]))}, nil
		},
	}
	return q
}

func (q *sqsStandIn) send(url, body string) (*message, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.queues[url]; !ok {
		return nil, &apiError{"com.amazonaws.sqs#QueueDoesNotExist", "The specified queue does not exist: " + url}
	}
	q.n++
	m := &message{id: fmt.Sprintf("m-%d", q.n), body: body}
	q.queues[url] = append(q.queues[url], m)
	return m, nil
}

func (q *sqsStandIn) receive(url string, max int) []*message {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []*message
	for _, m := range q.queues[url] {
		if len(out) == max {
			break
		}
		if !m.inFlight {
			m.inFlight, m.receives = true, m.receives+1
			m.receipt = fmt.Sprintf("%s-r%d", m.id, m.receives)
			out = append(out, m)
		}
	}
	return out
}

func (q *sqsStandIn) remove(url, receipt string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	msgs := q.queues[url]
	for i, m := range msgs {
		if m.receipt == receipt {
			q.queues[url] = append(msgs[:i:i], msgs[i+1:]...)
			return
		}
	}
}

func (q *sqsStandIn) release(url, receipt string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range q.queues[url] {
		if m.receipt == receipt {
			m.inFlight = false
		}
	}
}

// take removes and returns every message of a queue (the event source
// mapping's delivery to the function, done by the test).
func (q *sqsStandIn) take(url string) []*message {
	q.mu.Lock()
	defer q.mu.Unlock()
	msgs := q.queues[url]
	q.queues[url] = nil
	return msgs
}

// put adds a message as another sender would (e.g. a failed delivery
// redriven to a dead-letter queue).
func (q *sqsStandIn) put(url, body string, receives int) {
	m, _ := q.send(url, body)
	m.receives = receives
}

// ---- Step Functions (StartExecution: ExecutionAlreadyExists for a name
// used with other input; SendTaskSuccess, SendTaskFailure,
// SendTaskHeartbeat) ----

type sfnStandIn struct {
	jsonService
	mu        sync.Mutex
	runs      map[string]string // name -> input
	succeeded []string          // task tokens
	outputs   map[string]string // task token -> SendTaskSuccess's output
	failed    []string
	beats     int
}

func newSFN(t *testing.T) *sfnStandIn {
	s := &sfnStandIn{jsonService: jsonService{t: t}, runs: map[string]string{}, outputs: map[string]string{}}
	token := func(b map[string]any, into *[]string) (any, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if str(b, "taskToken") == "" {
			return nil, &apiError{"InvalidToken", "no task token"}
		}
		if into != nil {
			*into = append(*into, str(b, "taskToken"))
			s.outputs[str(b, "taskToken")] = str(b, "output")
		} else {
			s.beats++
		}
		return map[string]any{}, nil
	}
	s.ops = map[string]func(map[string]any) (any, error){
		"StartExecution": func(b map[string]any) (any, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			name, in := str(b, "name"), str(b, "input")
			if prev, ok := s.runs[name]; ok && prev != in {
				return nil, &apiError{"ExecutionAlreadyExists", "Execution Already Exists: " + name}
			}
			s.runs[name] = in
			return map[string]any{"executionArn": strings.Replace(str(b, "stateMachineArn"), ":stateMachine:", ":execution:", 1) + ":" + name,
				"startDate": 1.7e9}, nil
		},
		"SendTaskSuccess":   func(b map[string]any) (any, error) { return token(b, &s.succeeded) },
		"SendTaskFailure":   func(b map[string]any) (any, error) { return token(b, &s.failed) },
		"SendTaskHeartbeat": func(b map[string]any) (any, error) { return token(b, nil) },
	}
	return s
}

// ---- EventBridge (PutEvents) ----

type eventsStandIn struct {
	jsonService
	mu   sync.Mutex
	sent []map[string]any
}

func newEvents(t *testing.T) *eventsStandIn {
	e := &eventsStandIn{jsonService: jsonService{t: t}}
	e.ops = map[string]func(map[string]any) (any, error){
		"PutEvents": func(b map[string]any) (any, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			entries, _ := b["Entries"].([]any)
			var out []any
			for _, en := range entries {
				e.sent = append(e.sent, en.(map[string]any))
				out = append(out, map[string]any{"EventId": fmt.Sprintf("ev-%d", len(e.sent))})
			}
			return map[string]any{"FailedEntryCount": 0, "Entries": out}, nil
		},
	}
	return e
}
