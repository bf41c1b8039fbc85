package pipeline

import (
	"context"
	"sort"

	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/words"
)

// Concept board limits.
const (
	MaxConcepts      = 20
	MaxConceptBest   = 50
	DefaultThreshold = 0.25
	// ConceptScan is how many scenes each retriever looks at per concept:
	// counts reaching it are reported as "at least" (Capped).
	ConceptScan = 1000
)

// ConceptsRequest is the body of POST /v1/concepts: concepts (words or an
// example image), the score a scene must reach to count, and filters.
type ConceptsRequest struct {
	Concepts   []Concept         `json:"concepts"`
	Threshold  *float64          `json:"threshold,omitempty"` // default DefaultThreshold
	Best       int               `json:"best,omitempty"`      // best scenes per concept (default 5)
	Collection string            `json:"collection,omitempty"`
	Filters    map[string]string `json:"filters,omitempty"`
}

// Concept is one concept: Text or Image (JPEG or PNG bytes, base64 in JSON),
// with an optional Label to show for it.
type Concept struct {
	Text  string `json:"text,omitempty"`
	Image []byte `json:"image,omitempty"`
	Label string `json:"label,omitempty"`
}

// ConceptResult counts one concept's matching scenes.
type ConceptResult struct {
	Label string `json:"label"`
	Kind  string `json:"kind"` // "text" or "image"
	Count int    `json:"count"`
	// Capped: a retriever found ConceptScan matching scenes, so Count is a
	// lower bound.
	Capped       bool           `json:"capped,omitempty"`
	ByCollection map[string]int `json:"by_collection"`
	// ByPicture and ByWords count the scenes each way of matching found
	// (a scene can be found both ways).
	ByPicture int            `json:"by_picture"`
	ByWords   int            `json:"by_words"`
	Best      []scenedex.Hit `json:"best"`
	// Note says when one way of matching could not take part.
	Note string `json:"note,omitempty"`
}

// ConceptsResponse is the body of a 200 from POST /v1/concepts.
type ConceptsResponse struct {
	Threshold float64         `json:"threshold"`
	Concepts  []ConceptResult `json:"concepts"`
}

// Concepts counts, for each concept, the scenes that match it: those whose
// picture's cosine with the concept's embedding reaches the threshold (when
// the model embeds it), and, for words, those that show every word of the
// concept on screen, in the filename or metadata (score 1). Counts are
// exact up to ConceptScan scenes per concept.
func (p *Pipeline) Concepts(ctx context.Context, req ConceptsRequest) (ConceptsResponse, error) {
	out := ConceptsResponse{Threshold: DefaultThreshold}
	if req.Threshold != nil {
		out.Threshold = *req.Threshold
	}
	switch {
	case len(req.Concepts) == 0:
		return out, scenedex.Errorf(scenedex.CodeInvalid, "give at least one concept")
	case len(req.Concepts) > MaxConcepts:
		return out, scenedex.Errorf(scenedex.CodeInvalid, "at most %d concepts per request", MaxConcepts)
	case out.Threshold < -1 || out.Threshold > 1:
		return out, scenedex.Errorf(scenedex.CodeInvalid, "threshold must be between -1 and 1 (a cosine similarity)")
	case req.Best < 0 || req.Best > MaxConceptBest:
		return out, scenedex.Errorf(scenedex.CodeInvalid, "best must be between 0 and %d", MaxConceptBest)
	case req.Collection != "" && !scenedex.ValidCollection(req.Collection):
		return out, scenedex.Errorf(scenedex.CodeInvalid, "collection %q is invalid", req.Collection)
	}
	if req.Best == 0 {
		req.Best = 5
	}
	f := scenedex.Filter{Collection: req.Collection, Metadata: req.Filters}
	for i, c := range req.Concepts {
		r, err := p.concept(ctx, c, out.Threshold, req.Best, f)
		if err != nil {
			return out, scenedex.Wrap(scenedex.ErrorCode(err), err, "concept %d (%s)", i+1, conceptLabel(c))
		}
		out.Concepts = append(out.Concepts, r)
	}
	return out, nil
}

