package osindex

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/scenedex/scenedex/internal/scenedex"
)

// StateStore keeps one small record under optimistic locking (the catalog's
// DynamoDB table in the cloud): version 0 is a record not written yet, and
// PutRecord refuses (CodeConflict) when the stored version is not version.
type StateStore interface {
	GetRecord(ctx context.Context, name string) (data []byte, version int, err error)
	PutRecord(ctx context.Context, name string, data []byte, version int) error
}

// stateRecord is the StateStore record's name.
const stateRecord = "index-state"

// state is which OpenSearch index is live and the model switch under way.
type state struct {
	Live      string                `json:"live,omitempty"` // "" = the first generation, Base.Name
	LiveModel string                `json:"live_model,omitempty"`
	Next      string                `json:"next,omitempty"`     // the switch's index
	Previous  string                `json:"previous,omitempty"` // live before the last switch; deleted when the next begins
	Gen       int                   `json:"gen"`
	Switch    *scenedex.ModelSwitch `json:"switch,omitempty"`
}

// Switching is the index with model switches (scenedex.ModelSwitcher) on
// OpenSearch: each model's vectors live in an index of their own — the first
// is Base.Name, later ones Base.Name-g<N> — and a state record says which is
// live. A switch fills the next index beside the live one (every doc copied
// with the new model's vector) while search keeps reading the live one; the
// promotion is one conditional write of the record. The index it replaced
// stays until the next switch begins, so a write from a function that read
// the state just before the promotion lands in an index nobody reads rather
// than re-creating one. The state is read afresh on every call (one
// DynamoDB read), so no function works from an old one.
type Switching struct {
	Base  *Index // the first generation's settings (Client, Name, Dim, Serverless, Replicas)
	Store StateStore

	mu   sync.Mutex
	gens map[string]*Index
}

var (
	_ scenedex.Index         = (*Switching)(nil)
	_ scenedex.HybridIndex   = (*Switching)(nil)
	_ scenedex.ModelSwitcher = (*Switching)(nil)
)

func (s *Switching) load(ctx context.Context) (state, int, error) {
	var st state
	data, version, err := s.Store.GetRecord(ctx, stateRecord)
	if err != nil {
		return st, 0, fmt.Errorf("index state: %w", err)
	}
	if version > 0 {
		if err := json.Unmarshal(data, &st); err != nil {
			return st, 0, fmt.Errorf("index state: %w", err)
		}
	}
	return st, version, nil
}

func (s *Switching) save(ctx context.Context, st state, version int) error {
	data, _ := json.Marshal(st)
	return s.Store.PutRecord(ctx, stateRecord, data, version)
}

// update applies fn to the state and saves it, again from a fresh read when
// another function saved meanwhile.
func (s *Switching) update(ctx context.Context, fn func(*state) error) error {
	for try := 0; ; try++ {
		st, version, err := s.load(ctx)
		if err != nil {
			return err
		}
		if err := fn(&st); err != nil {
			return err
		}
		err = s.save(ctx, st, version)
		if scenedex.ErrorCode(err) != scenedex.CodeConflict || try == 4 {
			return err
		}
	}
}

