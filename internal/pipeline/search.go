package pipeline

import (
	"context"

	"github.com/scenedex/scenedex/internal/scenedex"
)

// MaxK bounds the number of hits one search returns.
const MaxK = 100

// Search embeds the query (text, image, or an indexed moment), runs a
// filtered k-NN search and attaches presigned thumbnail and clip links.
func (p *Pipeline) Search(ctx context.Context, q scenedex.Query) ([]scenedex.Hit, error) {
	n := 0
	for _, set := range []bool{q.Text != "", len(q.Image) > 0, q.Like != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, scenedex.Errorf(scenedex.CodeInvalid, `give exactly one of "text", "image" (base64) or "like" ({"video_id","t"})`)
	}
	if q.K == 0 {
		q.K = 10
	}
	if q.K < 1 || q.K > MaxK {
		return nil, scenedex.Errorf(scenedex.CodeInvalid, "k must be between 1 and %d", MaxK)
	}
	if q.Collection != "" && !scenedex.ValidCollection(q.Collection) {
		return nil, scenedex.Errorf(scenedex.CodeInvalid, "collection %q is invalid", q.Collection)
	}
	f := scenedex.Filter{Collection: q.Collection, Metadata: q.Filters}
	var vec []float32
	var err error
	switch {
	case q.Text != "":
		if len(q.Text) > 1000 {
			return nil, scenedex.Errorf(scenedex.CodeInvalid, "text is longer than 1000 bytes")
		}
		vec, err = p.Embedder.EmbedText(ctx, q.Text)
	case len(q.Image) > 0:
		if len(q.Image) > 4<<20 {
			return nil, scenedex.Errorf(scenedex.CodeTooLarge, "image is larger than 4 MiB")
		}
		var vecs [][]float32
		vecs, err = p.Embedder.EmbedImages(ctx, [][]byte{q.Image})
		if err == nil {
			vec = vecs[0]
		}
	default:
		var d scenedex.Doc
		d, err = p.momentAt(ctx, q.Like.VideoID, q.Like.T)
		vec, f.ExcludeID = d.Vector, d.ID()
	}
	if err != nil {
		return nil, err
	}
	hits, err := p.Index.Search(ctx, vec, q.K, f)
	if err != nil {
		return nil, err
	}
	for i := range hits {
		if hits[i].ThumbURL, err = p.Blobs.PresignGet(ctx, hits[i].ThumbKey, p.cfg.LinkTTL); err != nil {
			return nil, err
		}
		if hits[i].ClipURL, err = p.Blobs.PresignGet(ctx, hits[i].ClipKey, p.cfg.LinkTTL); err != nil {
			return nil, err
		}
	}
	return hits, nil
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
