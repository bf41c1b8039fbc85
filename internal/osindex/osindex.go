// Package osindex is the vector index on OpenSearch k-NN, through
// opensearch-go/v4's typed opensearchapi client, SigV4-signed for a managed
// domain (service "es") or OpenSearch Serverless (service "aoss").
//
// Managed domains store each chunk under its deterministic _id "<video>:<chunk>",
// so a retried bulk overwrites. Serverless vector collections refuse custom
// ids; there the id is a field (chunk_id), an upsert first deletes the docs
// carrying it, and search drops duplicate chunk_ids, so a rare race between two
// deliveries of one chunk can never show the same moment twice.
package osindex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"
	"github.com/opensearch-project/opensearch-go/v4/opensearchtransport"
	"github.com/opensearch-project/opensearch-go/v4/signer"
	"github.com/opensearch-project/opensearch-go/v4/signer/awsv2"

	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/vector"
	"github.com/scenedex/scenedex/internal/words"
)

// Index implements scenedex.Index.
type Index struct {
	Client     *opensearchapi.Client
	Name       string
	Dim        int // 0: taken from the first vector indexed
	Serverless bool
	Replicas   *int // number_of_replicas of a new index (nil: the cluster's default)
	// RefreshWait is the first pause when Serverless still shows deleted
	// documents (default 1 s, doubling).
	RefreshWait time.Duration

	mu      sync.Mutex
	ensured bool
	hybrid  *error // the search pipeline's creation result, once tried
}

var _ scenedex.Index = (*Index)(nil)

// Connect builds a SigV4-signing client for endpoint ("https://...").
// service is "es" for a managed domain, "aoss" for Serverless.
func Connect(cfg aws.Config, endpoint, service string) (*opensearchapi.Client, error) {
	signer, err := awsv2.NewSignerWithService(cfg, service)
	if err != nil {
		return nil, fmt.Errorf("opensearch signer: %w", err)
	}
	return NewClient(endpoint, signer, nil)
}

// NewClient builds a client; signer and transport may be nil (tests).
//
// The client makes only the calls scenedex asks for: no health checks, no
// node discovery, and none of opensearch-go's background polls of
// GET /_nodes/_local/stats (its load shedding across nodes). The functions'
// roles allow the index's paths only, so the domain would refuse that poll,
// and a short-lived Lambda has no use for it.
func NewClient(endpoint string, signer signer.Signer, transport http.RoundTripper) (*opensearchapi.Client, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("opensearch client: endpoint %q: %w", endpoint, err)
	}
	cfg := opensearchtransport.Config{URLs: []*url.URL{u}, Transport: transport, HealthCheckMaxRetries: -1, NodeStatsInterval: -1}
	if signer != nil {
		cfg.Signer = signer
	}
	tp, err := opensearchtransport.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("opensearch client: %w", err)
	}
	return opensearchapi.NewFromClient(&opensearch.Client{Transport: tp}), nil
}

// doc is the stored document.
type doc struct {
	ChunkID    string            `json:"chunk_id"`
	VideoID    string            `json:"video_id"`
	Chunk      int               `json:"chunk"`
	Start      float64           `json:"start"`
	End        float64           `json:"end"`
	Collection string            `json:"collection"`
	Filename   string            `json:"filename"`
	Metadata   map[string]string `json:"metadata,omitempty"`
	ClipKey    string            `json:"clip_key"`
	ThumbKey   string            `json:"thumb_key"`
	FrameKeys  []string          `json:"frame_keys,omitempty"`
	FrameTimes []float64         `json:"frame_times,omitempty"`
	EmbedKeys  []string          `json:"embed_keys,omitempty"`
	Vector     []float32         `json:"vector"`
	// Words: on screen (Screen, from Lines) and of the filename and metadata
	// values (MetaWords), tokenised by package words as the local index is.
	Screen    string              `json:"screen,omitempty"`
	MetaWords string              `json:"meta_words,omitempty"`
	Lines     []scenedex.TextLine `json:"lines,omitempty"`
}

