// Package osfake is for tests only: stand-ins for an OpenSearch domain
// (moved out of package osindex's tests so other harnesses can use them).
// Index plays one index named "chunks" as the documented REST API gives it;
// Domain holds several indexes by name and routes requests to them.
package osfake

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// field walks a decoded JSON object: field(v, "query", "term").
func field(v any, path ...string) any {
	for _, k := range path {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

// Index stands in for an OpenSearch domain: it checks the requests
// against the documented REST API (index creation with a knn_vector mapping,
// NDJSON bulk with _id, k-NN queries) and keeps documents in memory so the
// index's behaviour (overwrite by _id, filters) is observable. Requests must be
// SigV4-signed for the service.
type Index struct {
	T        *testing.T
	Service  string
	mu       sync.Mutex
	Exists   bool
	Mapping  map[string]any
	Docs     map[string]map[string]any // _id -> source
	FailIDs  map[string]bool           // bulk items to reject once
	Searches []map[string]any
	// serverless plays an OpenSearch Serverless vector collection: custom
	// document ids are refused, ids are assigned, no _delete_by_query.
	Serverless bool
	nextID     int
	// hybrid plays the neural-search plugin: the pipeline scenedex puts, and
	// hybrid queries through it. refusePipeline answers its PUT with 400.
	Pipeline       map[string]any
	PipelinePuts   int
	RefusePipeline bool
	// refuseEngine plays a collection that picks the k-NN engine itself.
	RefuseEngine bool
	// staleReads plays Serverless's refresh lag: deleted documents still
	// match the next staleReads searches.
	StaleReads  int
	ghosts      map[string]map[string]any
	BulkDeletes int
}

func (f *Index) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	if !strings.Contains(auth, "/"+f.Service+"/aws4_request") {
		f.T.Errorf("%s %s not signed for %s: %q", r.Method, r.URL.Path, f.Service, auth)
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
		if f.Exists {
			w.WriteHeader(200)
		} else {
			w.WriteHeader(404)
		}
	case r.Method == http.MethodPut && r.URL.Path == "/chunks" && f.RefuseEngine && strings.Contains(string(body), `"engine"`):
		reply(400, map[string]any{"error": map[string]any{"type": "mapper_parsing_exception",
			"reason": "Failed to parse mapping [_doc]: engine is not configurable for this collection"}, "status": 400})
	case r.Method == http.MethodPut && r.URL.Path == "/chunks":
		json.Unmarshal(body, &f.Mapping)
		f.Exists = true
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
				f.BulkDeletes++
				status := 404
				if src, ok := f.Docs[id]; ok {
					if f.StaleReads > 0 {
						if f.ghosts == nil {
							f.ghosts = map[string]map[string]any{}
						}
						f.ghosts[id] = src
					}
					delete(f.Docs, id)
					status = 200
				}
				items = append(items, map[string]any{"delete": map[string]any{"_index": "chunks", "_id": id, "status": status}})
				continue
			}
			meta := action["index"]
			if meta == nil || meta["_index"] != "chunks" {
				f.T.Errorf("bulk action %s", sc.Text())
				continue
			}
			sc.Scan()
			var src map[string]any
			json.Unmarshal(sc.Bytes(), &src)
			id, _ := meta["_id"].(string)
			if f.Serverless {
				if id != "" {
					errors = true
					items = append(items, map[string]any{"index": map[string]any{"_index": "chunks", "status": 400,
						"error": map[string]any{"type": "illegal_argument_exception", "reason": "Document ID is not supported in create/index operation request"}}})
					continue
				}
				f.nextID++
				id = fmt.Sprintf("auto-%d", f.nextID)
			} else if id == "" || id != src["chunk_id"] {
				f.T.Errorf("bulk _id %q does not match chunk_id %v", id, src["chunk_id"])
			}
			if f.FailIDs[id] {
				delete(f.FailIDs, id)
				errors = true
				items = append(items, map[string]any{"index": map[string]any{"_index": "chunks", "_id": id, "status": 429,
					"error": map[string]any{"type": "es_rejected_execution_exception", "reason": "rejected execution"}}})
				continue
			}
			result := "created"
			if _, ok := f.Docs[id]; ok {
				result = "updated"
			}
			f.Docs[id] = src
			items = append(items, map[string]any{"index": map[string]any{"_index": "chunks", "_id": id, "status": 201, "result": result}})
		}
		reply(200, map[string]any{"took": 3, "errors": errors, "items": items})
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/chunks/_doc/"):
		id := strings.TrimPrefix(r.URL.Path, "/chunks/_doc/")
		if src, ok := f.Docs[id]; ok {
			reply(200, map[string]any{"_index": "chunks", "_id": id, "found": true, "_source": src})
		} else {
			reply(404, map[string]any{"_index": "chunks", "_id": id, "found": false})
		}
	case r.Method == http.MethodPut && r.URL.Path == "/_search/pipeline/scenedex-hybrid":
		f.PipelinePuts++
		if f.RefusePipeline {
			reply(400, map[string]any{"error": map[string]any{"type": "illegal_argument_exception", "reason": "Invalid processor type normalization-processor"}})
			return
		}
		json.Unmarshal(body, &f.Pipeline)
		reply(200, map[string]any{"acknowledged": true})
	case r.Method == http.MethodPost && r.URL.Path == "/chunks/_search" && r.URL.Query().Get("search_pipeline") != "":
		var q map[string]any
		json.Unmarshal(body, &q)
		if r.URL.Query().Get("search_pipeline") != "scenedex-hybrid" || f.Pipeline == nil {
			reply(404, map[string]any{"error": map[string]any{"type": "resource_not_found_exception", "reason": "pipeline not found"}})
			return
		}
		reply(200, map[string]any{"took": 1, "hits": map[string]any{"hits": f.hybridSearch(q)}})
	case r.Method == http.MethodPost && r.URL.Path == "/chunks/_search":
		var q map[string]any
		json.Unmarshal(body, &q)
		f.Searches = append(f.Searches, q)
		if term, ok := field(q, "query", "term", "chunk_id").(string); ok { // lookups by chunk id
			var hits []any
			for id, src := range f.Docs {
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
		if video, ok := field(q, "query", "term", "video_id").(string); ok {
			var hits []any
			for id, src := range f.Docs {
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
				if f.StaleReads--; f.StaleReads <= 0 {
					f.ghosts = nil
				}
			}
			reply(200, map[string]any{"took": 1, "hits": map[string]any{"hits": hits}})
			return
		}
		if b, ok := field(q, "query", "bool").(map[string]any); ok { // words: BM25 over screen and meta_words
			reply(200, map[string]any{"took": 1, "hits": map[string]any{"hits": f.wordsSearch(b)}})
			return
		}
		// Score every doc as Faiss scores the inner product (see faissScore).
		knn, _ := q["query"].(map[string]any)["knn"].(map[string]any)["vector"].(map[string]any)
		vec := knn["vector"].([]any)
		var hits []any
		for id, src := range f.Docs {
			if c, ok := filterCollection(knn); ok && src["collection"] != c {
				continue
			}
			var dot float64
			for i, x := range src["vector"].([]any) {
				dot += x.(float64) * vec[i].(float64)
			}
			hits = append(hits, map[string]any{"_index": "chunks", "_id": id, "_score": FaissScore(dot), "_source": src})
		}
		sortHits(hits)
		reply(200, map[string]any{"took": 1, "hits": map[string]any{"total": map[string]any{"value": len(hits)}, "hits": hits}})
	case r.Method == http.MethodPost && r.URL.Path == "/chunks/_delete_by_query" && f.Serverless:
		reply(404, map[string]any{"error": map[string]any{"type": "unsupported_operation", "reason": "not supported by OpenSearch Serverless"}})
	case r.Method == http.MethodPost && r.URL.Path == "/chunks/_delete_by_query":
		var q map[string]any
		json.Unmarshal(body, &q)
		video := q["query"].(map[string]any)["term"].(map[string]any)["video_id"]
		n := 0
		for id, src := range f.Docs {
			if src["video_id"] == video {
				delete(f.Docs, id)
				n++
			}
		}
		reply(200, map[string]any{"took": 2, "deleted": n, "failures": []any{}})
	default:
		f.T.Errorf("unexpected %s %s", r.Method, r.URL.Path)
		reply(400, map[string]any{"error": "unexpected"})
	}
}

// wordsSearch plays a bool query of multi_match clauses over the fields
// scenedex sends (checked), scoring by how often the terms occur: enough to
// observe ranking, phrases, filters and the lines returned.
func (f *Index) wordsSearch(b map[string]any) []any {
	clause := func(c any) (query string, phrase bool) {
		mm, ok := c.(map[string]any)["multi_match"].(map[string]any)
		if !ok || fmt.Sprint(mm["fields"]) != "[screen^1 meta_words^0.4]" {
			f.T.Errorf("words clause %v", c)
			return "", false
		}
		return mm["query"].(string), mm["type"] == "phrase"
	}
	var hits []any
	for id, src := range f.Docs {
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
func (f *Index) hybridSearch(q map[string]any) []any {
	subs := asSlice(field(q, "query", "hybrid", "queries"))
	if len(subs) != 2 {
		f.T.Errorf("hybrid queries %v", q)
		return nil
	}
	wordsQ, _ := field(subs[0], "bool").(map[string]any)
	picQ, _ := field(subs[1], "bool").(map[string]any)
	if wordsQ["_name"] != "words" || picQ["_name"] != "picture" {
		f.T.Errorf("sub-queries not named: %v", subs)
	}
	knn, _ := field(asSlice(picQ["must"])[0], "knn", "vector").(map[string]any)
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
	for id, src := range f.Docs {
		if c, ok := filterCollection(knn); ok && src["collection"] != c {
			continue
		}
		var dot float64
		for i, x := range src["vector"].([]any) {
			dot += x.(float64) * knn["vector"].([]any)[i].(float64)
		}
		pics = append(pics, map[string]any{"_id": id, "_score": FaissScore(dot)})
	}
	sortHits(pics)
	if k := int(knn["k"].(float64)); len(pics) > k {
		pics = pics[:k]
	}
	norm(pics, 1, "picture")
	var hits []any
	for id, v := range scores {
		hits = append(hits, map[string]any{"_index": "chunks", "_id": id, "_score": (v[0] + v[1]) / 2,
			"_source": f.Docs[id], "matched_queries": matched[id]})
	}
	sortHits(hits)
	return hits
}

// faissScore is OpenSearch's score of an inner product ip for Faiss (its
// documented "Spaces" table: d = -ip; d >= 0 -> 1/(1+d), d < 0 -> -d + 1).
func FaissScore(ip float64) float64 {
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

// Domain stands in for one OpenSearch domain holding several indexes: each
// index is a Index of its own (which speaks for an index named
// "chunks"), requests are routed by the index in their path or, for a bulk,
// in each action; it answers _count and DELETE of an index itself.
type Domain struct {
	T       *testing.T
	mu      sync.Mutex
	Indexes map[string]*Index
	Deleted []string
}

func (d *Domain) Index(name string) *Index {
	d.mu.Lock()
	defer d.mu.Unlock()
	f, ok := d.Indexes[name]
	if !ok {
		f = &Index{T: d.T, Service: "es", Docs: map[string]map[string]any{}}
		d.Indexes[name] = f
	}
	return f
}

func (d *Domain) forward(f *Index, r *http.Request, path string, body []byte) *httptest.ResponseRecorder {
	req := r.Clone(r.Context())
	req.URL.Path, req.Body = path, io.NopCloser(bytes.NewReader(body))
	rec := httptest.NewRecorder()
	f.ServeHTTP(rec, req)
	return rec
}

func (d *Domain) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
			json.Unmarshal(d.forward(d.Index(name), r, "/_bulk", parts[name].Bytes()).Body.Bytes(), &res)
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
	f, exists := d.Indexes[name]
	d.mu.Unlock()
	switch {
	case r.Method == http.MethodDelete && rest == "":
		if !exists || !f.Exists {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":{"type":"index_not_found_exception"},"status":404}`))
			return
		}
		d.mu.Lock()
		delete(d.Indexes, name)
		d.Deleted = append(d.Deleted, name)
		d.mu.Unlock()
		w.Write([]byte(`{"acknowledged":true}`))
	case rest == "_count":
		if !exists || !f.Exists {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":{"type":"index_not_found_exception"},"status":404}`))
			return
		}
		f.mu.Lock()
		n := len(f.Docs)
		f.mu.Unlock()
		fmt.Fprintf(w, `{"count":%d,"_shards":{"total":1,"successful":1,"failed":0}}`, n)
	default:
		path := "/chunks"
		if rest != "" {
			path += "/" + rest
		}
		rec := d.forward(d.Index(name), r, path, body)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}
}
