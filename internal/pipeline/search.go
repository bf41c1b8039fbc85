package pipeline

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/scenedex/scenedex/internal/picture"
	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/words"
)

// MaxK bounds the number of hits one search returns.
const MaxK = 100

// QueryImageSide is the long side query images are scaled down to (models
// look at 224 to 384 pixels; frames are up to 1280).
const QueryImageSide = 768

// SearchResult is a search's hits and, when a part of the query was left
// out, a note saying which and why.
type SearchResult struct {
	Hits []scenedex.Hit
	Note string
}

// Search answers a query: words (hybrid: words on screen + picture), an
// image, or an indexed moment (k-NN), filtered, with presigned thumbnail and
// clip links.
func (p *Pipeline) Search(ctx context.Context, q scenedex.Query) ([]scenedex.Hit, error) {
	res, err := p.SearchWithNote(ctx, q)
	return res.Hits, err
}

// SearchWithNote is Search with its note: a words search whose model did not
// answer within the budget (Config.SearchModelBudget) answers from the words
// alone and says so.
func (p *Pipeline) SearchWithNote(ctx context.Context, q scenedex.Query) (SearchResult, error) {
	n := 0
	for _, set := range []bool{q.Text != "", len(q.Image) > 0, q.Like != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return SearchResult{}, scenedex.Errorf(scenedex.CodeInvalid, `give exactly one of "text", "image" (base64) or "like" ({"video_id","t"})`)
	}
	if q.K == 0 {
		q.K = 10
	}
	if q.K < 1 || q.K > MaxK {
		return SearchResult{}, scenedex.Errorf(scenedex.CodeInvalid, "k must be between 1 and %d", MaxK)
	}
	if q.Collection != "" && !scenedex.ValidCollection(q.Collection) {
		return SearchResult{}, scenedex.Errorf(scenedex.CodeInvalid, "collection %q is invalid", q.Collection)
	}
	f := scenedex.Filter{Collection: q.Collection, Metadata: q.Filters}
	var hits []scenedex.Hit
	var note string
	var err error
	switch {
	case q.Text != "":
		hits, note, err = p.searchText(ctx, q, f)
	case len(q.Image) > 0:
		if len(q.Image) > 4<<20 {
			return SearchResult{}, scenedex.Errorf(scenedex.CodeTooLarge, "image is larger than 4 MiB")
		}
		// What the model needs, not what the camera made: bounded memory
		// here and in the model server, and within a serverless request.
		img, serr := picture.Shrink(q.Image, QueryImageSide, 1<<20)
		if serr != nil {
			return SearchResult{}, scenedex.Errorf(scenedex.CodeInvalid, "image: %v", serr)
		}
		var vecs [][]float32
		if vecs, err = p.liveEmbedder(ctx).EmbedImages(ctx, [][]byte{img}); err == nil {
			hits, err = p.searchPicture(ctx, vecs[0], q.K, f)
		}
	default:
		var d scenedex.Doc
		if d, err = p.momentAt(ctx, q.Like.VideoID, q.Like.T); err == nil {
			f.ExcludeID = d.ID()
			hits, err = p.searchPicture(ctx, d.Vector, q.K, f)
		}
	}
	if err != nil {
		return SearchResult{}, err
	}
	if err := p.link(ctx, hits); err != nil {
		return SearchResult{}, err
	}
	return SearchResult{Hits: hits, Note: note}, nil
}

// link presigns each hit's thumbnail, clip and source video (the video's
// record is read once per video).
func (p *Pipeline) link(ctx context.Context, hits []scenedex.Hit) error {
	sources := map[string]string{}
	for i := range hits {
		h := &hits[i]
		var err error
		if h.ThumbURL, err = p.Blobs.PresignGet(ctx, h.ThumbKey, p.cfg.LinkTTL); err != nil {
			return err
		}
		if h.ClipURL, err = p.Blobs.PresignGet(ctx, h.ClipKey, p.cfg.LinkTTL); err != nil {
			return err
		}
		src, ok := sources[h.VideoID]
		if !ok {
			v, err := p.Catalog.Get(ctx, h.VideoID)
			switch {
			case scenedex.ErrorCode(err) == scenedex.CodeNotFound:
				// Deleted since it was indexed: the clip still plays.
			case err != nil:
				return err
			default:
				if src, err = p.Blobs.PresignGet(ctx, v.Key, p.cfg.LinkTTL); err != nil {
					return err
				}
			}
			sources[h.VideoID] = src
		}
		h.VideoURL = src
	}
	return nil
}