func toDoc(d scenedex.Doc) doc {
	return doc{ChunkID: d.ID(), VideoID: d.VideoID, Chunk: d.Index, Start: d.Start, End: d.End, Collection: d.Collection,
		Filename: d.Filename, Metadata: d.Metadata, ClipKey: d.ClipKey, ThumbKey: d.ThumbKey, FrameKeys: d.FrameKeys,
		FrameTimes: d.FrameTimes, EmbedKeys: d.EmbedKeys, Vector: d.Vector, Screen: words.ScreenText(d.Lines), MetaWords: words.MetaText(d.Chunk),
		Lines: d.Lines}
}

func (d doc) chunk() scenedex.Chunk {
	return scenedex.Chunk{VideoID: d.VideoID, Index: d.Chunk, Start: d.Start, End: d.End, Collection: d.Collection,
		Filename: d.Filename, Metadata: d.Metadata, ClipKey: d.ClipKey, ThumbKey: d.ThumbKey, FrameKeys: d.FrameKeys,
		FrameTimes: d.FrameTimes, EmbedKeys: d.EmbedKeys}
}

func (d doc) toDomain() scenedex.Doc {
	return scenedex.Doc{Chunk: d.chunk(), Vector: d.Vector, Lines: d.Lines}
}

// Mapping is the index body: a knn_vector field and keyword fields for the
// filters, text fields for the words. The vector field is HNSW on the Faiss
// engine, named explicitly (defaults differ between versions), with the
// inner product over L2-normalised vectors — the cosine: OpenSearch
// Serverless refuses the Lucene engine, and Faiss filters during the search
// (efficient filtering) on domains from 2.9 and on Serverless. Replicas is
// set where given (0 on a one-node domain, whose cluster otherwise stays
// yellow); Serverless manages its own.
func (ix *Index) Mapping() map[string]any {
	settings := map[string]any{"knn": true}
	if ix.Replicas != nil && !ix.Serverless {
		settings["number_of_replicas"] = *ix.Replicas
	}
	return map[string]any{
		"settings": map[string]any{"index": settings},
		"mappings": map[string]any{
			"dynamic_templates": []any{map[string]any{"metadata_as_keywords": map[string]any{
				"path_match": "metadata.*", "mapping": map[string]any{"type": "keyword"}}}},
			"properties": map[string]any{
				"vector": map[string]any{"type": "knn_vector", "dimension": ix.Dim, "method": map[string]any{
					"name": "hnsw", "space_type": "innerproduct", "engine": "faiss",
					"parameters": map[string]any{"m": 16, "ef_construction": 128}}},
				"chunk_id":    map[string]any{"type": "keyword"},
				"video_id":    map[string]any{"type": "keyword"},
				"collection":  map[string]any{"type": "keyword"},
				"filename":    map[string]any{"type": "keyword"},
				"chunk":       map[string]any{"type": "integer"},
				"start":       map[string]any{"type": "float"},
				"end":         map[string]any{"type": "float"},
				"clip_key":    map[string]any{"type": "keyword", "index": false},
				"thumb_key":   map[string]any{"type": "keyword", "index": false},
				"frame_keys":  map[string]any{"type": "keyword", "index": false},
				"frame_times": map[string]any{"type": "float", "index": false},
				"embed_keys":  map[string]any{"type": "keyword", "index": false},
				"metadata":    map[string]any{"type": "object"},
				"screen":      map[string]any{"type": "text"},
				"meta_words":  map[string]any{"type": "text"},
				"lines":       map[string]any{"type": "object", "enabled": false},
			},
		},
	}
}

// normalized is a unit-length copy of v: the inner product of two is their
// cosine.
func normalized(v []float32) []float32 {
	out := append([]float32(nil), v...)
	vector.Normalize(out)
	return out
}

func jsonBody(v any) *bytes.Reader {
	b, _ := json.Marshal(v)
	return bytes.NewReader(b)
}

