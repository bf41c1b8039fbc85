// Package sqlite is the local catalog and the local durable queue, on SQLite
// through the pure-Go modernc.org/sqlite driver (no cgo).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"syscall"
	"time"

	driver "modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// Open opens (creating if needed) the database at path with WAL journaling and
// a busy timeout, and applies schema.
func Open(ctx context.Context, path, schema string) (*sql.DB, error) {
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// One connection: SQLite has one writer anyway, and this rules out
	// SQLITE_BUSY between our own connections. It makes the connection a
	// lock: whoever holds it (open rows, a transaction, InTx's fn) must not
	// wait for a Go lock or query the same *sql.DB again; Go locks are
	// taken before the connection (vecindex.Index documents its order). The
	// catalog and the queue hold no Go locks, and Catalog.Update's fn only
	// edits the record.
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("schema of %s: %w", path, err)
	}
	return db, nil
}

// InTx runs fn in a transaction, committing if it returns nil.
func InTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return DiskFull(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return DiskFull(err)
	}
	return DiskFull(tx.Commit())
}

// DiskFull puts ENOSPC in the chain of SQLite's "database or disk is full"
// (SQLITE_FULL, https://www.sqlite.org/rescode.html#full), which carries no
// errno: callers then see a full disk as such (scenedex.ErrorCode:
// unavailable, 503; the message keeps the cause). Other errors are returned
// as they are.
func DiskFull(err error) error {
	var se *driver.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL && !errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w (%w)", err, syscall.ENOSPC)
	}
	return err
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }
