package osindex

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/words"
)

// fakeOpenSearch stands in for an OpenSearch domain: it checks the requests
// against the documented REST API (index creation with a knn_vector mapping,
// NDJSON bulk with _id, k-NN queries) and keeps documents in memory so the
// index's behaviour (overwrite by _id, filters) is observable. Requests must be
// SigV4-signed for the service.
type fakeOpenSearch struct {
	t        *testing.T
	service  string
	mu       sync.Mutex
	exists   bool
	mapping  map[string]any
	docs     map[string]map[string]any // _id -> source
	failIDs  map[string]bool           // bulk items to reject once
	searches []map[string]any
	// serverless plays an OpenSearch Serverless vector collection: custom
	// document ids are refused, ids are assigned, no _delete_by_query.
	serverless bool
	nextID     int
	// hybrid plays the neural-search plugin: the pipeline scenedex puts, and
	// hybrid queries through it. refusePipeline answers its PUT with 400.
	pipeline       map[string]any
	pipelinePuts   int
	refusePipeline bool
	// refuseEngine plays a collection that picks the k-NN engine itself.
	refuseEngine bool
	// staleReads plays Serverless's refresh lag: deleted documents still
	// match the next staleReads searches.
	staleReads  int
	ghosts      map[string]map[string]any
	bulkDeletes int
}

