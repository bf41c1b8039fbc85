// Package vecindex is the embedded index: exact cosine k-NN over vectors
// held in memory as one flat float32 array, and BM25 over words in an SQLite
// FTS5 table, both persisted in SQLite so they survive restarts. It implements scenedex.Index for one machine; the cloud
// uses OpenSearch k-NN behind the same interface.
package vecindex

import (
	"container/heap"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/sqlite"
	"github.com/scenedex/scenedex/internal/vector"
	"github.com/scenedex/scenedex/internal/words"
)

const schema = `
CREATE TABLE IF NOT EXISTS docs (
	id TEXT PRIMARY KEY,
	video_id TEXT NOT NULL,
	chunk TEXT NOT NULL,   -- scenedex.Chunk as JSON
	vector BLOB NOT NULL   -- little-endian float32, L2-normalised
);
CREATE INDEX IF NOT EXISTS docs_video ON docs(video_id);
-- Words of each doc (rowid = docs.rowid): on screen, and filename + metadata
-- values; already tokenised by package words, so unicode61 only splits on spaces.
CREATE VIRTUAL TABLE IF NOT EXISTS words USING fts5(screen, meta, tokenize = 'unicode61 remove_diacritics 0');
-- A model switch (switch.go): the next model's vector of each doc, gathered
-- beside the live one, and the index's state (live model, switch under way).
CREATE TABLE IF NOT EXISTS next_vectors (id TEXT PRIMARY KEY, vector BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);`

// bm25 weights: words on screen count more than a filename or metadata value.
const bm25 = `bm25(words, 1.0, 0.4)`

// Index is safe for concurrent use.
//
// Lock order: mu, then a database connection — never the reverse. db has
// one connection (package sqlite), so a goroutine that holds it (open rows,
// a transaction, a query in flight) and then waits for mu deadlocks with a
// writer that holds mu and waits for the connection (issue 16: SearchWords
// read its rows while taking mu.RLock per row, Upsert held mu.Lock and
// waited for the connection). So: code that reads rows collects them and
// closes them before it takes mu; code under mu may query db (writers must,
// to keep memory and disk in step), and readers under mu.RLock do not
// (Get reads memory, lets go, then queries).
type Index struct {
	db *sql.DB

	mu    sync.RWMutex // guards the fields below; taken before db's connection, never while holding it
	dim   int
	model string // the model that made the vectors ("" before one says)
	ids   []string
	meta  []scenedex.Chunk
	vecs  []float32 // len(ids)*dim
	byID  map[string]int
	next  map[string]struct{} // ids with a next vector (a model switch, switch.go)
}

var _ scenedex.Index = (*Index)(nil)