func (p *Pipeline) searchPicture(ctx context.Context, vec []float32, k int, f scenedex.Filter) ([]scenedex.Hit, error) {
	hits, err := p.Index.Search(ctx, vec, k, f)
	for i := range hits {
		hits[i].Matched = []string{scenedex.MatchPicture}
	}
	return hits, err
}

// searchText is hybrid: the words (BM25 over words on screen, filenames and
// metadata) and, when the model embeds text, the picture (k-NN), fused — by
// the index itself where it can (OpenSearch's hybrid query), else here by
// reciprocal rank (the embedded index). Without OCR and without a text model
// it is refused.
func (p *Pipeline) searchText(ctx context.Context, q scenedex.Query, f scenedex.Filter) ([]scenedex.Hit, string, error) {
	if len(q.Text) > 1000 {
		return nil, "", scenedex.Errorf(scenedex.CodeInvalid, "text is longer than 1000 bytes")
	}
	wq := words.Parse(q.Text)
	vec, note, err := p.embedQuery(ctx, q.Text, wq)
	picture := err == nil && vec != nil
	switch {
	case err != nil && scenedex.ErrorCode(err) != scenedex.CodeUnsupported:
		return nil, "", err
	case !picture && p.Reader == nil:
		return nil, "", scenedex.Wrap(scenedex.CodeUnsupported, err, "and OCR is off, so no words on screen can answer either")
	case !picture && words.Empty(wq):
		return nil, "", scenedex.Errorf(scenedex.CodeInvalid, "the text has no words to search for")
	}
	if hi, ok := p.Index.(scenedex.HybridIndex); ok && picture && !words.Empty(wq) {
		hits, err := hi.SearchHybrid(ctx, wq, vec, q.K, f)
		if err == nil {
			return marked(hits, wq), note, nil
		}
		if scenedex.ErrorCode(err) != scenedex.CodeUnsupported {
			return nil, "", err
		}
		p.Log.Debug("hybrid query unavailable; fusing here", "err", err)
	}
	// Each retriever gives more than k so that fusion can lift a scene
	// both rank moderately.
	fetch := min(max(2*q.K, 20), 2*MaxK)
	var wordHits []scenedex.WordHit
	if !words.Empty(wq) {
		if wordHits, err = p.Index.SearchWords(ctx, wq, fetch, f); err != nil {
			return nil, "", err
		}
	}
	var picHits []scenedex.Hit
	if picture {
		if picHits, err = p.Index.Search(ctx, vec, fetch, f); err != nil {
			return nil, "", err
		}
	}
	return fuse(wordHits, picHits, wq, q.K), note, nil
}

// embedQuery embeds a words query with the live model, within the search
// budget if there is one. A model that does not answer in time, where words
// on screen can answer alone, gives no vector and a note instead of an
// error.
func (p *Pipeline) embedQuery(ctx context.Context, text string, wq scenedex.WordQuery) ([]float32, string, error) {
	budget := p.cfg.SearchModelBudget
	if budget <= 0 {
		vec, err := p.liveEmbedder(ctx).EmbedText(ctx, text)
		return vec, "", err
	}
	mctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	vec, err := p.liveEmbedder(ctx).EmbedText(mctx, text)
	if err != nil && mctx.Err() == context.DeadlineExceeded && ctx.Err() == nil && p.Reader != nil && !words.Empty(wq) {
		p.Log.Warn("the model did not answer a query in time; words only", "budget", budget, "err", err)
		return nil, fmt.Sprintf("words only: the picture and meaning part of the search was skipped because the model did not "+
			"answer within %s (it may be starting after a while idle); search again shortly for both", budget), nil
	}
	return vec, "", err
}

// marked turns an index's own fused hits into hits, marking the words of
// those the words matched.
func marked(hits []scenedex.WordHit, wq scenedex.WordQuery) []scenedex.Hit {
	out := make([]scenedex.Hit, len(hits))
	for i, h := range hits {
		out[i] = h.Hit
		for _, m := range h.Matched {
			if m == scenedex.MatchWords {
				out[i].Text = words.Mark(h.Lines, wq)
			}
		}
	}
	return out
}

// rrfK is reciprocal rank fusion's constant (Cormack et al.: 60).
const rrfK = 60