func (f *fakeOpenSearch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	if !strings.Contains(auth, "/"+f.service+"/aws4_request") {
		f.t.Errorf("%s %s not signed for %s: %q", r.Method, r.URL.Path, f.service, auth)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	switch {
	case r.Method == http.MethodHead && r.URL.Path == "/chunks":
		if f.exists {
			w.WriteHeader(200)
		} else {
			w.WriteHeader(404)
		}
	case r.Method == http.MethodPut && r.URL.Path == "/chunks" && f.refuseEngine && strings.Contains(string(body), `"engine"`):
		reply(400, map[string]any{"error": map[string]any{"type": "mapper_parsing_exception",
			"reason": "Failed to parse mapping [_doc]: engine is not configurable for this collection"}, "status": 400})
	case r.Method == http.MethodPut && r.URL.Path == "/chunks":
		json.Unmarshal(body, &f.mapping)
		f.exists = true
		reply(200, map[string]any{"acknowledged": true, "index": "chunks"})
	case r.Method == http.MethodPost && r.URL.Path == "/_bulk":
		var items []any
		errors := false
		sc := bufio.NewScanner(strings.NewReader(string(body)))
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			var action map[string]map[string]any
			json.Unmarshal(sc.Bytes(), &action)
			if del := action["delete"]; del != nil {
				id, _ := del["_id"].(string)
				f.bulkDeletes++
				status := 404
				if src, ok := f.docs[id]; ok {
					if f.staleReads > 0 {
						if f.ghosts == nil {
							f.ghosts = map[string]map[string]any{}
						}
						f.ghosts[id] = src
					}
					delete(f.docs, id)
					status = 200
				}
				items = append(items, map[string]any{"delete": map[string]any{"_index": "chunks", "_id": id, "status": status}})
				continue
			}
			meta := action["index"]
			if meta == nil || meta["_index"] != "chunks" {
				f.t.Errorf("bulk action %s", sc.Text())
				continue
			}
			sc.Scan()
			var src map[string]any
			json.Unmarshal(sc.Bytes(), &src)
			id, _ := meta["_id"].(string)
			if f.serverless {
				if id != "" {
					errors = true
					items = append(items, map[string]any{"index": map[string]any{"_index": "chunks", "status": 400,
						"error": map[string]any{"type": "illegal_argument_exception", "reason": "Document ID is not supported in create/index operation request"}}})
					continue
				}
				f.nextID++
				id = fmt.Sprintf("auto-%d", f.nextID)
			} else if id == "" || id != src["chunk_id"] {
				f.t.Errorf("bulk _id %q does not match chunk_id %v", id, src["chunk_id"])
			}
			if f.failIDs[id] {
				delete(f.failIDs, id)
				errors = true
				items = append(items, map[string]any{"index": map[string]any{"_index": "chunks", "_id": id, "status": 429,
					"error": map[string]any{"type": "es_rejected_execution_exception", "reason": "rejected execution"}}})
				continue
			}
			result := "created"
			if _, ok := f.docs[id]; ok {
				result = "updated"
			}
			f.docs[id] = src
			items = append(items, map[string]any{"index": map[string]any{"_index": "chunks", "_id": id, "status": 201, "result": result}})
		}
		reply(200, map[string]any{"took": 3, "errors": errors, "items": items})
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/chunks/_doc/"):
		id := strings.TrimPrefix(r.URL.Path, "/chunks/_doc/")
		if src, ok := f.docs[id]; ok {
			reply(200, map[string]any{"_index": "chunks", "_id": id, "found": true, "_source": src})
		} else {
			reply(404, map[string]any{"_index": "chunks", "_id": id, "found": false})
		}
	case r.Method == http.MethodPut && r.URL.Path == "/_search/pipeline/scenedex-hybrid":
		f.pipelinePuts++
		if f.refusePipeline {
			reply(400, map[string]any{"error": map[string]any{"type": "illegal_argument_exception", "reason": "Invalid processor type normalization-processor"}})
			return
		}
		json.Unmarshal(body, &f.pipeline)
		reply(200, map[string]any{"acknowledged": true})
	case r.Method == http.MethodPost && r.URL.Path == "/chunks/_search" && r.URL.Query().Get("search_pipeline") != "":
		var q map[string]any
		json.Unmarshal(body, &q)
		if r.URL.Query().Get("search_pipeline") != "scenedex-hybrid" || f.pipeline == nil {
			reply(404, map[string]any{"error": map[string]any{"type": "resource_not_found_exception", "reason": "pipeline not found"}})
			return
		}
		reply(200, map[string]any{"took": 1, "hits": map[string]any{"hits": f.hybridSearch(q)}})
	case r.Method == http.MethodPost && r.URL.Path == "/chunks/_search":
		var q map[string]any
		json.Unmarshal(body, &q)
		f.searches = append(f.searches, q)
		if term, ok := get(q, "query", "term", "chunk_id").(string); ok { // lookups by chunk id
			var hits []any
			for id, src := range f.docs {
				if src["chunk_id"] == term {
					h := map[string]any{"_index": "chunks", "_id": id, "_score": 1.0}
					if q["_source"] != false {
						h["_source"] = src
					}
					hits = append(hits, h)
				}
			}
			reply(200, map[string]any{"took": 1, "hits": map[string]any{"hits": hits}})
			return
		}
		if video, ok := get(q, "query", "term", "video_id").(string); ok {
			var hits []any
			for id, src := range f.docs {
				if src["video_id"] == video {
					hits = append(hits, map[string]any{"_index": "chunks", "_id": id, "_score": 1.0})
				}
			}
			if len(f.ghosts) > 0 {
				for id, src := range f.ghosts {
					if src["video_id"] == video {
						hits = append(hits, map[string]any{"_index": "chunks", "_id": id, "_score": 1.0})
					}
				}
				if f.staleReads--; f.staleReads <= 0 {
					f.ghosts = nil
				}
			}
			reply(200, map[string]any{"took": 1, "hits": map[string]any{"hits": hits}})
			return
		}
		if b, ok := get(q, "query", "bool").(map[string]any); ok { // words: BM25 over screen and meta_words
			reply(200, map[string]any{"took": 1, "hits": map[string]any{"hits": f.wordsSearch(b)}})
			return
		}
		// Score every doc as Faiss scores the inner product (see faissScore).
		knn, _ := q["query"].(map[string]any)["knn"].(map[string]any)["vector"].(map[string]any)
		vec := knn["vector"].([]any)
		var hits []any
		for id, src := range f.docs {
			if c, ok := filterCollection(knn); ok && src["collection"] != c {
				continue
			}
			var dot float64
			for i, x := range src["vector"].([]any) {
				dot += x.(float64) * vec[i].(float64)
			}
			hits = append(hits, map[string]any{"_index": "chunks", "_id": id, "_score": faissScore(dot), "_source": src})
		}
		sortHits(hits)
		reply(200, map[string]any{"took": 1, "hits": map[string]any{"total": map[string]any{"value": len(hits)}, "hits": hits}})
	case r.Method == http.MethodPost && r.URL.Path == "/chunks/_delete_by_query" && f.serverless:
		reply(404, map[string]any{"error": map[string]any{"type": "unsupported_operation", "reason": "not supported by OpenSearch Serverless"}})
	case r.Method == http.MethodPost && r.URL.Path == "/chunks/_delete_by_query":
		var q map[string]any
		json.Unmarshal(body, &q)
		video := q["query"].(map[string]any)["term"].(map[string]any)["video_id"]
		n := 0
		for id, src := range f.docs {
			if src["video_id"] == video {
				delete(f.docs, id)
				n++
			}
		}
		reply(200, map[string]any{"took": 2, "deleted": n, "failures": []any{}})
	default:
		f.t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
		reply(400, map[string]any{"error": "unexpected"})
	}
}

