package awslocal

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/scenedex/scenedex/harness/sim"
)

// Queue is an SQS standard queue on the virtual clock.
type Queue struct {
	Name, URL, Arn string
	// Visibility is the default visibility timeout: "the length of time
	// during which a message is invisible to consumers after it is received"
	// (SQS guide, "Amazon SQS visibility timeout"; default 30 s).
	Visibility time.Duration
	// Retention: messages older than this are deleted ("MessageRetentionPeriod",
	// default 4 days, up to 14).
	Retention time.Duration
	// DLQ and MaxReceiveCount are the redrive policy: "when the ReceiveCount
	// for a message exceeds the maxReceiveCount for a queue, Amazon SQS moves
	// the message to a dead-letter queue" (SQS guide, "Using dead-letter
	// queues").
	DLQ             *Queue
	MaxReceiveCount int

	sim      *sim.Sim
	mu       sync.Mutex
	msgs     []*message
	seq      int
	expired  int
	watchers []func()
}

type message struct {
	id, body, receipt string
	sent, firstRecv   time.Duration
	visibleAt         time.Duration
	receives          int
}

// Received is a message as a consumer gets it.
type Received struct {
	ID, Body, Receipt, MD5 string
	ReceiveCount           int
	Sent, FirstReceive     time.Time
}

// NewQueue makes a queue on s.
func NewQueue(s *sim.Sim, name, url, arn string) *Queue {
	return &Queue{Name: name, URL: url, Arn: arn, Visibility: 30 * time.Second, Retention: 4 * 24 * time.Hour, sim: s}
}

// Watch calls f whenever messages may have become visible.
func (q *Queue) Watch(f func()) {
	q.mu.Lock()
	q.watchers = append(q.watchers, f)
	q.mu.Unlock()
}

func (q *Queue) notify(after time.Duration) {
	q.mu.Lock()
	ws := append([]func(){}, q.watchers...)
	q.mu.Unlock()
	for _, w := range ws {
		q.sim.At(after, w)
	}
}

// Send adds a message and returns its id.
func (q *Queue) Send(body string) string {
	q.mu.Lock()
	q.seq++
	id := fmt.Sprintf("%s-%08d", q.Name, q.seq)
	now := q.sim.Elapsed()
	q.msgs = append(q.msgs, &message{id: id, body: body, sent: now, visibleAt: now})
	q.mu.Unlock()
	q.notify(0)
	return id
}

// Receive takes up to max visible messages, hiding each for visibility
// (<= 0: the queue's default). Each receive counts; a message past the
// redrive policy's maxReceiveCount goes to the DLQ instead, and one past
// the retention period is deleted.
func (q *Queue) Receive(max int, visibility time.Duration) []Received {
	if visibility <= 0 {
		visibility = q.Visibility
	}
	now := q.sim.Elapsed()
	var out []Received
	var dead []*message
	q.mu.Lock()
	kept := q.msgs[:0]
	for _, m := range q.msgs {
		switch {
		case now-m.sent >= q.Retention:
			q.expired++
			continue
		case len(out) < max && m.visibleAt <= now && q.DLQ != nil && q.MaxReceiveCount > 0 && m.receives >= q.MaxReceiveCount:
			dead = append(dead, m)
			continue
		case len(out) < max && m.visibleAt <= now:
			m.receives++
			if m.receives == 1 {
				m.firstRecv = now
			}
			m.visibleAt = now + visibility
			q.seq++
			m.receipt = fmt.Sprintf("%s#%d", m.id, q.seq)
			out = append(out, q.received(m))
		}
		kept = append(kept, m)
	}
	q.msgs = kept
	q.mu.Unlock()
	for _, m := range dead {
		q.DLQ.mu.Lock()
		q.DLQ.msgs = append(q.DLQ.msgs, &message{id: m.id, body: m.body, sent: m.sent, visibleAt: now, receives: m.receives})
		q.DLQ.mu.Unlock()
	}
	if len(out) > 0 {
		q.notify(visibility) // they may come back then
	}
	return out
}

func (q *Queue) received(m *message) Received {
	sum := md5.Sum([]byte(m.body))
	start := q.sim.Now().Add(-q.sim.Elapsed())
	return Received{ID: m.id, Body: m.body, Receipt: m.receipt, MD5: hex.EncodeToString(sum[:]), ReceiveCount: m.receives,
		Sent: start.Add(m.sent), FirstReceive: start.Add(m.firstRecv)}
}

// Delete removes the message a receipt handle names. As DeleteMessage
// documents, a receipt of an earlier receive no longer deletes it once the
// message was received again; deleting a deleted message succeeds.
func (q *Queue) Delete(receipt string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, m := range q.msgs {
		if m.receipt == receipt {
			q.msgs = append(q.msgs[:i], q.msgs[i+1:]...)
			return nil
		}
	}
	return nil
}

// ChangeVisibility sets a received message's remaining invisibility.
func (q *Queue) ChangeVisibility(receipt string, d time.Duration) error {
	q.mu.Lock()
	found := false
	for _, m := range q.msgs {
		if m.receipt == receipt {
			m.visibleAt, found = q.sim.Elapsed()+d, true
		}
	}
	q.mu.Unlock()
	if !found {
		return fmt.Errorf("receipt handle %q is not valid", receipt)
	}
	q.notify(d)
	return nil
}

// Counts are the queue's approximate numbers: visible, in flight, expired.
func (q *Queue) Counts() (visible, inFlight, expired int) {
	now := q.sim.Elapsed()
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range q.msgs {
		if m.visibleAt <= now {
			visible++
		} else {
			inFlight++
		}
	}
	return visible, inFlight, q.expired
}

// Attributes are GetQueueAttributes' answer.
func (q *Queue) Attributes() map[string]string {
	v, f, _ := q.Counts()
	return map[string]string{"ApproximateNumberOfMessages": strconv.Itoa(v), "ApproximateNumberOfMessagesNotVisible": strconv.Itoa(f),
		"QueueArn": q.Arn, "VisibilityTimeout": strconv.Itoa(int(q.Visibility / time.Second))}
}
