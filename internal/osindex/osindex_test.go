package osindex

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/scenedex/scenedex/internal/osindex/osfake"
	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/words"
)

func newIndex(t *testing.T, f *osfake.Index) *Index {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", "")}
	client, err := Connect(cfg, srv.URL, f.Service)
	if err != nil {
		t.Fatal(err)
	}
	zero := 0
	return &Index{Client: client, Name: "chunks", Dim: 3, Replicas: &zero}
}

// The Faiss inner-product score converts back to the cosine over the whole
// range, as OpenSearch's "Spaces" table defines it.
func TestCosineFromScore(t *testing.T) {
	for _, ip := range []float64{1, 0.75, 0.3, 0.0001, 0, -0.2, -0.5, -1} {
		if got := cosine(osfake.FaissScore(ip)); got < ip-1e-9 || got > ip+1e-9 {
			t.Errorf("ip %v: score %v gives %v", ip, osfake.FaissScore(ip), got)
		}
	}
	// Not normalised on the way in: the index normalises, so scores stay cosines.
	if n := normalized([]float32{3, 4}); n[0] != 0.6 || n[1] != 0.8 {
		t.Errorf("normalized %v", n)
	}
}

func doc3(video string, i int, collection string, v ...float32) scenedex.Doc {
	return scenedex.Doc{Chunk: scenedex.Chunk{VideoID: video, Index: i, Collection: collection, Start: float64(i * 10),
		End: float64(i*10 + 10), ThumbKey: "t", ClipKey: "c"}, Vector: v}
}