// wordsSearch plays a bool query of multi_match clauses over the fields
// scenedex sends (checked), scoring by how often the terms occur: enough to
// observe ranking, phrases, filters and the lines returned.
func (f *fakeOpenSearch) wordsSearch(b map[string]any) []any {
	clause := func(c any) (query string, phrase bool) {
		mm, ok := c.(map[string]any)["multi_match"].(map[string]any)
		if !ok || fmt.Sprint(mm["fields"]) != "[screen^1 meta_words^0.4]" {
			f.t.Errorf("words clause %v", c)
			return "", false
		}
		return mm["query"].(string), mm["type"] == "phrase"
	}
	var hits []any
	for id, src := range f.docs {
		if c, ok := filterCollection(map[string]any{"filter": map[string]any{"bool": b}}); ok && src["collection"] != c {
			continue
		}
		text := fmt.Sprintf(" %v \n %v ", src["screen"], src["meta_words"])
		text = strings.ReplaceAll(strings.ReplaceAll(text, "\n", " "), "<nil>", "")
		score, ok := 0.0, true
		for _, c := range asSlice(b["must"]) {
			q, phrase := clause(c)
			if !phrase || !strings.Contains(text, " "+q+" ") {
				ok = false
			}
			score++
		}
		for _, c := range asSlice(b["should"]) {
			q, _ := clause(c)
			for _, w := range strings.Fields(q) {
				score += float64(strings.Count(text, " "+w+" "))
			}
		}
		if ok && score > 0 {
			hits = append(hits, map[string]any{"_index": "chunks", "_id": id, "_score": score, "_source": src})
		}
	}
	sortHits(hits)
	return hits
}

// hybridSearch plays a hybrid query through the normalization processor:
// each named sub-query scored on its own (words as wordsSearch does, the
// k-NN by Faiss's inner-product score), min-max normalised, averaged; every hit
// lists the sub-queries that matched it.
func (f *fakeOpenSearch) hybridSearch(q map[string]any) []any {
	subs := asSlice(get(q, "query", "hybrid", "queries"))
	if len(subs) != 2 {
		f.t.Errorf("hybrid queries %v", q)
		return nil
	}
	wordsQ, _ := get(subs[0], "bool").(map[string]any)
	picQ, _ := get(subs[1], "bool").(map[string]any)
	if wordsQ["_name"] != "words" || picQ["_name"] != "picture" {
		f.t.Errorf("sub-queries not named: %v", subs)
	}
	knn, _ := get(asSlice(picQ["must"])[0], "knn", "vector").(map[string]any)
	scores := map[string][2]float64{}
	matched := map[string][]any{}
	norm := func(hits []any, slot int, name string) {
		lo, hi := 1e9, -1e9
		for _, h := range hits {
			s := h.(map[string]any)["_score"].(float64)
			lo, hi = min(lo, s), max(hi, s)
		}
		for _, h := range hits {
			hm := h.(map[string]any)
			id := hm["_id"].(string)
			v := scores[id]
			v[slot] = 1
			if hi > lo {
				v[slot] = (hm["_score"].(float64) - lo) / (hi - lo)
			}
			scores[id] = v
			matched[id] = append(matched[id], name)
		}
	}
	norm(f.wordsSearch(wordsQ), 0, "words")
	var pics []any
	for id, src := range f.docs {
		if c, ok := filterCollection(knn); ok && src["collection"] != c {
			continue
		}
		var dot float64
		for i, x := range src["vector"].([]any) {
			dot += x.(float64) * knn["vector"].([]any)[i].(float64)
		}
		pics = append(pics, map[string]any{"_id": id, "_score": faissScore(dot)})
	}
	sortHits(pics)
	if k := int(knn["k"].(float64)); len(pics) > k {
		pics = pics[:k]
	}
	norm(pics, 1, "picture")
	var hits []any
	for id, v := range scores {
		hits = append(hits, map[string]any{"_index": "chunks", "_id": id, "_score": (v[0] + v[1]) / 2,
			"_source": f.docs[id], "matched_queries": matched[id]})
	}
	sortHits(hits)
	return hits
}