// gen is the Index of name (Base's settings; a later generation takes its
// dimension from its first vector).
func (s *Switching) gen(name string) *Index {
	if name == "" {
		name = s.Base.Name
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ix, ok := s.gens[name]; ok {
		return ix
	}
	if s.gens == nil {
		s.gens = map[string]*Index{}
	}
	ix := &Index{Client: s.Base.Client, Name: name, Dim: s.Base.Dim, Serverless: s.Base.Serverless, Replicas: s.Base.Replicas,
		RefreshWait: s.Base.RefreshWait}
	if name != s.Base.Name {
		ix.Dim = 0
	}
	s.gens[name] = ix
	return ix
}

func (s *Switching) live(ctx context.Context) (*Index, state, error) {
	st, _, err := s.load(ctx)
	if err != nil {
		return nil, st, err
	}
	return s.gen(st.Live), st, nil
}

// Upsert writes docs to the live index and records the live model the first
// time a doc says it.
func (s *Switching) Upsert(ctx context.Context, docs []scenedex.Doc) error {
	ix, st, err := s.live(ctx)
	if err != nil {
		return err
	}
	if err := ix.Upsert(ctx, docs); err != nil {
		return err
	}
	if st.LiveModel == "" && len(docs) > 0 && docs[0].Model != "" {
		return s.update(ctx, func(st *state) error {
			if st.LiveModel == "" {
				st.LiveModel = docs[0].Model
			}
			return nil
		})
	}
	return nil
}

// Get reads the live index.
func (s *Switching) Get(ctx context.Context, id string) (scenedex.Doc, error) {
	ix, _, err := s.live(ctx)
	if err != nil {
		return scenedex.Doc{}, err
	}
	return ix.Get(ctx, id)
}

// Search searches the live index.
func (s *Switching) Search(ctx context.Context, vec []float32, k int, f scenedex.Filter) ([]scenedex.Hit, error) {
	ix, _, err := s.live(ctx)
	if err != nil {
		return nil, err
	}
	return ix.Search(ctx, vec, k, f)
}

// SearchWords searches the live index.
func (s *Switching) SearchWords(ctx context.Context, q scenedex.WordQuery, k int, f scenedex.Filter) ([]scenedex.WordHit, error) {
	ix, _, err := s.live(ctx)
	if err != nil {
		return nil, err
	}
	return ix.SearchWords(ctx, q, k, f)
}

// SearchHybrid searches the live index.
func (s *Switching) SearchHybrid(ctx context.Context, q scenedex.WordQuery, vec []float32, k int, f scenedex.Filter) ([]scenedex.WordHit, error) {
	ix, _, err := s.live(ctx)
	if err != nil {
		return nil, err
	}
	return ix.SearchHybrid(ctx, q, vec, k, f)
}

// DeleteVideo removes the video's docs from the live index and, during a
// switch, from the next one.
func (s *Switching) DeleteVideo(ctx context.Context, videoID string) error {
	ix, st, err := s.live(ctx)
	if err != nil {
		return err
	}
	if err := ix.DeleteVideo(ctx, videoID); err != nil {
		return err
	}
	if st.Switch != nil {
		return s.gen(st.Next).DeleteVideo(ctx, videoID)
	}
	return nil
}

// LiveModel is the live vectors' model ("" before one was recorded).
func (s *Switching) LiveModel(ctx context.Context) (string, string, error) {
	st, _, err := s.load(ctx)
	return st.LiveModel, "", err
}

// Switch is the switch under way, or nil.
func (s *Switching) Switch(ctx context.Context) (*scenedex.ModelSwitch, error) {
	st, _, err := s.load(ctx)
	return st.Switch, err
}

// BeginSwitch records sw and names its index (the one the last switch left
// behind is deleted first).
func (s *Switching) BeginSwitch(ctx context.Context, sw scenedex.ModelSwitch) error {
	st, _, err := s.load(ctx)
	if err != nil {
		return err
	}
	if st.Switch == nil && st.Previous != "" {
		if err := s.gen(st.Previous).DeleteIndex(ctx); err != nil {
			return err
		}
	}
	return s.update(ctx, func(st *state) error {
		switch {
		case st.Switch != nil && st.Switch.To != sw.To:
			return scenedex.Errorf(scenedex.CodeConflict, "a switch from %s to %s is under way: let it finish, or cancel it first", st.Switch.From, st.Switch.To)
		case st.Switch == nil:
			st.Gen++
			st.Next, st.Previous = fmt.Sprintf("%s-g%d", s.Base.Name, st.Gen), ""
		}
		st.Switch = &sw
		return nil
	})
}

// SwitchQueued records that every doc has been queued.
func (s *Switching) SwitchQueued(ctx context.Context) error {
	return s.update(ctx, func(st *state) error {
		if st.Switch != nil {
			st.Switch.Queued = true
		}
		return nil
	})
}

// UpsertNext writes d (a live doc with the next model's vector) into the
// next index; nothing when no switch is under way. The caller has the doc
// (a Serverless collection may not show one just written to a search yet).
func (s *Switching) UpsertNext(ctx context.Context, d scenedex.Doc) error {
	st, _, err := s.load(ctx)
	if err != nil || st.Switch == nil {
		return err
	}
	d.Model = st.Switch.To
	return s.gen(st.Next).Upsert(ctx, []scenedex.Doc{d})
}

// SwitchProgress counts the next index's docs, of the live one's.
func (s *Switching) SwitchProgress(ctx context.Context) (int, int, error) {
	ix, st, err := s.live(ctx)
	if err != nil || st.Switch == nil {
		return 0, 0, err
	}
	total, err := ix.Count(ctx)
	if err != nil {
		return 0, 0, err
	}
	done, err := s.gen(st.Next).Count(ctx)
	return min(done, total), total, err
}

// Promote makes the next index live, when it holds every doc, in one
// conditional write of the state.
func (s *Switching) Promote(ctx context.Context) (bool, error) {
	st, version, err := s.load(ctx)
	if err != nil || st.Switch == nil {
		return false, err
	}
	total, err := s.gen(st.Live).Count(ctx)
	if err != nil {
		return false, err
	}
	done, err := s.gen(st.Next).Count(ctx)
	if err != nil || done < total {
		return false, err
	}
	old := st.Live
	if old == "" {
		old = s.Base.Name
	}
	st.Live, st.LiveModel, st.Previous, st.Next, st.Switch = st.Next, st.Switch.To, old, "", nil
	if err := s.save(ctx, st, version); err != nil {
		if scenedex.ErrorCode(err) == scenedex.CodeConflict {
			return false, nil // another function moved the state on; it will be looked at again
		}
		return false, err
	}
	return true, nil
}

// CancelSwitch ends the switch and deletes its index.
func (s *Switching) CancelSwitch(ctx context.Context) error {
	var next string
	if err := s.update(ctx, func(st *state) error {
		next, st.Next, st.Switch = st.Next, "", nil
		return nil
	}); err != nil {
		return err
	}
	if next == "" {
		return nil
	}
	return s.gen(next).DeleteIndex(ctx)
}

// Count is the number of documents in the index (0 when it does not exist).
func (ix *Index) Count(ctx context.Context) (int, error) {
	resp, err := ix.Client.Indices.Count(ctx, &opensearchapi.IndicesCountReq{Indices: []string{ix.Name}})
	r := raw(resp, resp == nil)
	if statusOf(r) == http.StatusNotFound {
		return 0, nil
	}
	if err != nil {
		return 0, classify(err, r, "count %s", ix.Name)
	}
	return resp.Count, nil
}

// DeleteIndex deletes the index (nothing when it does not exist).
func (ix *Index) DeleteIndex(ctx context.Context) error {
	resp, err := ix.Client.Indices.Delete(ctx, opensearchapi.IndicesDeleteReq{Indices: []string{ix.Name}})
	r := raw(resp, resp == nil)
	if statusOf(r) == http.StatusNotFound {
		return nil
	}
	if err != nil {
		return classify(err, r, "delete index %s", ix.Name)
	}
	ix.mu.Lock()
	ix.ensured = false
	ix.mu.Unlock()
	return nil
}