// fuse merges the words and picture rankings by reciprocal rank fusion.
// When only one retriever answered, its order stands: k-NN hits keep their
// cosine, words hits are scored by how much of the query they show (their
// BM25 stays in scores).
func fuse(wordHits []scenedex.WordHit, picHits []scenedex.Hit, wq scenedex.WordQuery, k int) []scenedex.Hit {
	type acc struct {
		hit   scenedex.Hit
		fused float64
	}
	byID := map[string]*acc{}
	var order []*acc
	add := func(h scenedex.Hit, rank int, why string) *acc {
		id := scenedex.ChunkID(h.VideoID, h.Chunk)
		a, ok := byID[id]
		if !ok {
			a = &acc{hit: h}
			a.hit.Scores = map[string]float64{}
			a.hit.Matched = nil
			byID[id] = a
			order = append(order, a)
		}
		a.fused += 1 / float64(rrfK+rank+1)
		a.hit.Matched = append(a.hit.Matched, why)
		a.hit.Scores[why] = h.Score
		return a
	}
	for r, h := range wordHits {
		a := add(h.Hit, r, scenedex.MatchWords)
		a.hit.Text = words.Mark(h.Lines, wq)
		if len(picHits) == 0 {
			// Words alone: BM25 ranks (and stays in scores), but its value
			// means little to a reader (near 0 in a small index); the score
			// is the share of the query's words the scene shows, counting
			// the filename and metadata.
			a.hit.Score = coverage(h, wq)
		}
	}
	for r, h := range picHits {
		add(h, r, scenedex.MatchPicture)
	}
	both := len(wordHits) > 0 && len(picHits) > 0
	for _, a := range order {
		switch {
		case both:
			a.hit.Score = a.fused
		case len(picHits) > 0:
			a.hit.Scores = nil // the cosine is the score
		}
	}
	if both { // one retriever alone keeps its own order (BM25, or cosine)
		sort.SliceStable(order, func(i, j int) bool { return order[i].hit.Score > order[j].hit.Score })
	}
	out := make([]scenedex.Hit, 0, min(k, len(order)))
	for _, a := range order[:min(k, len(order))] {
		out = append(out, a.hit)
	}
	return out
}

// coverage is the share of wq's words a words hit shows: on screen, in its
// filename or metadata.
func coverage(h scenedex.WordHit, wq scenedex.WordQuery) float64 {
	meta := strings.ReplaceAll(words.MetaText(scenedex.Chunk{Filename: h.Filename, Metadata: h.Metadata}), "\n", " ")
	return words.Coverage(append(h.Lines[:len(h.Lines):len(h.Lines)], scenedex.TextLine{Text: meta}), wq)
}

// momentAt returns the indexed chunk of a video that contains second t.
func (p *Pipeline) momentAt(ctx context.Context, videoID string, t float64) (scenedex.Doc, error) {
	v, err := p.Catalog.Get(ctx, videoID)
	if err != nil {
		return scenedex.Doc{}, err
	}
	if v.Status != scenedex.StatusReady {
		return scenedex.Doc{}, scenedex.Errorf(scenedex.CodeConflict, "video %s is %s, not READY: it cannot be searched from yet", videoID, v.Status)
	}
	if t < 0 || t > v.Duration {
		return scenedex.Doc{}, scenedex.Errorf(scenedex.CodeInvalid, "t=%.2f is outside video %s (0 to %.2f s)", t, videoID, v.Duration)
	}
	// Chunk numbers follow the plan (window*perWindow + position), so the
	// chunk holding t is found in one or two lookups; true boundaries sit on
	// keyframes, hence the neighbours. A full scan is the fallback.
	win := p.cfg.ChunkSeconds * float64(p.cfg.WindowChunks)
	w := int(t / win)
	guess := w*p.cfg.WindowChunks + min(int((t-float64(w)*win)/p.cfg.ChunkSeconds), p.cfg.WindowChunks-1)
	for _, i := range []int{guess, guess - 1, guess + 1} {
		if i < 0 || i >= v.ChunksTotal {
			continue
		}
		d, err := p.Index.Get(ctx, scenedex.ChunkID(videoID, i))
		if err == nil && t >= d.Start && t < d.End {
			return d, nil
		}
		if err != nil && scenedex.ErrorCode(err) != scenedex.CodeNotFound {
			return scenedex.Doc{}, err
		}
	}
	var best scenedex.Doc
	found := false
	for i := range v.ChunksTotal {
		d, err := p.Index.Get(ctx, scenedex.ChunkID(videoID, i))
		if scenedex.ErrorCode(err) == scenedex.CodeNotFound {
			continue
		}
		if err != nil {
			return scenedex.Doc{}, err
		}
		// Chunks at window edges may overlap by less than a GOP: the first
		// containing t wins; past the end, the last chunk.
		if t >= d.Start && t < d.End {
			return d, nil
		}
		if !found || d.Start <= t {
			best, found = d, true
		}
	}
	if !found {
		return scenedex.Doc{}, scenedex.Errorf(scenedex.CodeNotFound, "no indexed chunk of video %s", videoID)
	}
	return best, nil
}
