package awslocal

import (
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/scenedex/scenedex/harness/asl"
)

// Mapping is a Lambda event source mapping on an SQS queue.
type Mapping struct {
	Lambda   *Lambda
	Queue    *Queue
	Function string
	// BatchSize: "the maximum number of records in each batch that Lambda
	// pulls from your stream or queue" (default 10).
	BatchSize int
	// Window is MaximumBatchingWindowInSeconds: Lambda gathers records
	// until the batch is full or the window ends.
	Window time.Duration
	// MaxConcurrency is ScalingConfig.MaximumConcurrency: "the maximum
	// number of concurrent functions that an event source can invoke" (2 to
	// 1,000); 0: unset, and a mapping processes up to 1,000 batches at once
	// (Lambda guide, "Configuring scaling behavior for SQS event source
	// mappings").
	MaxConcurrency int
	// ReportBatchItemFailures: the function returns
	// {"batchItemFailures":[{"itemIdentifier": id}]} and only those return
	// to the queue (Lambda guide, "Handling errors for an SQS event source",
	// partial batch responses).
	ReportBatchItemFailures bool
	Region                  string

	mu      sync.Mutex
	active  int
	backoff time.Duration
	paused  bool
	waiting bool // a batching-window poll is scheduled
}

// Start makes the mapping poll its queue.
func (m *Mapping) Start() {
	if m.BatchSize == 0 {
		m.BatchSize = 10
	}
	m.Queue.Watch(m.poll)
	m.Lambda.Sim.At(0, m.poll)
}

func (m *Mapping) limit() int {
	if m.MaxConcurrency > 0 {
		return m.MaxConcurrency
	}
	return 1000
}

// poll starts batches while the mapping has concurrency left and the queue
// has visible messages.
func (m *Mapping) poll() {
	for {
		m.mu.Lock()
		if m.paused || m.active >= m.limit() {
			m.mu.Unlock()
			return
		}
		visible, _, _ := m.Queue.Counts()
		if visible == 0 {
			m.mu.Unlock()
			return
		}
		if visible < m.BatchSize && m.Window > 0 && !m.waiting {
			// "Lambda invokes when ... the batching window reaches its
			// maximum value, the batch size is met, or the payload reaches
			// 6 MB": wait out the window for a fuller batch.
			m.waiting = true
			m.mu.Unlock()
			m.Lambda.Sim.At(m.Window, func() {
				m.mu.Lock()
				m.waiting = false
				m.mu.Unlock()
				m.flush()
			})
			return
		}
		if m.waiting {
			m.mu.Unlock()
			return
		}
		m.active++
		m.mu.Unlock()
		if !m.invoke() {
			return
		}
	}
}

// flush takes what the window gathered, then goes on polling.
func (m *Mapping) flush() {
	m.mu.Lock()
	if m.paused || m.active >= m.limit() {
		m.mu.Unlock()
		return
	}
	m.active++
	m.mu.Unlock()
	if m.invoke() {
		m.poll()
	}
}

// invoke receives one batch and invokes the function with it; false when
// nothing was there or the function was throttled.
func (m *Mapping) invoke() bool {
	msgs := m.Queue.Receive(m.BatchSize, 0)
	if len(msgs) == 0 {
		m.done()
		return false
	}
	ev := events.SQSEvent{Records: make([]events.SQSMessage, len(msgs))}
	for i, r := range msgs {
		ev.Records[i] = events.SQSMessage{MessageId: r.ID, ReceiptHandle: r.Receipt, Body: r.Body, Md5OfBody: r.MD5,
			EventSource: "aws:sqs", EventSourceARN: m.Queue.Arn, AWSRegion: m.Region,
			Attributes: map[string]string{"ApproximateReceiveCount": strconv.Itoa(r.ReceiveCount),
				"SentTimestamp":                    strconv.FormatInt(r.Sent.UnixMilli(), 10),
				"ApproximateFirstReceiveTimestamp": strconv.FormatInt(r.FirstReceive.UnixMilli(), 10), "SenderId": "AIDAHARNESS"}}
	}
	payload, _ := json.Marshal(ev)
	return m.Lambda.TryInvoke(m.Function, payload, func(out []byte, err *asl.Error) {
		switch {
		case err != nil && err.Name == ErrThrottled:
			// Throttled: the batch stays invisible until its visibility
			// timeout and then returns, its receive count up — hence the
			// guide's advice of a visibility timeout six times the
			// function's timeout and maxReceiveCount of at least 5. The
			// poller backs off (doubling, up to a minute: the guide gives
			// no number).
			m.mu.Lock()
			m.backoff = min(max(2*m.backoff, time.Second), time.Minute)
			m.paused = true
			b := m.backoff
			m.mu.Unlock()
			m.Lambda.Sim.At(b, func() {
				m.mu.Lock()
				m.paused = false
				m.mu.Unlock()
				m.poll()
			})
		case err != nil:
			// A function error: "all messages in that batch return to the
			// queue" after the visibility timeout.
		default:
			m.mu.Lock()
			m.backoff = 0
			m.mu.Unlock()
			m.ack(msgs, out)
		}
		m.done()
		m.poll()
	})
}

// ack deletes the batch's messages but the ones the function reported as
// failed. "If your function returns an empty string or null
// itemIdentifier, or an identifier that does not match, Lambda treats the
// whole batch as a failure."
func (m *Mapping) ack(msgs []Received, out []byte) {
	failed := map[string]bool{}
	if m.ReportBatchItemFailures {
		var resp events.SQSEventResponse
		if len(out) > 0 && string(out) != "null" {
			if json.Unmarshal(out, &resp) != nil {
				return
			}
		}
		ids := map[string]bool{}
		for _, r := range msgs {
			ids[r.ID] = true
		}
		for _, f := range resp.BatchItemFailures {
			if !ids[f.ItemIdentifier] {
				return
			}
			failed[f.ItemIdentifier] = true
		}
	}
	for _, r := range msgs {
		if !failed[r.ID] {
			m.Queue.Delete(r.Receipt)
		}
	}
}

func (m *Mapping) done() {
	m.mu.Lock()
	m.active--
	m.mu.Unlock()
}
