package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/scenedex/scenedex/internal/scenedex"
)

const catalogSchema = `
CREATE TABLE IF NOT EXISTS videos (
	id TEXT PRIMARY KEY,
	collection TEXT NOT NULL,
	filename TEXT NOT NULL,
	key TEXT NOT NULL,
	content_type TEXT NOT NULL DEFAULT '',
	size INTEGER NOT NULL DEFAULT 0,
	etag TEXT NOT NULL DEFAULT '',
	metadata TEXT NOT NULL DEFAULT '{}',
	status TEXT NOT NULL,
	stage TEXT NOT NULL DEFAULT '',
	reason TEXT NOT NULL DEFAULT '',
	duration REAL NOT NULL DEFAULT 0,
	width INTEGER NOT NULL DEFAULT 0,
	height INTEGER NOT NULL DEFAULT 0,
	chunks_total INTEGER NOT NULL DEFAULT 0,
	chunks_done INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS videos_collection ON videos(collection, created_at);
CREATE INDEX IF NOT EXISTS videos_key ON videos(key);
CREATE TABLE IF NOT EXISTS chunks_done (
	video_id TEXT NOT NULL,
	idx INTEGER NOT NULL,
	PRIMARY KEY (video_id, idx)
);`

// Catalog implements scenedex.Catalog on SQLite.
type Catalog struct {
	db  *sql.DB
	now func() time.Time
}

var _ scenedex.Catalog = (*Catalog)(nil)

// OpenCatalog opens the catalog database at path.
func OpenCatalog(ctx context.Context, path string) (*Catalog, error) {
	db, err := Open(ctx, path, catalogSchema)
	if err != nil {
		return nil, err
	}
	for _, m := range migrations {
		if _, err := db.ExecContext(ctx, m); err != nil && !strings.Contains(err.Error(), "duplicate column") {
			db.Close()
			return nil, fmt.Errorf("migrate %s: %w", path, err)
		}
	}
	return &Catalog{db: db, now: time.Now}, nil
}

// Close closes the database.
func (c *Catalog) Close() error { return c.db.Close() }

const videoCols = `id, collection, filename, key, content_type, size, etag, metadata, status, stage, reason,
	duration, width, height, chunks_total, chunks_done, created_at, updated_at, upload_id, run`

// migrations bring older catalogs up to date; "duplicate column" means done.
var migrations = []string{`ALTER TABLE videos ADD COLUMN upload_id TEXT NOT NULL DEFAULT ''`,
	`ALTER TABLE videos ADD COLUMN run TEXT NOT NULL DEFAULT ''`}

type scanner interface{ Scan(...any) error }

func scanVideo(row scanner) (scenedex.Video, error) {
	var v scenedex.Video
	var meta string
	var created, updated int64
	err := row.Scan(&v.ID, &v.Collection, &v.Filename, &v.Key, &v.ContentType, &v.Size, &v.ETag, &meta,
		&v.Status, &v.Stage, &v.Reason, &v.Duration, &v.Width, &v.Height, &v.ChunksTotal, &v.ChunksDone, &created, &updated, &v.UploadID, &v.Run)
	if err != nil {
		return v, err
	}
	if meta != "" && meta != "{}" {
		if err := json.Unmarshal([]byte(meta), &v.Metadata); err != nil {
			return v, fmt.Errorf("video %s metadata: %w", v.ID, err)
		}
	}
	v.CreatedAt, v.UpdatedAt = fromMS(created), fromMS(updated)
	return v, nil
}

func videoArgs(v scenedex.Video) []any {
	meta, _ := json.Marshal(v.Metadata)
	if v.Metadata == nil {
		meta = []byte("{}")
	}
	return []any{v.ID, v.Collection, v.Filename, v.Key, v.ContentType, v.Size, v.ETag, string(meta), v.Status,
		v.Stage, v.Reason, v.Duration, v.Width, v.Height, v.ChunksTotal, v.ChunksDone, ms(v.CreatedAt), ms(v.UpdatedAt), v.UploadID, v.Run}
}

// Create stores a new video.
func (c *Catalog) Create(ctx context.Context, v scenedex.Video) error {
	now := c.now()
	if v.CreatedAt.IsZero() {
		v.CreatedAt = now
	}
	v.UpdatedAt = now
	_, err := c.db.ExecContext(ctx, `INSERT INTO videos (`+videoCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`, videoArgs(v)...)
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE constraint failed") {
			return scenedex.Errorf(scenedex.CodeConflict, "video %s already exists", v.ID)
		}
		return fmt.Errorf("create video %s: %w", v.ID, DiskFull(err))
	}
	return nil
}

// Get returns the video with id.
func (c *Catalog) Get(ctx context.Context, id string) (scenedex.Video, error) {
	return c.get(ctx, c.db, id)
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (c *Catalog) get(ctx context.Context, q querier, id string) (scenedex.Video, error) {
	v, err := scanVideo(q.QueryRowContext(ctx, `SELECT `+videoCols+` FROM videos WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return v, scenedex.Errorf(scenedex.CodeNotFound, "video %q not found", id)
	}
	if err != nil {
		return v, fmt.Errorf("get video %s: %w", id, err)
	}
	return v, nil
}

