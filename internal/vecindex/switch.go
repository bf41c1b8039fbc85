package vecindex

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/sqlite"
	"github.com/scenedex/scenedex/internal/vector"
)

var _ scenedex.ModelSwitcher = (*Index)(nil)

// LiveModel is the live vectors' model and the folder it loads from ("" when
// not recorded: the built-in model, or an index from before switches).
func (ix *Index) LiveModel(ctx context.Context) (string, string, error) {
	var source string
	err := ix.db.QueryRowContext(ctx, `SELECT value FROM state WHERE key = 'live_source'`).Scan(&source)
	if err != nil && err != sql.ErrNoRows {
		return "", "", fmt.Errorf("index state: %w", err)
	}
	return ix.Model(), source, nil
}

// Switch is the model switch under way, or nil.
func (ix *Index) Switch(ctx context.Context) (*scenedex.ModelSwitch, error) {
	return readSwitch(ctx, ix.db)
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func readSwitch(ctx context.Context, q querier) (*scenedex.ModelSwitch, error) {
	var b string
	err := q.QueryRowContext(ctx, `SELECT value FROM state WHERE key = 'switch'`).Scan(&b)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("index state: %w", err)
	}
	var s scenedex.ModelSwitch
	if err := json.Unmarshal([]byte(b), &s); err != nil {
		return nil, fmt.Errorf("index state: switch: %w", err)
	}
	return &s, nil
}

func writeSwitch(ctx context.Context, tx *sql.Tx, s scenedex.ModelSwitch) error {
	b, _ := json.Marshal(s)
	_, err := tx.ExecContext(ctx, `INSERT INTO state (key, value) VALUES ('switch', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, string(b))
	return err
}

// BeginSwitch records s (again, for the same target: a resumed switch).
func (ix *Index) BeginSwitch(ctx context.Context, s scenedex.ModelSwitch) error {
	return sqlite.InTx(ctx, ix.db, func(tx *sql.Tx) error {
		cur, err := readSwitch(ctx, tx)
		if err != nil {
			return err
		}
		if cur != nil && cur.To != s.To {
			return scenedex.Errorf(scenedex.CodeConflict, "a switch from %s to %s is under way: let it finish, or cancel it first", cur.From, cur.To)
		}
		return writeSwitch(ctx, tx, s)
	})
}

// SwitchQueued records that every doc has been queued.
func (ix *Index) SwitchQueued(ctx context.Context) error {
	return sqlite.InTx(ctx, ix.db, func(tx *sql.Tx) error {
		cur, err := readSwitch(ctx, tx)
		if err != nil || cur == nil {
			return err
		}
		cur.Queued = true
		return writeSwitch(ctx, tx, *cur)
	})
}

// UpsertNext stores the next model's vector of d (skipped when the doc is
// gone); the rest of the doc is the live one's. Every next vector must have
// the same dimension.
func (ix *Index) UpsertNext(ctx context.Context, d scenedex.Doc) error {
	id := d.ID()
	v := append([]float32(nil), d.Vector...)
	vector.Normalize(v)
	ix.mu.Lock() // against DeleteVideo and Promote
	defer ix.mu.Unlock()
	if _, ok := ix.byID[id]; !ok {
		return nil
	}
	var other []byte
	err := ix.db.QueryRowContext(ctx, `SELECT vector FROM next_vectors WHERE id != ? LIMIT 1`, id).Scan(&other)
	if err != nil && err != sql.ErrNoRows {
		return fmt.Errorf("next vector of %s: %w", id, err)
	}
	if err == nil && len(other)/4 != len(v) {
		return scenedex.Errorf(scenedex.CodeConflict, "next vector of %s has dimension %d, the others %d", id, len(v), len(other)/4)
	}
	if _, err := ix.db.ExecContext(ctx, `INSERT INTO next_vectors (id, vector) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET vector = excluded.vector`,
		id, encode(v)); err != nil {
		return fmt.Errorf("next vector of %s: %w", id, err)
	}
	ix.next[id] = struct{}{}
	return nil
}

// loadNext reads which docs have a next vector; the caller holds the write
// lock (or owns ix).
func (ix *Index) loadNext(ctx context.Context) error {
	rows, err := ix.db.QueryContext(ctx, `SELECT id FROM next_vectors`)
	if err != nil {
		return fmt.Errorf("load next vectors: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		ix.next[id] = struct{}{}
	}
	return rows.Err()
}

// SwitchProgress counts docs with a next vector, of all docs.
func (ix *Index) SwitchProgress(ctx context.Context) (int, int, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.next), len(ix.ids), nil
}

// Promote makes the next vectors live in one transaction when every doc has
// one, records the new live model and ends the switch.
func (ix *Index) Promote(ctx context.Context) (bool, error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	promoted := false
	err := sqlite.InTx(ctx, ix.db, func(tx *sql.Tx) error {
		s, err := readSwitch(ctx, tx)
		if err != nil || s == nil {
			return err
		}
		var missing int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM docs WHERE id NOT IN (SELECT id FROM next_vectors)`).Scan(&missing); err != nil {
			return err
		}
		if missing > 0 {
			return nil
		}
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`UPDATE docs SET vector = (SELECT vector FROM next_vectors n WHERE n.id = docs.id), model = ?`, []any{s.To}},
			{`DELETE FROM next_vectors`, nil},
			{`INSERT INTO state (key, value) VALUES ('live_model', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, []any{s.To}},
			{`INSERT INTO state (key, value) VALUES ('live_source', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, []any{s.Source}},
			{`DELETE FROM state WHERE key = 'switch'`, nil},
		} {
			if _, err := tx.ExecContext(ctx, q.sql, q.args...); err != nil {
				return err
			}
		}
		promoted = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("promote next vectors: %w", err)
	}
	if promoted {
		if err := ix.load(ctx); err != nil {
			return true, err
		}
	}
	return promoted, nil
}

// CancelSwitch drops the next vectors and the switch.
func (ix *Index) CancelSwitch(ctx context.Context) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	err := sqlite.InTx(ctx, ix.db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM next_vectors`); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM state WHERE key = 'switch'`)
		return err
	})
	if err == nil {
		ix.next = map[string]struct{}{}
	}
	return err
}
