package osindex

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/scenedex/scenedex/internal/scenedex"
)

// domain stands in for one OpenSearch domain holding several indexes: each
// index is a fakeOpenSearch of its own (which speaks for an index named
// "chunks"), requests are routed by the index in their path or, for a bulk,
// in each action; it answers _count and DELETE of an index itself.
type domain struct {
	t       *testing.T
	mu      sync.Mutex
	indexes map[string]*fakeOpenSearch
	deleted []string
}

func (d *domain) index(name string) *fakeOpenSearch {
	d.mu.Lock()
	defer d.mu.Unlock()
	f, ok := d.indexes[name]
	if !ok {
		f = &fakeOpenSearch{t: d.t, service: "es", docs: map[string]map[string]any{}}
		d.indexes[name] = f
	}
	return f
}

func (d *domain) forward(f *fakeOpenSearch, r *http.Request, path string, body []byte) *httptest.ResponseRecorder {
	req := r.Clone(r.Context())
	req.URL.Path, req.Body = path, io.NopCloser(bytes.NewReader(body))
	rec := httptest.NewRecorder()
	f.ServeHTTP(rec, req)
	return rec
}

func (d *domain) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.URL.Path == "/_bulk" {
		// Split the actions by index, each sent to its index as "chunks".
		parts := map[string]*bytes.Buffer{}
		var order []string
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			var action map[string]map[string]any
			json.Unmarshal(sc.Bytes(), &action)
			var name string
			for _, meta := range action {
				name, _ = meta["_index"].(string)
				meta["_index"] = "chunks"
			}
			if parts[name] == nil {
				parts[name] = &bytes.Buffer{}
				order = append(order, name)
			}
			line, _ := json.Marshal(action)
			parts[name].Write(append(line, '\n'))
			if action["delete"] == nil && sc.Scan() {
				parts[name].Write(append(sc.Bytes(), '\n'))
			}
		}
		out := map[string]any{"took": 1, "errors": false, "items": []any{}}
		for _, name := range order {
			var res map[string]any
			json.Unmarshal(d.forward(d.index(name), r, "/_bulk", parts[name].Bytes()).Body.Bytes(), &res)
			out["items"] = append(out["items"].([]any), res["items"].([]any)...)
			if res["errors"] == true {
				out["errors"] = true
			}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
		return
	}
	name, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	d.mu.Lock()
	f, exists := d.indexes[name]
	d.mu.Unlock()
	switch {
	case r.Method == http.MethodDelete && rest == "":
		if !exists || !f.exists {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":{"type":"index_not_found_exception"},"status":404}`))
			return
		}
		d.mu.Lock()
		delete(d.indexes, name)
		d.deleted = append(d.deleted, name)
		d.mu.Unlock()
		w.Write([]byte(`{"acknowledged":true}`))
	case rest == "_count":
		if !exists || !f.exists {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":{"type":"index_not_found_exception"},"status":404}`))
			return
		}
		f.mu.Lock()
		n := len(f.docs)
		f.mu.Unlock()
		fmt.Fprintf(w, `{"count":%d,"_shards":{"total":1,"successful":1,"failed":0}}`, n)
	default:
		path := "/chunks"
		if rest != "" {
			path += "/" + rest
		}
		rec := d.forward(d.index(name), r, path, body)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}
}

// memStore is the StateStore in memory (the DynamoDB one is tested in
// package dynamo).
type memStore struct {
	mu      sync.Mutex
	data    []byte
	version int
	puts    int
}

func (m *memStore) GetRecord(_ context.Context, name string) ([]byte, int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.data, m.version, nil
}

func (m *memStore) PutRecord(_ context.Context, name string, data []byte, version int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if version != m.version {
		return scenedex.Errorf(scenedex.CodeConflict, "record %s changed", name)
	}
	m.data, m.version, m.puts = data, m.version+1, m.puts+1
	return nil
}

func newSwitching(t *testing.T) (*Switching, *domain, *memStore) {
	d := &domain{t: t, indexes: map[string]*fakeOpenSearch{}}
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", "")}
	client, err := Connect(cfg, srv.URL, "es")
	if err != nil {
		t.Fatal(err)
	}
	zero := 0
	store := &memStore{}
	return &Switching{Base: &Index{Client: client, Name: "chunks", Dim: 3, Replicas: &zero}, Store: store}, d, store
}

func withModel(d scenedex.Doc, model string) scenedex.Doc {
	d.Model = model
	return d
}