// List returns a page of videos (of a collection, or all), newest first.
// The cursor is the last video's created_at and id: pages stay stable while
// videos are added.
func (c *Catalog) List(ctx context.Context, lq scenedex.ListQuery) (scenedex.VideoPage, error) {
	limit, err := lq.PageSize()
	if err != nil {
		return scenedex.VideoPage{}, err
	}
	q := `SELECT ` + videoCols + ` FROM videos WHERE 1 = 1`
	var args []any
	if lq.Collection != "" {
		q += ` AND collection = ?`
		args = append(args, lq.Collection)
	}
	if lq.Cursor != "" {
		at, id, ok := strings.Cut(lq.Cursor, ".")
		created, err := strconv.ParseInt(at, 10, 64)
		if !ok || err != nil {
			return scenedex.VideoPage{}, scenedex.Errorf(scenedex.CodeInvalid, "cursor %q is not one this server gave", lq.Cursor)
		}
		q += ` AND (created_at < ? OR (created_at = ? AND id > ?))`
		args = append(args, created, created, id)
	}
	vs, err := c.query(ctx, "list videos", q+` ORDER BY created_at DESC, id LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return scenedex.VideoPage{}, err
	}
	page := scenedex.VideoPage{Videos: vs}
	if len(vs) > limit {
		last := vs[limit-1]
		page.Videos, page.Next = vs[:limit], strconv.FormatInt(ms(last.CreatedAt), 10)+"."+last.ID
	}
	return page, nil
}

// query runs a SELECT of videoCols and scans every row.
func (c *Catalog) query(ctx context.Context, what, q string, args ...any) ([]scenedex.Video, error) {
	rows, err := c.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	out := []scenedex.Video{}
	for rows.Next() {
		v, err := scanVideo(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// ByKey returns every video whose object is key, newest first.
func (c *Catalog) ByKey(ctx context.Context, key string) ([]scenedex.Video, error) {
	return c.query(ctx, "videos of key "+key, `SELECT `+videoCols+` FROM videos WHERE key = ? ORDER BY created_at DESC`, key)
}

// FindByKey returns the video stored under an object key.
func (c *Catalog) FindByKey(ctx context.Context, key string) (scenedex.Video, error) {
	v, err := scanVideo(c.db.QueryRowContext(ctx, `SELECT `+videoCols+` FROM videos WHERE key = ? ORDER BY created_at DESC LIMIT 1`, key))
	if errors.Is(err, sql.ErrNoRows) {
		return v, scenedex.Errorf(scenedex.CodeNotFound, "no video for key %q", key)
	}
	return v, err
}

// Update applies fn to the record in one transaction. A DELETING record
// (a tombstone) is not changed: CodeNotFound, as if it were gone.
func (c *Catalog) Update(ctx context.Context, id string, fn func(*scenedex.Video) error) (scenedex.Video, error) {
	var out scenedex.Video
	err := InTx(ctx, c.db, func(tx *sql.Tx) error {
		v, err := c.get(ctx, tx, id)
		if err != nil {
			return err
		}
		if v.Status == scenedex.StatusDeleting {
			return scenedex.BeingDeleted(id) // a tombstone changes no more
		}
		if err := fn(&v); err != nil {
			return err
		}
		v.ID = id
		v.UpdatedAt = c.now()
		args := videoArgs(v)
		_, err = tx.ExecContext(ctx, `UPDATE videos SET collection=?, filename=?, key=?, content_type=?, size=?, etag=?,
			metadata=?, status=?, stage=?, reason=?, duration=?, width=?, height=?, chunks_total=?, chunks_done=?,
			created_at=?, updated_at=?, upload_id=?, run=? WHERE id=?`, append(args[1:], id)...)
		out = v
		return err
	})
	return out, err
}

// Delete removes the record and its chunk progress.
func (c *Catalog) Delete(ctx context.Context, id string) error {
	return InTx(ctx, c.db, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM videos WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return scenedex.Errorf(scenedex.CodeNotFound, "video %q not found", id)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM chunks_done WHERE video_id = ?`, id)
		return err
	})
}

// ChunkDone marks chunk i of a video done, once; a DELETING video's chunks
// are not counted (CodeNotFound).
func (c *Catalog) ChunkDone(ctx context.Context, videoID string, i int) (scenedex.Video, error) {
	var out scenedex.Video
	err := InTx(ctx, c.db, func(tx *sql.Tx) error {
		if v, err := c.get(ctx, tx, videoID); err != nil {
			return err
		} else if v.Status == scenedex.StatusDeleting {
			return scenedex.BeingDeleted(videoID)
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO chunks_done (video_id, idx) VALUES (?, ?)`, videoID, i); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE videos SET chunks_done = (SELECT count(*) FROM chunks_done WHERE video_id = ?),
			updated_at = ? WHERE id = ?`, videoID, ms(c.now()), videoID); err != nil {
			return err
		}
		v, err := c.get(ctx, tx, videoID)
		out = v
		return err
	})
	return out, err
}

// Stale returns videos in status s not updated since before.
func (c *Catalog) Stale(ctx context.Context, s scenedex.Status, before time.Time) ([]scenedex.Video, error) {
	return c.query(ctx, "stale videos", `SELECT `+videoCols+` FROM videos WHERE status = ? AND updated_at < ?`, s, ms(before))
}
