package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"time"
)

const queueSchema = `
CREATE TABLE IF NOT EXISTS messages (
	queue TEXT NOT NULL,
	id TEXT NOT NULL,
	body BLOB NOT NULL,
	state TEXT NOT NULL DEFAULT 'ready', -- ready | done | dead
	attempts INTEGER NOT NULL DEFAULT 0,
	visible_at INTEGER NOT NULL,
	receipt TEXT NOT NULL DEFAULT '',
	last_error TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	PRIMARY KEY (queue, id)
);
CREATE INDEX IF NOT EXISTS messages_ready ON messages(queue, state, visible_at);`

// Queue is a durable work queue with SQS semantics: a received message is
// invisible for the visibility timeout and comes back unless acknowledged; a
// message received more than MaxAttempts times goes to the dead-letter state,
// from which Redrive brings it back. Message ids deduplicate: sending an id
// that is already queued, done or dead is a no-op.
type Queue struct {
	db          *sql.DB
	name        string
	visibility  time.Duration
	maxAttempts int
	now         func() time.Time
}

// Message is a message to send.
type Message struct {
	ID   string
	Body []byte
}

// Delivery is a received message.
type Delivery struct {
	ID        string
	Body      []byte
	Attempt   int // 1 on the first delivery
	Receipt   string
	LastError string
}

// QueueDB holds every queue in one database file.
type QueueDB struct{ db *sql.DB }

// OpenQueues opens the queue database at path.
func OpenQueues(ctx context.Context, path string) (*QueueDB, error) {
	db, err := Open(ctx, path, queueSchema)
	if err != nil {
		return nil, err
	}
	return &QueueDB{db: db}, nil
}

// Close closes the database.
func (q *QueueDB) Close() error { return q.db.Close() }

// Queue returns the named queue.
func (q *QueueDB) Queue(name string, visibility time.Duration, maxAttempts int) *Queue {
	return &Queue{db: q.db, name: name, visibility: visibility, maxAttempts: maxAttempts, now: time.Now}
}

// Send enqueues messages; ids already known are ignored.
func (q *Queue) Send(ctx context.Context, msgs ...Message) error {
	now := ms(q.now())
	return InTx(ctx, q.db, func(tx *sql.Tx) error {
		for _, m := range msgs {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO messages (queue, id, body, visible_at, created_at)
				VALUES (?, ?, ?, ?, ?)`, q.name, m.ID, m.Body, now, now); err != nil {
				return fmt.Errorf("send %s to %s: %w", m.ID, q.name, err)
			}
		}
		return nil
	})
}

// Receive leases up to max visible messages. Messages that have already been
// received MaxAttempts times are moved to the dead-letter state instead and
// returned as dead, so the caller can record why.
func (q *Queue) Receive(ctx context.Context, max int) (got, dead []Delivery, err error) {
	now := q.now()
	err = InTx(ctx, q.db, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, body, attempts, last_error FROM messages
			WHERE queue = ? AND state = 'ready' AND visible_at <= ? ORDER BY visible_at, created_at LIMIT ?`, q.name, ms(now), max)
		if err != nil {
			return err
		}
		var all []Delivery
		for rows.Next() {
			var d Delivery
			if err := rows.Scan(&d.ID, &d.Body, &d.Attempt, &d.LastError); err != nil {
				rows.Close()
				return err
			}
			all = append(all, d)
		}
		rows.Close()
		for _, d := range all {
			if d.Attempt >= q.maxAttempts {
				if _, err := tx.ExecContext(ctx, `UPDATE messages SET state = 'dead', receipt = '' WHERE queue = ? AND id = ?`, q.name, d.ID); err != nil {
					return err
				}
				dead = append(dead, d)
				continue
			}
			d.Attempt++
			d.Receipt = newReceipt()
			if _, err := tx.ExecContext(ctx, `UPDATE messages SET attempts = ?, receipt = ?, visible_at = ? WHERE queue = ? AND id = ?`,
				d.Attempt, d.Receipt, ms(now.Add(q.visibility)), q.name, d.ID); err != nil {
				return err
			}
			got = append(got, d)
		}
		return nil
	})
	return got, dead, err
}