// raw is the HTTP response behind a typed one (nil-safe).
func raw[T interface{ Inspect() opensearchapi.Inspect }](resp T, isNil bool) *opensearch.Response {
	if isNil {
		return nil
	}
	return resp.Inspect().Response
}

func statusOf(resp *opensearch.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}

func classify(err error, resp *opensearch.Response, format string, args ...any) error {
	switch s := statusOf(resp); {
	case s == http.StatusNotFound:
		return scenedex.Wrap(scenedex.CodeNotFound, err, format, args...)
	case s == http.StatusBadRequest:
		return scenedex.Wrap(scenedex.CodeInvalid, err, format, args...)
	}
	return scenedex.Wrap(scenedex.CodeUnavailable, err, format, args...)
}

// EnsureIndex creates the index with its mapping if it does not exist.
func (ix *Index) EnsureIndex(ctx context.Context) error {
	resp, err := ix.Client.Indices.Exists(ctx, opensearchapi.IndicesExistsReq{Indices: []string{ix.Name}})
	if err == nil && statusOf(resp) == http.StatusOK {
		return nil
	}
	if statusOf(resp) != http.StatusNotFound {
		return classify(err, resp, "check index %s", ix.Name)
	}
	mapping := ix.Mapping()
	_, err = ix.Client.Indices.Create(ctx, opensearchapi.IndicesCreateReq{Index: ix.Name, Body: jsonBody(mapping)})
	var se *opensearch.StructError
	if ix.Serverless && errors.As(err, &se) && strings.Contains(strings.ToLower(se.Err.Reason), "engine") {
		// A collection that chooses the engine itself refuses a named one:
		// let it choose (the space and method stay ours).
		method := mapping["mappings"].(map[string]any)["properties"].(map[string]any)["vector"].(map[string]any)["method"].(map[string]any)
		delete(method, "engine")
		_, err = ix.Client.Indices.Create(ctx, opensearchapi.IndicesCreateReq{Index: ix.Name, Body: jsonBody(mapping)})
	}
	if errors.As(err, &se) && se.Err.Type == "resource_already_exists_exception" {
		return nil // created meanwhile by another function
	}
	if err != nil {
		return scenedex.Wrap(scenedex.CodeUnavailable, err, "create index %s", ix.Name)
	}
	return nil
}

// ensure creates the index once per process, before the first write (a bulk
// into a missing index would create it with a dynamic mapping, not k-NN).
func (ix *Index) ensure(ctx context.Context, dim int) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.ensured {
		return nil
	}
	if ix.Dim == 0 {
		ix.Dim = dim
	}
	if err := ix.EnsureIndex(ctx); err != nil {
		return err
	}
	ix.ensured = true
	return nil
}

// Upsert bulk-indexes docs and checks every item's result.
func (ix *Index) Upsert(ctx context.Context, docs []scenedex.Doc) error {
	if len(docs) == 0 {
		return nil
	}
	if err := ix.ensure(ctx, len(docs[0].Vector)); err != nil {
		return err
	}
	if ix.Serverless {
		for _, d := range docs {
			if err := ix.deleteWhere(ctx, map[string]any{"term": map[string]any{"chunk_id": d.ID()}}); err != nil {
				return err
			}
		}
	}
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	for _, d := range docs {
		if ix.Dim != 0 && len(d.Vector) != ix.Dim {
			return scenedex.Errorf(scenedex.CodeInvalid, "vector of %s has dimension %d, index %s has %d", d.ID(), len(d.Vector), ix.Name, ix.Dim)
		}
		action := map[string]any{"_index": ix.Name}
		if !ix.Serverless {
			action["_id"] = d.ID()
		}
		enc.Encode(map[string]any{"index": action})
		d.Vector = normalized(d.Vector)
		enc.Encode(toDoc(d))
	}
	resp, err := ix.Client.Bulk(ctx, opensearchapi.BulkReq{Body: &body})
	if err != nil {
		return classify(err, raw(resp, resp == nil), "bulk index %d chunks", len(docs))
	}
	var failed []string
	for _, item := range resp.Items {
		for _, r := range item {
			if r.Error != nil || r.Status >= 300 {
				reason := fmt.Sprintf("status %d", r.Status)
				if r.Error != nil {
					reason = r.Error.Type + ": " + r.Error.Reason
				}
				failed = append(failed, r.ID+" ("+reason+")")
			}
		}
	}
	if len(failed) > 0 {
		return scenedex.Errorf(scenedex.CodeUnavailable, "bulk index: %d of %d items failed: %s", len(failed), len(docs), strings.Join(failed, "; "))
	}
	return nil
}

