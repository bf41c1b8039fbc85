package osindex

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/scenedex/scenedex/internal/osindex/osfake"
	"github.com/scenedex/scenedex/internal/scenedex"
)

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

func newSwitching(t *testing.T) (*Switching, *osfake.Domain, *memStore) {
	d := &osfake.Domain{T: t, Indexes: map[string]*osfake.Index{}}
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
	next := d.Index("chunks-g1")
	if vec := get(next.Mapping, "mappings", "properties", "vector", "dimension"); vec != 2.0 {
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
	if err := s.Upsert(ctx, []scenedex.Doc{withModel(doc3("v3", 0, "ads", 1, 1), "new")}); err != nil || len(next.Docs) != 4 {
		t.Fatalf("upsert after the promotion: %v, %d docs", err, len(next.Docs))
	}
	if len(d.Deleted) != 0 {
		t.Errorf("the replaced index is kept until the next switch: deleted %v", d.Deleted)
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
	if n := len(next.Docs); n != 2 {
		t.Errorf("live docs after deleting v1: %d", n)
	}
	if err := s.CancelSwitch(ctx); err != nil {
		t.Fatal(err)
	}
	if strings.Join(d.Deleted, ",") != "chunks,chunks-g2" {
		t.Errorf("deleted indexes %v, want the first generation then the cancelled one", d.Deleted)
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