// Open loads the index stored at path (creating it if needed).
func Open(ctx context.Context, path string) (*Index, error) {
	db, err := sqlite.Open(ctx, path, schema)
	if err != nil {
		return nil, err
	}
	if err := addColumns(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	ix := &Index{db: db}
	if err := ix.load(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return ix, nil
}

// load reads the docs into memory afresh; the caller holds the write lock
// (or owns ix).
func (ix *Index) load(ctx context.Context) error {
	ix.dim, ix.model, ix.ids, ix.meta, ix.vecs, ix.byID, ix.next = 0, "", nil, nil, nil, map[string]int{}, map[string]struct{}{}
	if err := ix.loadNext(ctx); err != nil {
		return err
	}
	err := ix.db.QueryRowContext(ctx, `SELECT value FROM state WHERE key = 'live_model'`).Scan(&ix.model)
	if err == sql.ErrNoRows {
		err = ix.db.QueryRowContext(ctx, `SELECT model FROM docs WHERE model != '' LIMIT 1`).Scan(&ix.model)
	}
	if err != nil && err != sql.ErrNoRows {
		return fmt.Errorf("load index: %w", err)
	}
	rows, err := ix.db.QueryContext(ctx, `SELECT id, chunk, vector FROM docs ORDER BY rowid`)
	if err != nil {
		return fmt.Errorf("load index: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var chunk, vec []byte
		if err := rows.Scan(&id, &chunk, &vec); err != nil {
			return err
		}
		var c scenedex.Chunk
		if err := json.Unmarshal(chunk, &c); err != nil {
			return fmt.Errorf("load index doc %s: %w", id, err)
		}
		if err := ix.put(id, c, decode(vec)); err != nil {
			return err
		}
	}
	return rows.Err()
}

// addColumns upgrades an index made by an earlier version: docs get the
// lines column (words on screen; scenedex reindex fills it) and the model
// column (which model made each vector).
func addColumns(ctx context.Context, db *sql.DB) error {
	for name, decl := range map[string]string{"lines": "TEXT", "model": "TEXT NOT NULL DEFAULT ''"} {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('docs') WHERE name = ?`, name).Scan(&n); err != nil {
			return fmt.Errorf("index schema: %w", err)
		}
		if n == 0 {
			if _, err := db.ExecContext(ctx, `ALTER TABLE docs ADD COLUMN `+name+` `+decl); err != nil {
				return fmt.Errorf("index schema: add %s: %w", name, err)
			}
		}
	}
	return nil
}

// Model is the model the index's vectors come from ("" while it has none
// that says).
func (ix *Index) Model() string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.model
}

// Close closes the database.
func (ix *Index) Close() error { return ix.db.Close() }

// Len is the number of documents.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.ids)
}

// put stores one doc in memory; the caller holds the write lock (or owns ix).
func (ix *Index) put(id string, c scenedex.Chunk, v []float32) error {
	if ix.dim == 0 {
		ix.dim = len(v)
	}
	if len(v) != ix.dim || len(v) == 0 {
		return scenedex.Errorf(scenedex.CodeInvalid, "vector of %s has dimension %d, index has %d", id, len(v), ix.dim)
	}
	if i, ok := ix.byID[id]; ok {
		ix.meta[i] = c
		copy(ix.vecs[i*ix.dim:(i+1)*ix.dim], v)
		return nil
	}
	ix.byID[id] = len(ix.ids)
	ix.ids = append(ix.ids, id)
	ix.meta = append(ix.meta, c)
	ix.vecs = append(ix.vecs, v...)
	return nil
}

// Upsert stores docs, replacing any with the same id.
func (ix *Index) Upsert(ctx context.Context, docs []scenedex.Doc) error {
	for i := range docs {
		vector.Normalize(docs[i].Vector)
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	model := ix.model
	for _, d := range docs {
		if ix.dim != 0 && len(d.Vector) != ix.dim {
			return scenedex.Errorf(scenedex.CodeConflict, "the index holds %d-dimension vectors (model %s) and %s's has %d (model %s): vectors of two models "+
				"cannot be compared; go back to the first model, or index with the new one into a fresh data folder",
				ix.dim, orUnknown(model), d.ID(), len(d.Vector), orUnknown(d.Model))
		}
		if d.Model != "" && model != "" && d.Model != model {
			return scenedex.Errorf(scenedex.CodeConflict, "the index holds vectors of model %s and %s comes from %s: vectors of two models cannot be compared; "+
				"go back to %s, or index with the new model into a fresh data folder", model, d.ID(), d.Model, model)
		}
		if model == "" {
			model = d.Model
		}
	}
	tx, err := ix.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	for _, d := range docs {
		if err := upsert(ctx, tx, d); err != nil {
			tx.Rollback()
			return fmt.Errorf("upsert %s: %w", d.ID(), err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("upsert: %w", err)
	}
	ix.model = model
	for _, d := range docs {
		if err := ix.put(d.ID(), d.Chunk, d.Vector); err != nil {
			return err
		}
	}
	return nil
}

func orUnknown(model string) string {
	if model == "" {
		return "unrecorded"
	}
	return model
}

func upsert(ctx context.Context, tx *sql.Tx, d scenedex.Doc) error {
	chunk, _ := json.Marshal(d.Chunk)
	lines, _ := json.Marshal(d.Lines)
	var rowid int64
	err := tx.QueryRowContext(ctx, `INSERT INTO docs (id, video_id, chunk, vector, lines, model) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT(id) DO UPDATE SET video_id = excluded.video_id, chunk = excluded.chunk, vector = excluded.vector,
		lines = excluded.lines, model = excluded.model RETURNING rowid`, d.ID(), d.VideoID, chunk, encode(d.Vector), lines, d.Model).Scan(&rowid)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM words WHERE rowid = ?`, rowid); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO words (rowid, screen, meta) VALUES (?, ?, ?)`, rowid, words.ScreenText(d.Lines), words.MetaText(d.Chunk))
	return err
}

// Get returns one doc.
func (ix *Index) Get(ctx context.Context, id string) (scenedex.Doc, error) {
	notFound := scenedex.Errorf(scenedex.CodeNotFound, "no indexed chunk %q", id)
	ix.mu.RLock()
	i, ok := ix.byID[id]
	var d scenedex.Doc
	if ok {
		d = scenedex.Doc{Chunk: ix.meta[i], Vector: append([]float32(nil), ix.vecs[i*ix.dim:(i+1)*ix.dim]...)}
	}
	ix.mu.RUnlock() // before the query: a reader under mu waits for no connection
	if !ok {
		return scenedex.Doc{}, notFound
	}
	var lines []byte
	err := ix.db.QueryRowContext(ctx, `SELECT lines, model FROM docs WHERE id = ?`, id).Scan(&lines, &d.Model)
	if err == sql.ErrNoRows {
		return scenedex.Doc{}, notFound // deleted meanwhile
	}
	if err != nil {
		return d, fmt.Errorf("get %s: %w", id, err)
	}
	if len(lines) > 0 {
		if err := json.Unmarshal(lines, &d.Lines); err != nil {
			return d, fmt.Errorf("get %s: lines: %w", id, err)
		}
	}
	return d, nil
}

// DeleteVideo removes every doc of a video.
func (ix *Index) DeleteVideo(ctx context.Context, videoID string) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	err := sqlite.InTx(ctx, ix.db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM words WHERE rowid IN (SELECT rowid FROM docs WHERE video_id = ?)`, videoID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM next_vectors WHERE id IN (SELECT id FROM docs WHERE video_id = ?)`, videoID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM docs WHERE video_id = ?`, videoID)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete video %s from index: %w", videoID, err)
	}
	// Compact in place, keeping order.
	w := 0
	for r := range ix.ids {
		if ix.meta[r].VideoID == videoID {
			delete(ix.byID, ix.ids[r])
			delete(ix.next, ix.ids[r])
			continue
		}
		if w != r {
			ix.ids[w], ix.meta[w] = ix.ids[r], ix.meta[r]
			copy(ix.vecs[w*ix.dim:(w+1)*ix.dim], ix.vecs[r*ix.dim:(r+1)*ix.dim])
			ix.byID[ix.ids[w]] = w
		}
		w++
	}
	ix.ids, ix.meta, ix.vecs = ix.ids[:w], ix.meta[:w], ix.vecs[:w*ix.dim]
	return nil
}

// Search returns the k nearest docs to vec by cosine similarity.
func (ix *Index) Search(_ context.Context, vec []float32, k int, f scenedex.Filter) ([]scenedex.Hit, error) {
	if k <= 0 {
		return nil, scenedex.Errorf(scenedex.CodeInvalid, "k must be positive")
	}
	q := append([]float32(nil), vec...)
	vector.Normalize(q)
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	n := len(ix.ids)
	if n == 0 {
		return []scenedex.Hit{}, nil
	}
	if len(q) != ix.dim {
		return nil, scenedex.Errorf(scenedex.CodeInvalid, "query has dimension %d, index has %d (was the model changed?)", len(q), ix.dim)
	}
	workers := runtime.GOMAXPROCS(0)
	if n < 20000 {
		workers = 1
	}
	parts := make([]topK, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := n*w/workers, n*(w+1)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			parts[w] = ix.scan(q, k, f, lo, hi)
		}()
	}
	wg.Wait()
	var all topK
	for _, p := range parts {
		all = append(all, p...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].score > all[j].score })
	if len(all) > k {
		all = all[:k]
	}
	hits := make([]scenedex.Hit, len(all))
	for i, s := range all {
		hits[i] = hitOf(ix.meta[s.row], float64(s.score))
	}
	return hits, nil
}

