package osindex

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/scenedex/scenedex/internal/scenedex"
)

// HybridPipeline is the search pipeline scenedex keeps for hybrid queries:
// OpenSearch's normalization processor (min-max per sub-query, then the
// arithmetic mean), available on managed domains from 2.10 and on Serverless.
const HybridPipeline = "scenedex-hybrid"

// hybridPipelineBody is the pipeline's definition.
var hybridPipelineBody = map[string]any{
	"description": "scenedex: words (BM25) and picture (k-NN) fused",
	"phase_results_processors": []any{map[string]any{"normalization-processor": map[string]any{
		"normalization": map[string]any{"technique": "min_max"},
		"combination":   map[string]any{"technique": "arithmetic_mean", "parameters": map[string]any{"weights": []float64{0.5, 0.5}}},
	}}},
}

// Names of the hybrid query's sub-queries; hits report which matched.
const (
	namedWords   = "words"
	namedPicture = "picture"
)

// putRequest is a PUT of a JSON body to a path (the typed client has no
// search-pipeline API).
type putRequest struct {
	path string
	body any
}

func (p putRequest) GetRequest(method string) (*http.Request, error) {
	r, err := http.NewRequest(method, p.path, jsonBody(p.body))
	if err == nil {
		r.Header.Set("Content-Type", "application/json")
	}
	return r, err
}

// ensureHybrid creates the search pipeline once per process. A cluster
// that refuses it (no neural-search plugin, a permission missing) makes
// hybrid unsupported here, which SearchHybrid reports, and is not asked again.
func (ix *Index) ensureHybrid(ctx context.Context) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.hybrid != nil {
		return *ix.hybrid
	}
	resp, err := ix.Client.Client.Do(ctx, http.MethodPut, putRequest{path: "/_search/pipeline/" + HybridPipeline, body: hybridPipelineBody}, nil)
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	var result error
	switch {
	case err == nil && status/100 == 2:
	case status == 400 || status == 403 || status == 404 || status == 405:
		result = scenedex.Errorf(scenedex.CodeUnsupported, "search pipeline %s refused (%d): the cluster cannot run hybrid queries", HybridPipeline, status)
	default:
		return scenedex.Wrap(scenedex.CodeUnavailable, fmt.Errorf("status %d: %v", status, err), "create search pipeline %s", HybridPipeline)
	}
	ix.hybrid = &result
	return result
}

// SearchHybrid runs one hybrid query — the words query and the k-NN query,
// each filtered — through the normalization pipeline. Each hit says which
// sub-queries matched it (named queries). An error with CodeUnsupported
// means this cluster cannot: the caller fuses the two searches itself.
func (ix *Index) SearchHybrid(ctx context.Context, q scenedex.WordQuery, vec []float32, k int, f scenedex.Filter) ([]scenedex.WordHit, error) {
	if k <= 0 {
		return nil, scenedex.Errorf(scenedex.CodeInvalid, "k must be positive")
	}
	if err := ix.ensureHybrid(ctx); err != nil {
		return nil, err
	}
	fetch := k
	if ix.Serverless || f.ExcludeID != "" {
		fetch = k + k/2 + 2
	}
	wordsQ := ix.wordsQuery(q, f)
	wordsQ["_name"] = namedWords
	knn := map[string]any{"vector": normalized(vec), "k": fetch}
	if boolQ := filterQuery(f); len(boolQ) > 0 {
		knn["filter"] = map[string]any{"bool": boolQ}
	}
	body := map[string]any{"size": fetch, "_source": map[string]any{"excludes": []string{"vector"}},
		"query": map[string]any{"hybrid": map[string]any{"queries": []any{
			map[string]any{"bool": wordsQ},
			map[string]any{"bool": map[string]any{"must": []any{map[string]any{"knn": map[string]any{"vector": knn}}}, "_name": namedPicture}},
		}}}}
	resp, err := ix.Client.Search(ctx, &opensearchapi.SearchReq{Indices: []string{ix.Name}, Body: jsonBody(body),
		Params: opensearchapi.SearchParams{SearchPipeline: HybridPipeline}})
	if err != nil {
		r := raw(resp, resp == nil)
		if statusOf(r) == http.StatusNotFound && strings.Contains(err.Error(), "index_not_found") {
			return []scenedex.WordHit{}, nil
		}
		return nil, classify(err, r, "hybrid search %s", ix.Name)
	}
	var hits []hit
	matched := map[string][]string{}
	for _, h := range resp.Hits.Hits {
		d, err := decodeHit(h.ID, h.Source)
		if err != nil {
			return nil, err
		}
		hits = append(hits, hit{doc: d, score: float64(h.Score)})
		if _, seen := matched[d.ChunkID]; !seen {
			matched[d.ChunkID] = h.MatchedQueries
		}
	}
	out := make([]scenedex.WordHit, 0, k)
	for _, h := range distinct(hits, f.ExcludeID, k) {
		wh := scenedex.WordHit{Hit: hitOf(h.doc, h.score), Lines: h.doc.Lines}
		for _, name := range []string{namedWords, namedPicture} {
			for _, m := range matched[h.doc.ChunkID] {
				if m == name {
					wh.Matched = append(wh.Matched, name)
				}
			}
		}
		out = append(out, wh)
	}
	return out, nil
}