// Get returns one chunk's document.
func (ix *Index) Get(ctx context.Context, id string) (scenedex.Doc, error) {
	var d doc
	if !ix.Serverless {
		resp, err := ix.Client.Document.Get(ctx, opensearchapi.DocumentGetReq{Index: ix.Name, DocumentID: id})
		r := raw(resp, resp == nil)
		if statusOf(r) == http.StatusNotFound || (err == nil && !resp.Found) {
			return scenedex.Doc{}, scenedex.Errorf(scenedex.CodeNotFound, "no indexed chunk %q", id)
		}
		if err != nil {
			return scenedex.Doc{}, classify(err, r, "get %s", id)
		}
		if err := json.Unmarshal(resp.Source, &d); err != nil {
			return scenedex.Doc{}, fmt.Errorf("get %s: %w", id, err)
		}
		return d.toDomain(), nil
	}
	hits, err := ix.search(ctx, map[string]any{"size": 1, "query": map[string]any{"term": map[string]any{"chunk_id": id}}})
	if err != nil {
		return scenedex.Doc{}, err
	}
	if len(hits) == 0 {
		return scenedex.Doc{}, scenedex.Errorf(scenedex.CodeNotFound, "no indexed chunk %q", id)
	}
	return hits[0].doc.toDomain(), nil
}

type hit struct {
	doc   doc
	score float64
}

func (ix *Index) search(ctx context.Context, body map[string]any) ([]hit, error) {
	resp, err := ix.Client.Search(ctx, &opensearchapi.SearchReq{Indices: []string{ix.Name}, Body: jsonBody(body)})
	if err != nil {
		r := raw(resp, resp == nil)
		if statusOf(r) == http.StatusNotFound {
			return nil, nil // nothing indexed yet
		}
		return nil, classify(err, r, "search %s", ix.Name)
	}
	out := make([]hit, 0, len(resp.Hits.Hits))
	for _, h := range resp.Hits.Hits {
		d, err := decodeHit(h.ID, h.Source)
		if err != nil {
			return nil, err
		}
		out = append(out, hit{doc: d, score: float64(h.Score)})
	}
	return out, nil
}

func decodeHit(id string, source []byte) (doc, error) {
	var d doc
	if err := json.Unmarshal(source, &d); err != nil {
		return d, fmt.Errorf("search hit %s: %w", id, err)
	}
	return d, nil
}

// Search runs a filtered k-NN query; hits report the cosine itself, as the
// local index does (see cosine).
func (ix *Index) Search(ctx context.Context, vec []float32, k int, f scenedex.Filter) ([]scenedex.Hit, error) {
	if k <= 0 {
		return nil, scenedex.Errorf(scenedex.CodeInvalid, "k must be positive")
	}
	fetch := k
	if ix.Serverless || f.ExcludeID != "" {
		fetch = k + k/2 + 2 // room for dropped duplicates and the excluded chunk
	}
	knn := map[string]any{"vector": normalized(vec), "k": fetch}
	if boolQ := filterQuery(f); len(boolQ) > 0 {
		knn["filter"] = map[string]any{"bool": boolQ}
	}
	hits, err := ix.search(ctx, map[string]any{"size": fetch, "_source": map[string]any{"excludes": []string{"vector"}},
		"query": map[string]any{"knn": map[string]any{"vector": knn}}})
	if err != nil {
		return nil, err
	}
	out := make([]scenedex.Hit, 0, k)
	for _, h := range distinct(hits, f.ExcludeID, k) {
		out = append(out, hitOf(h.doc, cosine(h.score)))
	}
	return out, nil
}