// SearchWords ranks docs by BM25 over their words (FTS5), filtered as
// Search is, best first; Score is the BM25 score (higher is better).
func (ix *Index) SearchWords(ctx context.Context, q scenedex.WordQuery, k int, f scenedex.Filter) ([]scenedex.WordHit, error) {
	if k <= 0 {
		return nil, scenedex.Errorf(scenedex.CodeInvalid, "k must be positive")
	}
	expr := matchExpr(q)
	if expr == "" {
		return []scenedex.WordHit{}, nil
	}
	hits := []scenedex.WordHit{}
	const page = 200
	for offset := 0; len(hits) < k; offset += page {
		// The page is read whole and its rows closed before mu is taken
		// (the lock order on Index).
		rows, err := ix.wordPage(ctx, expr, page, offset)
		if err != nil {
			return nil, err
		}
		ix.mu.RLock()
		for i := range rows {
			r := &rows[i]
			row, ok := ix.byID[r.id]
			if ok {
				r.chunk = ix.meta[row]
			}
			r.ok = ok
		}
		ix.mu.RUnlock()
		for _, r := range rows {
			if !r.ok || !matches(&r.chunk, f) || r.id == f.ExcludeID || len(hits) >= k {
				continue
			}
			h := scenedex.WordHit{Hit: hitOf(r.chunk, r.score)}
			if len(r.lines) > 0 {
				if err := json.Unmarshal(r.lines, &h.Lines); err != nil {
					return nil, fmt.Errorf("search words: lines of %s: %w", r.id, err)
				}
			}
			hits = append(hits, h)
		}
		if len(rows) < page {
			break
		}
	}
	return hits, nil
}