// A model switch on OpenSearch: the next model's vectors (another dimension)
// fill an index of their own while search reads the live one; the promotion
// switches reads and writes to it in one write of the state; the index it
// replaced goes when the next switch begins; a cancelled switch's index is
// deleted; deletes during a switch reach both.
func TestSwitchingIndex(t *testing.T) {
	s, d, _ := newSwitching(t)
	ctx := context.Background()
	docs := []scenedex.Doc{withModel(doc3("v1", 0, "ads", 1, 0, 0), "old"), withModel(doc3("v1", 1, "ads", 0, 1, 0), "old"),
		withModel(doc3("v2", 0, "ads", 0, 0, 1), "old")}
	if err := s.Upsert(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if live, _, err := s.LiveModel(ctx); err != nil || live != "old" {
		t.Fatalf("live model %q %v", live, err)
	}
	if err := s.BeginSwitch(ctx, scenedex.ModelSwitch{From: "old", To: "new"}); err != nil {
		t.Fatal(err)
	}
	if err := s.BeginSwitch(ctx, scenedex.ModelSwitch{From: "old", To: "other"}); scenedex.ErrorCode(err) != scenedex.CodeConflict {
		t.Fatalf("a second switch: %v", err)
	}
	for i := range 2 {
		if err := s.UpsertNext(ctx, doc3("v1", i, "ads", float32(i), 1)); err != nil {
			t.Fatal(err)
		}
	}
	if done, total, err := s.SwitchProgress(ctx); err != nil || done != 2 || total != 3 {
		t.Fatalf("progress %d/%d %v", done, total, err)
	}
	if ok, err := s.Promote(ctx); err != nil || ok {
		t.Fatalf("promoted with a doc missing: %v %v", ok, err)
	}
	// Search still answers from the live (3-dimension) vectors.
	if hits, err := s.Search(ctx, []float32{0, 0, 1}, 1, scenedex.Filter{}); err != nil || len(hits) != 1 || hits[0].VideoID != "v2" {
		t.Fatalf("search during the switch: %+v %v", hits, err)
	}
	if err := s.UpsertNext(ctx, doc3("v2", 0, "ads", 1, 0)); err != nil {
		t.Fatal(err)
	}
	next := d.index("chunks-g1")
	if vec := get(next.mapping, "mappings", "properties", "vector", "dimension"); vec != 2.0 {
		t.Errorf("the next index's dimension %v, want the new model's 2", vec)
	}
	if ok, err := s.Promote(ctx); err != nil || !ok {
		t.Fatalf("promote: %v %v", ok, err)
	}
	if live, _, _ := s.LiveModel(ctx); live != "new" {
		t.Errorf("live model after promotion %q", live)
	}
	if sw, _ := s.Switch(ctx); sw != nil {
		t.Errorf("switch still under way: %+v", sw)
	}
	hits, err := s.Search(ctx, []float32{1, 0}, 1, scenedex.Filter{})
	if err != nil || len(hits) != 1 || hits[0].VideoID != "v2" {
		t.Fatalf("search after the promotion: %+v %v", hits, err)
	}
	got, err := s.Get(ctx, "v1:1")
	if err != nil || len(got.Vector) != 2 || got.Collection != "ads" || got.ThumbKey != "t" {
		t.Errorf("a doc after the promotion keeps its fields with the new vector: %+v %v", got, err)
	}
	// New writes go to the new index.
	if err := s.Upsert(ctx, []scenedex.Doc{withModel(doc3("v3", 0, "ads", 1, 1), "new")}); err != nil || len(next.docs) != 4 {
		t.Fatalf("upsert after the promotion: %v, %d docs", err, len(next.docs))
	}
	if len(d.deleted) != 0 {
		t.Errorf("the replaced index is kept until the next switch: deleted %v", d.deleted)
	}

	// A second switch deletes the index the first left; cancelled, its own
	// index goes too, and the live one is untouched.
	if err := s.BeginSwitch(ctx, scenedex.ModelSwitch{From: "new", To: "third"}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertNext(ctx, doc3("v3", 0, "ads", 1, 2, 3, 4)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteVideo(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	if n := len(next.docs); n != 2 {
		t.Errorf("live docs after deleting v1: %d", n)
	}
	if err := s.CancelSwitch(ctx); err != nil {
		t.Fatal(err)
	}
	if strings.Join(d.deleted, ",") != "chunks,chunks-g2" {
		t.Errorf("deleted indexes %v, want the first generation then the cancelled one", d.deleted)
	}
	if live, _, _ := s.LiveModel(ctx); live != "new" {
		t.Errorf("live model after a cancel %q", live)
	}
	if hits, err := s.Search(ctx, []float32{1, 1}, 5, scenedex.Filter{}); err != nil || len(hits) != 2 {
		t.Errorf("search after a cancel: %+v %v", hits, err)
	}
}

// Writers that race on the state record retry from a fresh read; none of
// their changes is lost.
func TestSwitchingStateConflicts(t *testing.T) {
	s, _, store := newSwitching(t)
	ctx := context.Background()
	if err := s.BeginSwitch(ctx, scenedex.ModelSwitch{From: "a", To: "b"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.SwitchQueued(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	sw, err := s.Switch(ctx)
	if err != nil || sw == nil || !sw.Queued || sw.To != "b" {
		t.Fatalf("%+v %v", sw, err)
	}
	if store.puts < 2 {
		t.Errorf("%d writes", store.puts)
	}
}