func conceptLabel(c Concept) string {
	switch {
	case c.Label != "":
		return c.Label
	case c.Text != "":
		return c.Text
	}
	return "image"
}

func (p *Pipeline) concept(ctx context.Context, c Concept, threshold float64, best int, f scenedex.Filter) (ConceptResult, error) {
	r := ConceptResult{Label: conceptLabel(c), Kind: "text", ByCollection: map[string]int{}, Best: []scenedex.Hit{}}
	var vec []float32
	var wq scenedex.WordQuery
	switch {
	case (c.Text != "") == (len(c.Image) > 0):
		return r, scenedex.Errorf(scenedex.CodeInvalid, `give exactly one of "text" or "image"`)
	case len(c.Image) > 0:
		r.Kind = "image"
		img, err := queryImage(ctx, c.Image)
		if err != nil {
			return r, err
		}
		vecs, err := p.liveEmbedder(ctx).EmbedImages(ctx, [][]byte{img})
		if err != nil {
			return r, err
		}
		vec = vecs[0]
	case len(c.Text) > 1000:
		return r, scenedex.Errorf(scenedex.CodeInvalid, "text is longer than 1000 bytes")
	default:
		var err error
		wq = words.Parse(c.Text)
		vec, err = p.liveEmbedder(ctx).EmbedText(ctx, c.Text)
		switch {
		case err != nil && scenedex.ErrorCode(err) != scenedex.CodeUnsupported:
			return r, err
		case err != nil && p.Reader == nil:
			return r, scenedex.Wrap(scenedex.CodeUnsupported, err, "and OCR is off, so no words on screen can answer either")
		case err != nil && words.Empty(wq):
			return r, scenedex.Errorf(scenedex.CodeInvalid, "the text has no words to search for")
		}
		switch {
		case p.Reader == nil:
			wq = scenedex.WordQuery{} // no words were read: only the picture answers
			r.Note = "OCR is off: only the picture counts"
		case vec == nil:
			r.Note = "the model does not embed text: only words on screen, filenames and metadata count"
		}
	}
	type match struct {
		hit     scenedex.Hit
		picture bool
	}
	byID := map[string]*match{}
	var all []*match
	if vec != nil {
		hits, err := p.Index.Search(ctx, vec, ConceptScan, f)
		if err != nil {
			return r, err
		}
		for _, h := range hits { // best first
			if h.Score < threshold {
				break
			}
			h.Matched = []string{scenedex.MatchPicture}
			m := &match{hit: h, picture: true}
			byID[scenedex.ChunkID(h.VideoID, h.Chunk)] = m
			all = append(all, m)
			r.ByPicture++
		}
		r.Capped = r.ByPicture == ConceptScan
	}
	if !words.Empty(wq) {
		hits, err := p.Index.SearchWords(ctx, wq, ConceptScan, f)
		if err != nil {
			return r, err
		}
		r.Capped = r.Capped || len(hits) == ConceptScan
		for _, h := range hits {
			if coverage(h, wq) < 1 {
				continue // shows only some of the concept's words
			}
			r.ByWords++
			text := words.Mark(h.Lines, wq)
			if m, ok := byID[scenedex.ChunkID(h.VideoID, h.Chunk)]; ok {
				m.hit.Matched = append(m.hit.Matched, scenedex.MatchWords)
				m.hit.Text = text
				continue
			}
			hit := h.Hit
			hit.Score, hit.Matched, hit.Scores, hit.Text = 1, []string{scenedex.MatchWords}, nil, text
			m := &match{hit: hit}
			byID[scenedex.ChunkID(h.VideoID, h.Chunk)] = m
			all = append(all, m)
		}
	}
	r.Count = len(all)
	for _, m := range all {
		r.ByCollection[m.hit.Collection]++
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].hit.Score > all[j].hit.Score })
	for _, m := range all[:min(best, len(all))] {
		r.Best = append(r.Best, m.hit)
	}
	var err error
	r.Best, err = p.link(ctx, r.Best)
	return r, err
}