func TestManagedDomain(t *testing.T) {
	f := &osfake.Index{T: t, Service: "es", Docs: map[string]map[string]any{}, FailIDs: map[string]bool{"v1:1": true}}
	ix := newIndex(t, f)
	ctx := context.Background()
	ix.Dim = 0 // learnt from the first vector: the index is created before the first bulk
	if err := ix.Upsert(ctx, []scenedex.Doc{doc3("v0", 0, "ads", 0, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	if err := ix.DeleteVideo(ctx, "v0"); err != nil {
		t.Fatal(err)
	}
	vec := f.Mapping["mappings"].(map[string]any)["properties"].(map[string]any)["vector"].(map[string]any)
	method := vec["method"].(map[string]any)
	if vec["type"] != "knn_vector" || vec["dimension"] != 3.0 || method["name"] != "hnsw" || method["space_type"] != "innerproduct" || method["engine"] != "faiss" {
		t.Fatalf("mapping %v", vec)
	}
	if get(f.Mapping, "settings", "index", "number_of_replicas") != 0.0 {
		t.Errorf("a one-node domain's index needs 0 replicas: %v", f.Mapping["settings"])
	}
	if err := ix.EnsureIndex(ctx); err != nil { // exists now: no second create
		t.Fatal(err)
	}
	docs := []scenedex.Doc{doc3("v1", 0, "ads", 1, 0, 0), doc3("v1", 1, "ads", 0, 1, 0), doc3("v2", 0, "talks", 0.9, 0.1, 0)}
	err := ix.Upsert(ctx, docs)
	if scenedex.ErrorCode(err) != scenedex.CodeUnavailable || !strings.Contains(err.Error(), "v1:1 (es_rejected_execution_exception") {
		t.Fatalf("bulk item failure not reported: %v", err)
	}
	// The retry (as a redelivered message would) overwrites by _id: still 3 documents.
	if err := ix.Upsert(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if len(f.Docs) != 3 {
		t.Fatalf("%d documents after retry, want 3", len(f.Docs))
	}
	hits, err := ix.Search(ctx, []float32{1, 0, 0}, 2, scenedex.Filter{Collection: "ads", ExcludeID: "v1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 1 || hits[0].VideoID != "v1" || hits[0].Chunk != 1 || hits[0].Score > 0.01 {
		t.Fatalf("hits %+v", hits)
	}
	q := f.Searches[0]["query"].(map[string]any)["knn"].(map[string]any)["vector"].(map[string]any)
	if q["filter"].(map[string]any)["bool"].(map[string]any)["must_not"] == nil {
		t.Errorf("exclusion not sent as a filter: %v", q)
	}
	hits, _ = ix.Search(ctx, []float32{1, 0, 0}, 5, scenedex.Filter{})
	if len(hits) != 3 || hits[0].VideoID != "v1" || hits[0].Score < 0.999 {
		t.Fatalf("unfiltered hits %+v", hits)
	}
	d, err := ix.Get(ctx, "v2:0")
	if err != nil || d.Collection != "talks" || len(d.Vector) != 3 {
		t.Fatalf("get: %+v %v", d, err)
	}
	if _, err := ix.Get(ctx, "v9:0"); scenedex.ErrorCode(err) != scenedex.CodeNotFound {
		t.Fatalf("get unknown: %v", err)
	}
	if err := ix.DeleteVideo(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	if len(f.Docs) != 1 {
		t.Fatalf("after delete %d docs", len(f.Docs))
	}
	if err := ix.Upsert(ctx, []scenedex.Doc{doc3("v3", 0, "x", 1, 2)}); scenedex.ErrorCode(err) != scenedex.CodeInvalid {
		t.Fatalf("wrong dimension: %v", err)
	}
}

func get(v any, path ...string) any {
	for _, k := range path {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

func TestServerlessCollection(t *testing.T) {
	f := &osfake.Index{T: t, Service: "aoss", Docs: map[string]map[string]any{}, Serverless: true}
	ix := newIndex(t, f)
	ix.Serverless = true
	ctx := context.Background()
	docs := []scenedex.Doc{doc3("v1", 0, "ads", 1, 0, 0), doc3("v1", 1, "ads", 0, 1, 0), doc3("v2", 0, "ads", 0.9, 0.1, 0)}
	for range 2 { // a redelivery: the chunks are replaced, not added again
		if err := ix.Upsert(ctx, docs); err != nil {
			t.Fatal(err)
		}
	}
	if _, set := get(f.Mapping, "settings", "index").(map[string]any)["number_of_replicas"]; set {
		t.Errorf("replicas set on Serverless: %v", f.Mapping["settings"])
	}
	if len(f.Docs) != 3 {
		t.Fatalf("%d documents after a repeated upsert, want 3", len(f.Docs))
	}
	d, err := ix.Get(ctx, "v1:1")
	if err != nil || d.Index != 1 || len(d.Vector) != 3 {
		t.Fatalf("get: %+v %v", d, err)
	}
	if _, err := ix.Get(ctx, "v9:0"); scenedex.ErrorCode(err) != scenedex.CodeNotFound {
		t.Fatalf("get unknown: %v", err)
	}
	// Even if a race left two copies of a chunk, search shows it once.
	f.Docs["dup"] = f.Docs[firstID(f, "v1:0")]
	hits, err := ix.Search(ctx, []float32{1, 0, 0}, 3, scenedex.Filter{})
	if err != nil || len(hits) != 3 || hits[0].VideoID != "v1" || hits[0].Chunk != 0 || hits[1].VideoID != "v2" {
		t.Fatalf("hits %+v %v", hits, err)
	}
	if err := ix.DeleteVideo(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	if len(f.Docs) != 1 {
		t.Fatalf("after delete %d docs", len(f.Docs))
	}
}

func firstID(f *osfake.Index, chunkID string) string {
	for id, src := range f.Docs {
		if src["chunk_id"] == chunkID {
			return id
		}
	}
	return ""
}

func wordsDoc(video string, i int, collection string, lines ...string) scenedex.Doc {
	d := doc3(video, i, collection, 1, 0, 0)
	d.Filename = "promo.mp4"
	for _, l := range lines {
		d.Lines = append(d.Lines, scenedex.TextLine{Text: l, Confidence: 0.9, T: float64(i * 10)})
	}
	return d
}

// Words search on both kinds of OpenSearch: the mapping has the text fields,
// docs carry their lines, queries are BM25 bool queries, duplicates dropped.
func TestSearchWords(t *testing.T) {
	for _, serverless := range []bool{false, true} {
		service := map[bool]string{false: "es", true: "aoss"}[serverless]
		f := &osfake.Index{T: t, Service: service, Docs: map[string]map[string]any{}, Serverless: serverless}
		ix := newIndex(t, f)
		ix.Serverless = serverless
		ctx := context.Background()
		docs := []scenedex.Doc{
			wordsDoc("v1", 0, "ads", "SUMMER SALE", "Summer fun"),
			wordsDoc("v1", 1, "ads", "sale ends soon"),
			wordsDoc("v2", 0, "talks", "summer school"),
		}
		if err := ix.Upsert(ctx, docs); err != nil {
			t.Fatal(err)
		}
		props := get(f.Mapping, "mappings", "properties").(map[string]any)
		if get(props, "screen", "type") != "text" || get(props, "lines", "enabled") != false {
			t.Fatalf("%s mapping %v", service, props)
		}
		search := func(q string, fl scenedex.Filter) []scenedex.WordHit {
			hits, err := ix.SearchWords(ctx, words.Parse(q), 5, fl)
			if err != nil {
				t.Fatal(err)
			}
			return hits
		}
		if h := search("summer sale", scenedex.Filter{}); len(h) != 3 || h[0].Chunk != 0 || h[0].VideoID != "v1" ||
			len(h[0].Lines) != 2 || h[0].Lines[0].Text != "SUMMER SALE" {
			t.Errorf("%s: %+v", service, h)
		}
		if h := search(`"sale ends"`, scenedex.Filter{}); len(h) != 1 || h[0].Chunk != 1 {
			t.Errorf("%s phrase: %+v", service, h)
		}
		if h := search("sale", scenedex.Filter{Collection: "talks"}); len(h) != 0 {
			t.Errorf("%s filter: %+v", service, h)
		}
		if h := search("promo", scenedex.Filter{}); len(h) != 3 {
			t.Errorf("%s filename words: %+v", service, h)
		}
		// Serverless: a second delivery of a chunk that raced the first
		// leaves two docs with one chunk_id; the hit shows once.
		if serverless {
			f.Docs["dup"] = f.Docs[firstID(f, "v1:1")]
			if h := search("ends", scenedex.Filter{}); len(h) != 1 {
				t.Errorf("duplicates shown: %+v", h)
			}
		}
		// The lines survive Get, for reindex and --like.
		d, err := ix.Get(ctx, "v1:0")
		if err != nil || len(d.Lines) != 2 {
			t.Errorf("%s get: %+v %v", service, d, err)
		}
	}
}

// The hybrid query on OpenSearch: the pipeline is created once, hits carry
// which sub-query matched, filters apply, and a cluster without the
// normalization processor is reported as unsupported (asked once).
func TestSearchHybrid(t *testing.T) {
	f := &osfake.Index{T: t, Service: "es", Docs: map[string]map[string]any{}}
	ix := newIndex(t, f)
	ctx := context.Background()
	docs := []scenedex.Doc{
		wordsDoc("v1", 0, "ads", "SUMMER SALE"), // words only: its picture is far
		wordsDoc("v1", 1, "ads", "nothing"),     // picture only
		wordsDoc("v1", 2, "ads", "summer"),      // both
		wordsDoc("v1", 3, "ads", "nothing"),     // third nearest picture: normalised to 0
		wordsDoc("v2", 0, "talks", "summer"),    // another collection
	}
	docs[0].Vector = []float32{0, 0, 1}
	docs[1].Vector = []float32{1, 0, 0}
	docs[2].Vector = []float32{0.9, 0.1, 0}
	docs[3].Vector = []float32{0.5, 0.5, 0}
	if err := ix.Upsert(ctx, docs); err != nil {
		t.Fatal(err)
	}
	var hits []scenedex.WordHit
	for range 2 {
		var err error
		if hits, err = ix.SearchHybrid(ctx, words.Parse("summer sale"), []float32{1, 0, 0}, 3, scenedex.Filter{Collection: "ads"}); err != nil {
			t.Fatal(err)
		}
	}
	if f.PipelinePuts != 1 || get(f.Pipeline["phase_results_processors"].([]any)[0], "normalization-processor", "normalization", "technique") != "min_max" {
		t.Fatalf("pipeline put %d times: %v", f.PipelinePuts, f.Pipeline)
	}
	byChunk := map[int]string{}
	for _, h := range hits {
		if h.Collection != "ads" {
			t.Errorf("filter ignored: %+v", h)
		}
		byChunk[h.Chunk] = fmt.Sprint(h.Matched)
	}
	want := map[int]string{0: "[words]", 1: "[picture]", 2: "[words picture]"}
	if len(hits) != 3 || fmt.Sprint(byChunk) != fmt.Sprint(want) {
		t.Fatalf("matched %v, want %v", byChunk, want)
	}
	if hits[2].Chunk != 2 || len(hits[2].Lines) != 1 {
		t.Errorf("hits in normalised order, lines kept: %+v", hits)
	}

	refused := &osfake.Index{T: t, Service: "aoss", Docs: map[string]map[string]any{}, Serverless: true, RefusePipeline: true}
	rix := newIndex(t, refused)
	rix.Serverless = true
	for range 2 {
		if _, err := rix.SearchHybrid(ctx, words.Parse("x"), []float32{1, 0, 0}, 3, scenedex.Filter{}); scenedex.ErrorCode(err) != scenedex.CodeUnsupported {
			t.Fatalf("refused pipeline: %v", err)
		}
	}
	if refused.PipelinePuts != 1 {
		t.Errorf("asked %d times", refused.PipelinePuts)
	}
}

// A Serverless collection that refuses a named engine gets the index
// without one; the method and space stay scenedex's.
func TestServerlessRefusingANamedEngine(t *testing.T) {
	f := &osfake.Index{T: t, Service: "aoss", Docs: map[string]map[string]any{}, Serverless: true, RefuseEngine: true}
	ix := newIndex(t, f)
	ix.Serverless = true
	if err := ix.Upsert(context.Background(), []scenedex.Doc{doc3("v1", 0, "ads", 1, 0, 0)}); err != nil {
		t.Fatal(err)
	}
	method := get(f.Mapping, "mappings", "properties", "vector", "method").(map[string]any)
	if _, named := method["engine"]; named || method["space_type"] != "innerproduct" || method["name"] != "hnsw" {
		t.Fatalf("method %v", method)
	}
}

// Serverless shows deleted documents until it refreshes: a delete waits for
// that instead of deleting the same documents again and again.
func TestServerlessDeleteWaitsForRefresh(t *testing.T) {
	f := &osfake.Index{T: t, Service: "aoss", Docs: map[string]map[string]any{}, Serverless: true}
	ix := newIndex(t, f)
	ix.Serverless, ix.RefreshWait = true, time.Millisecond
	ctx := context.Background()
	if err := ix.Upsert(ctx, []scenedex.Doc{doc3("v1", 0, "ads", 1, 0, 0), doc3("v1", 1, "ads", 0, 1, 0), doc3("v2", 0, "ads", 0, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	f.StaleReads = 4
	if err := ix.DeleteVideo(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	if f.BulkDeletes != 2 || len(f.Docs) != 1 || f.StaleReads > 0 {
		t.Fatalf("%d deletes sent (want each document once), %d documents left, %d stale reads never made", f.BulkDeletes, len(f.Docs), f.StaleReads)
	}
}