// cosine turns a Faiss inner-product score back into the inner product, the
// cosine of normalised vectors: OpenSearch scores ip > 0 as ip + 1 and
// ip <= 0 as 1 / (1 - ip).
func cosine(score float64) float64 {
	if score >= 1 {
		return score - 1
	}
	if score <= 0 {
		return -1
	}
	return 1 - 1/score
}

// filterQuery is the bool query body of a Filter (empty when it filters
// nothing).
func filterQuery(f scenedex.Filter) map[string]any {
	var must []any
	if f.Collection != "" {
		must = append(must, map[string]any{"term": map[string]any{"collection": f.Collection}})
	}
	for key, v := range f.Metadata {
		must = append(must, map[string]any{"term": map[string]any{"metadata." + key: v}})
	}
	boolQ := map[string]any{}
	if len(must) > 0 {
		boolQ["filter"] = must
	}
	if f.ExcludeID != "" {
		boolQ["must_not"] = []any{map[string]any{"term": map[string]any{"chunk_id": f.ExcludeID}}}
	}
	return boolQ
}

// distinct keeps the first hit of each chunk, leaves out exclude, and stops
// at k.
func distinct(hits []hit, exclude string, k int) []hit {
	var out []hit
	seen := map[string]bool{}
	for _, h := range hits {
		if seen[h.doc.ChunkID] || h.doc.ChunkID == exclude {
			continue
		}
		seen[h.doc.ChunkID] = true
		if out = append(out, h); len(out) == k {
			break
		}
	}
	return out
}

func hitOf(c doc, score float64) scenedex.Hit {
	return scenedex.Hit{VideoID: c.VideoID, Chunk: c.Chunk, Filename: c.Filename, Collection: c.Collection,
		Start: c.Start, End: c.End, Score: score, Metadata: c.Metadata, ThumbKey: c.ThumbKey, ClipKey: c.ClipKey}
}

// wordFields are the text fields and their weights, as the local index's
// BM25 weights them.
var wordFields = []string{"screen^1", "meta_words^0.4"}

// wordsQuery is the bool query of a words search: every phrase must match,
// terms may (at least one when there is no phrase), filtered by f.
func (ix *Index) wordsQuery(q scenedex.WordQuery, f scenedex.Filter) map[string]any {
	boolQ := filterQuery(f)
	var must, should []any
	for _, p := range q.Phrases {
		must = append(must, map[string]any{"multi_match": map[string]any{
			"query": strings.Join(p, " "), "type": "phrase", "fields": wordFields}})
	}
	if len(q.Terms) > 0 {
		should = append(should, map[string]any{"multi_match": map[string]any{
			"query": strings.Join(q.Terms, " "), "operator": "or", "fields": wordFields}})
	}
	if len(must) > 0 {
		boolQ["must"] = must
	}
	if len(should) > 0 {
		boolQ["should"] = should
		if len(must) == 0 {
			boolQ["minimum_should_match"] = 1
		}
	}
	return boolQ
}

// SearchWords runs a BM25 query over the words fields: every phrase must
// match (match_phrase semantics), terms may (any of them), filtered as Search
// is. Score is OpenSearch's BM25 score.
func (ix *Index) SearchWords(ctx context.Context, q scenedex.WordQuery, k int, f scenedex.Filter) ([]scenedex.WordHit, error) {
	if k <= 0 {
		return nil, scenedex.Errorf(scenedex.CodeInvalid, "k must be positive")
	}
	if len(q.Terms) == 0 && len(q.Phrases) == 0 {
		return []scenedex.WordHit{}, nil
	}
	boolQ := ix.wordsQuery(q, f)
	fetch := k
	if ix.Serverless || f.ExcludeID != "" {
		fetch = k + k/2 + 2
	}
	hits, err := ix.search(ctx, map[string]any{"size": fetch, "_source": map[string]any{"excludes": []string{"vector"}},
		"query": map[string]any{"bool": boolQ}})
	if err != nil {
		return nil, err
	}
	out := make([]scenedex.WordHit, 0, k)
	for _, h := range distinct(hits, f.ExcludeID, k) {
		out = append(out, scenedex.WordHit{Hit: hitOf(h.doc, h.score), Lines: h.doc.Lines})
	}
	return out, nil
}