// wordRow is one row of a words query; chunk and ok are filled from memory.
type wordRow struct {
	id    string
	score float64
	lines []byte
	chunk scenedex.Chunk
	ok    bool
}

// wordPage reads one page of a words query, best first, and closes its rows.
func (ix *Index) wordPage(ctx context.Context, expr string, limit, offset int) ([]wordRow, error) {
	rows, err := ix.db.QueryContext(ctx, `SELECT d.id, -`+bm25+`, d.lines FROM words JOIN docs d ON d.rowid = words.rowid
		WHERE words MATCH ? ORDER BY `+bm25+` LIMIT ? OFFSET ?`, expr, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("search words: %w", err)
	}
	defer rows.Close()
	var out []wordRow
	for rows.Next() {
		var r wordRow
		if err := rows.Scan(&r.id, &r.score, &r.lines); err != nil {
			return nil, fmt.Errorf("search words: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search words: %w", err)
	}
	return out, nil
}

// matchExpr is the FTS5 query: phrases must all match; terms are optional
// (any may match) and raise the rank. Every word is quoted, so nothing a
// user types is FTS5 syntax.
func matchExpr(q scenedex.WordQuery) string {
	quote := func(ws []string) string { return `"` + strings.ReplaceAll(strings.Join(ws, " "), `"`, `""`) + `"` }
	var phrases, terms []string
	for _, p := range q.Phrases {
		phrases = append(phrases, quote(p))
	}
	for _, t := range q.Terms {
		terms = append(terms, quote([]string{t}))
	}
	switch {
	case len(phrases) == 0:
		return strings.Join(terms, " OR ")
	case len(terms) == 0:
		return strings.Join(phrases, " AND ")
	default:
		return "(" + strings.Join(phrases, " AND ") + ") AND (" + strings.Join(append(terms, phrases[0]), " OR ") + ")"
	}
}

func hitOf(c scenedex.Chunk, score float64) scenedex.Hit {
	return scenedex.Hit{VideoID: c.VideoID, Chunk: c.Index, Filename: c.Filename, Collection: c.Collection,
		Start: c.Start, End: c.End, Score: score, Metadata: c.Metadata, ThumbKey: c.ThumbKey, ClipKey: c.ClipKey}
}

func (ix *Index) scan(q []float32, k int, f scenedex.Filter, lo, hi int) topK {
	h := make(topK, 0, k+1)
	dim := ix.dim
	for r := lo; r < hi; r++ {
		if !matches(&ix.meta[r], f) || (f.ExcludeID != "" && ix.ids[r] == f.ExcludeID) {
			continue
		}
		s := vector.Dot(q, ix.vecs[r*dim:(r+1)*dim])
		if len(h) < k {
			heap.Push(&h, scored{row: r, score: s})
		} else if s > h[0].score {
			h[0] = scored{row: r, score: s}
			heap.Fix(&h, 0)
		}
	}
	return h
}

func matches(c *scenedex.Chunk, f scenedex.Filter) bool {
	if f.Collection != "" && c.Collection != f.Collection {
		return false
	}
	for k, v := range f.Metadata {
		if c.Metadata[k] != v {
			return false
		}
	}
	return true
}

func encode(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func decode(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

type scored struct {
	row   int
	score float32
}

// topK is a min-heap on score: the root is the worst of the best k.
type topK []scored

func (h topK) Len() int           { return len(h) }
func (h topK) Less(i, j int) bool { return h[i].score < h[j].score }
func (h topK) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *topK) Push(x any)        { *h = append(*h, x.(scored)) }
func (h *topK) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