// faissScore is OpenSearch's score of an inner product ip for Faiss (its
// documented "Spaces" table: d = -ip; d >= 0 -> 1/(1+d), d < 0 -> -d + 1).
func faissScore(ip float64) float64 {
	if d := -ip; d >= 0 {
		return 1 / (1 + d)
	}
	return ip + 1
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

func filterCollection(knn map[string]any) (string, bool) {
	f, _ := knn["filter"].(map[string]any)
	b, _ := f["bool"].(map[string]any)
	fs, _ := b["filter"].([]any)
	for _, x := range fs {
		if t, ok := x.(map[string]any)["term"].(map[string]any); ok {
			if c, ok := t["collection"].(string); ok {
				return c, true
			}
		}
	}
	return "", false
}

func sortHits(h []any) {
	score := func(i int) float64 { return h[i].(map[string]any)["_score"].(float64) }
	for i := range h {
		for j := i + 1; j < len(h); j++ {
			if score(j) > score(i) {
				h[i], h[j] = h[j], h[i]
			}
		}
	}
}

func newIndex(t *testing.T, f *fakeOpenSearch) *Index {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", "")}
	client, err := Connect(cfg, srv.URL, f.service)
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
		if got := cosine(faissScore(ip)); got < ip-1e-9 || got > ip+1e-9 {
			t.Errorf("ip %v: score %v gives %v", ip, faissScore(ip), got)
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
	f := &fakeOpenSearch{t: t, service: "es", docs: map[string]map[string]any{}, failIDs: map[string]bool{"v1:1": true}}
	ix := newIndex(t, f)
	ctx := context.Background()
	ix.Dim = 0 // learnt from the first vector: the index is created before the first bulk
	if err := ix.Upsert(ctx, []scenedex.Doc{doc3("v0", 0, "ads", 0, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	if err := ix.DeleteVideo(ctx, "v0"); err != nil {
		t.Fatal(err)
	}
	vec := f.mapping["mappings"].(map[string]any)["properties"].(map[string]any)["vector"].(map[string]any)
	method := vec["method"].(map[string]any)
	if vec["type"] != "knn_vector" || vec["dimension"] != 3.0 || method["name"] != "hnsw" || method["space_type"] != "innerproduct" || method["engine"] != "faiss" {
		t.Fatalf("mapping %v", vec)
	}
	if get(f.mapping, "settings", "index", "number_of_replicas") != 0.0 {
		t.Errorf("a one-node domain's index needs 0 replicas: %v", f.mapping["settings"])
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
	if len(f.docs) != 3 {
		t.Fatalf("%d documents after retry, want 3", len(f.docs))
	}
	hits, err := ix.Search(ctx, []float32{1, 0, 0}, 2, scenedex.Filter{Collection: "ads", ExcludeID: "v1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 1 || hits[0].VideoID != "v1" || hits[0].Chunk != 1 || hits[0].Score > 0.01 {
		t.Fatalf("hits %+v", hits)
	}
	q := f.searches[0]["query"].(map[string]any)["knn"].(map[string]any)["vector"].(map[string]any)
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
	if len(f.docs) != 1 {
		t.Fatalf("after delete %d docs", len(f.docs))
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
	f := &fakeOpenSearch{t: t, service: "aoss", docs: map[string]map[string]any{}, serverless: true}
	ix := newIndex(t, f)
	ix.Serverless = true
	ctx := context.Background()
	docs := []scenedex.Doc{doc3("v1", 0, "ads", 1, 0, 0), doc3("v1", 1, "ads", 0, 1, 0), doc3("v2", 0, "ads", 0.9, 0.1, 0)}
	for range 2 { // a redelivery: the chunks are replaced, not added again
		if err := ix.Upsert(ctx, docs); err != nil {
			t.Fatal(err)
		}
	}
	if _, set := get(f.mapping, "settings", "index").(map[string]any)["number_of_replicas"]; set {
		t.Errorf("replicas set on Serverless: %v", f.mapping["settings"])
	}
	if len(f.docs) != 3 {
		t.Fatalf("%d documents after a repeated upsert, want 3", len(f.docs))
	}
	d, err := ix.Get(ctx, "v1:1")
	if err != nil || d.Index != 1 || len(d.Vector) != 3 {
		t.Fatalf("get: %+v %v", d, err)
	}
	if _, err := ix.Get(ctx, "v9:0"); scenedex.ErrorCode(err) != scenedex.CodeNotFound {
		t.Fatalf("get unknown: %v", err)
	}
	// Even if a race left two copies of a chunk, search shows it once.
	f.docs["dup"] = f.docs[firstID(f, "v1:0")]
	hits, err := ix.Search(ctx, []float32{1, 0, 0}, 3, scenedex.Filter{})
	if err != nil || len(hits) != 3 || hits[0].VideoID != "v1" || hits[0].Chunk != 0 || hits[1].VideoID != "v2" {
		t.Fatalf("hits %+v %v", hits, err)
	}
	if err := ix.DeleteVideo(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	if len(f.docs) != 1 {
		t.Fatalf("after delete %d docs", len(f.docs))
	}
}

func firstID(f *fakeOpenSearch, chunkID string) string {
	for id, src := range f.docs {
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
		f := &fakeOpenSearch{t: t, service: service, docs: map[string]map[string]any{}, serverless: serverless}
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
		props := get(f.mapping, "mappings", "properties").(map[string]any)
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
			f.docs["dup"] = f.docs[firstID(f, "v1:1")]
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
	f := &fakeOpenSearch{t: t, service: "es", docs: map[string]map[string]any{}}
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
	if f.pipelinePuts != 1 || get(asSlice(f.pipeline["phase_results_processors"])[0], "normalization-processor", "normalization", "technique") != "min_max" {
		t.Fatalf("pipeline put %d times: %v", f.pipelinePuts, f.pipeline)
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

	refused := &fakeOpenSearch{t: t, service: "aoss", docs: map[string]map[string]any{}, serverless: true, refusePipeline: true}
	rix := newIndex(t, refused)
	rix.Serverless = true
	for range 2 {
		if _, err := rix.SearchHybrid(ctx, words.Parse("x"), []float32{1, 0, 0}, 3, scenedex.Filter{}); scenedex.ErrorCode(err) != scenedex.CodeUnsupported {
			t.Fatalf("refused pipeline: %v", err)
		}
	}
	if refused.pipelinePuts != 1 {
		t.Errorf("asked %d times", refused.pipelinePuts)
	}
}

// A Serverless collection that refuses a named engine gets the index
// without one; the method and space stay scenedex's.
func TestServerlessRefusingANamedEngine(t *testing.T) {
	f := &fakeOpenSearch{t: t, service: "aoss", docs: map[string]map[string]any{}, serverless: true, refuseEngine: true}
	ix := newIndex(t, f)
	ix.Serverless = true
	if err := ix.Upsert(context.Background(), []scenedex.Doc{doc3("v1", 0, "ads", 1, 0, 0)}); err != nil {
		t.Fatal(err)
	}
	method := get(f.mapping, "mappings", "properties", "vector", "method").(map[string]any)
	if _, named := method["engine"]; named || method["space_type"] != "innerproduct" || method["name"] != "hnsw" {
		t.Fatalf("method %v", method)
	}
}

// Serverless shows deleted documents until it refreshes: a delete waits for
// that instead of deleting the same documents again and again.
func TestServerlessDeleteWaitsForRefresh(t *testing.T) {
	f := &fakeOpenSearch{t: t, service: "aoss", docs: map[string]map[string]any{}, serverless: true}
	ix := newIndex(t, f)
	ix.Serverless, ix.RefreshWait = true, time.Millisecond
	ctx := context.Background()
	if err := ix.Upsert(ctx, []scenedex.Doc{doc3("v1", 0, "ads", 1, 0, 0), doc3("v1", 1, "ads", 0, 1, 0), doc3("v2", 0, "ads", 0, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	f.staleReads = 4
	if err := ix.DeleteVideo(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	if f.bulkDeletes != 2 || len(f.docs) != 1 || f.staleReads > 0 {
		t.Fatalf("%d deletes sent (want each document once), %d documents left, %d stale reads never made", f.bulkDeletes, len(f.docs), f.staleReads)
	}
}