// DeleteVideo removes every document of a video.
func (ix *Index) DeleteVideo(ctx context.Context, videoID string) error {
	return ix.deleteWhere(ctx, map[string]any{"term": map[string]any{"video_id": videoID}})
}

func (ix *Index) deleteWhere(ctx context.Context, query map[string]any) error {
	if ix.Serverless {
		return ix.deleteMatching(ctx, query)
	}
	resp, err := ix.Client.Document.DeleteByQuery(ctx, opensearchapi.DocumentDeleteByQueryReq{
		Indices: []string{ix.Name}, Body: jsonBody(map[string]any{"query": query})})
	if err != nil {
		r := raw(resp, resp == nil)
		if statusOf(r) == http.StatusNotFound {
			return nil // no index yet: nothing to delete
		}
		return classify(err, r, "delete by query")
	}
	if len(resp.Failures) > 0 {
		return scenedex.Errorf(scenedex.CodeUnavailable, "delete by query: %d failures", len(resp.Failures))
	}
	return nil
}

// deleteMatching is delete-by-query for Serverless, which has no
// _delete_by_query: find the matching ids, then bulk-delete them.
func (ix *Index) deleteMatching(ctx context.Context, query map[string]any) error {
	// Serverless search is eventually consistent: documents deleted a moment
	// ago still match until the collection refreshes (seconds). A round that
	// finds only those waits, with growing pauses, instead of deleting them
	// again; the whole wait is bounded.
	deleted := map[string]bool{}
	wait := ix.RefreshWait
	if wait <= 0 {
		wait = time.Second
	}
	waited := time.Duration(0)
	for {
		resp, err := ix.Client.Search(ctx, &opensearchapi.SearchReq{Indices: []string{ix.Name},
			Body: jsonBody(map[string]any{"size": 500, "_source": false, "query": query})})
		if err != nil {
			r := raw(resp, resp == nil)
			if statusOf(r) == http.StatusNotFound {
				return nil
			}
			return classify(err, r, "find documents to delete")
		}
		var fresh []string
		for _, h := range resp.Hits.Hits {
			if !deleted[h.ID] {
				fresh = append(fresh, h.ID)
			}
		}
		if len(resp.Hits.Hits) == 0 {
			return nil
		}
		if len(fresh) == 0 {
			if waited >= maxRefreshWait {
				return scenedex.Errorf(scenedex.CodeUnavailable, "delete: %d deleted documents still match after %v", len(resp.Hits.Hits), waited)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
			waited += wait
			wait = min(2*wait, 8*time.Second)
			continue
		}
		var body bytes.Buffer
		enc := json.NewEncoder(&body)
		for _, id := range fresh {
			enc.Encode(map[string]any{"delete": map[string]any{"_index": ix.Name, "_id": id}})
		}
		bresp, err := ix.Client.Bulk(ctx, opensearchapi.BulkReq{Body: &body})
		if err != nil {
			return classify(err, raw(bresp, bresp == nil), "bulk delete")
		}
		if bresp.Errors {
			return scenedex.Errorf(scenedex.CodeUnavailable, "bulk delete reported errors")
		}
		for _, id := range fresh {
			deleted[id] = true
		}
		if len(resp.Hits.Hits) < 500 && !ix.Serverless {
			return nil // a managed domain's delete is visible to the next search; one short page was all
		}
	}
}

// maxRefreshWait bounds how long a delete waits for Serverless to stop
// showing documents it deleted.
const maxRefreshWait = time.Minute