// Ack marks a delivered message done. A stale receipt (the lease expired and
// the message was delivered again) is ignored, as SQS does.
func (q *Queue) Ack(ctx context.Context, d Delivery) error {
	_, err := q.db.ExecContext(ctx, `UPDATE messages SET state = 'done', receipt = '' WHERE queue = ? AND id = ? AND receipt = ?`,
		q.name, d.ID, d.Receipt)
	return err
}

// DropPrefix marks done every message not yet done whose id begins with
// prefix (the queued work of a deleted video) and says how many it dropped.
// A message being processed is dropped too: its Ack changes nothing.
func (q *Queue) DropPrefix(ctx context.Context, prefix string) (int64, error) {
	res, err := q.db.ExecContext(ctx, `UPDATE messages SET state = 'done', receipt = ''
		WHERE queue = ? AND state = 'ready' AND substr(id, 1, ?) = ?`, q.name, len(prefix), prefix)
	if err != nil {
		return 0, fmt.Errorf("drop %s* from %s: %w", prefix, q.name, err)
	}
	return res.RowsAffected()
}

// Nack records why processing failed and makes the message visible again
// after delay.
func (q *Queue) Nack(ctx context.Context, d Delivery, cause error, delay time.Duration) error {
	_, err := q.db.ExecContext(ctx, `UPDATE messages SET visible_at = ?, last_error = ?, receipt = '' WHERE queue = ? AND id = ? AND receipt = ?`,
		ms(q.now().Add(delay)), cause.Error(), q.name, d.ID, d.Receipt)
	return err
}

// Extend keeps a delivered message invisible for another visibility
// timeout from now, as SQS's ChangeMessageVisibility does for a receipt
// handle (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibility.html):
// a consumer still at work on it keeps its lease. A stale receipt (the
// lease already expired and the message was delivered again) changes
// nothing and reports false.
func (q *Queue) Extend(ctx context.Context, d Delivery) (bool, error) {
	res, err := q.db.ExecContext(ctx, `UPDATE messages SET visible_at = ? WHERE queue = ? AND id = ? AND state = 'ready' AND receipt = ?`,
		ms(q.now().Add(q.visibility)), q.name, d.ID, d.Receipt)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ReleaseLeases makes every leased message visible now. Call it once at start:
// on one machine no other process can be holding a lease.
func (q *Queue) ReleaseLeases(ctx context.Context) (int64, error) {
	res, err := q.db.ExecContext(ctx, `UPDATE messages SET visible_at = ?, receipt = '' WHERE queue = ? AND state = 'ready' AND receipt != ''`,
		ms(q.now()), q.name)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Dead lists dead-lettered messages.
func (q *Queue) Dead(ctx context.Context) ([]Delivery, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT id, body, attempts, last_error FROM messages WHERE queue = ? AND state = 'dead' ORDER BY created_at`, q.name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		var d Delivery
		if err := rows.Scan(&d.ID, &d.Body, &d.Attempt, &d.LastError); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Redrive moves dead messages (all when ids is empty) back to the queue with a
// fresh attempt count, and returns how many moved.
func (q *Queue) Redrive(ctx context.Context, ids ...string) (int64, error) {
	now := ms(q.now())
	if len(ids) == 0 {
		res, err := q.db.ExecContext(ctx, `UPDATE messages SET state = 'ready', attempts = 0, visible_at = ? WHERE queue = ? AND state = 'dead'`, now, q.name)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	}
	var n int64
	err := InTx(ctx, q.db, func(tx *sql.Tx) error {
		for _, id := range ids {
			res, err := tx.ExecContext(ctx, `UPDATE messages SET state = 'ready', attempts = 0, visible_at = ? WHERE queue = ? AND state = 'dead' AND id = ?`, now, q.name, id)
			if err != nil {
				return err
			}
			k, _ := res.RowsAffected()
			n += k
		}
		return nil
	})
	return n, err
}

// Pending counts messages not yet done or dead.
func (q *Queue) Pending(ctx context.Context) (int, error) {
	var n int
	err := q.db.QueryRowContext(ctx, `SELECT count(*) FROM messages WHERE queue = ? AND state = 'ready'`, q.name).Scan(&n)
	return n, err
}

func newReceipt() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
