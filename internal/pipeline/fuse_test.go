package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/scenedex/scenedex/internal/ffmpeg"
	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/words"
)

func TestFuse(t *testing.T) {
	h := func(video string, chunk int, score float64) scenedex.Hit {
		return scenedex.Hit{VideoID: video, Chunk: chunk, Score: score}
	}
	wh := func(video string, chunk int, score float64, line string) scenedex.WordHit {
		return scenedex.WordHit{Hit: h(video, chunk, score), Lines: []scenedex.TextLine{{Text: line, T: float64(chunk)}}}
	}
	q := words.Parse("sale")
	type want struct {
		id      string
		matched []string
	}
	cases := []struct {
		name  string
		words []scenedex.WordHit
		pics  []scenedex.Hit
		k     int
		want  []want
	}{
		{"words only keep BM25 order",
			[]scenedex.WordHit{wh("a", 0, 9, "big sale"), wh("a", 1, 4, "sale")}, nil, 10,
			[]want{{"a:0", []string{"words"}}, {"a:1", []string{"words"}}}},
		{"picture only",
			nil, []scenedex.Hit{h("b", 0, 0.3), h("b", 1, 0.2)}, 1,
			[]want{{"b:0", []string{"picture"}}}},
		{"found by both ranks first",
			[]scenedex.WordHit{wh("a", 0, 9, "sale"), wh("c", 0, 8, "sale")},
			[]scenedex.Hit{h("b", 0, 0.3), h("c", 0, 0.29)}, 3,
			[]want{{"c:0", []string{"words", "picture"}}, {"a:0", []string{"words"}}, {"b:0", []string{"picture"}}}},
	}
	for _, c := range cases {
		got := fuse(c.words, c.pics, q, c.k)
		var ids []want
		for _, g := range got {
			ids = append(ids, want{scenedex.ChunkID(g.VideoID, g.Chunk), g.Matched})
		}
		if !reflect.DeepEqual(ids, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, ids, c.want)
		}
		for _, g := range got {
			if len(g.Matched) == 2 && (g.Scores["words"] == 0 || g.Scores["picture"] == 0) {
				t.Errorf("%s: scores %v", c.name, g.Scores)
			}
			if g.Matched[0] == "words" && (len(g.Text) != 1 || len(g.Text[0].Marks) != 1) {
				t.Errorf("%s: text %+v", c.name, g.Text)
			}
		}
	}
	// Words alone: BM25's order stands, the score is the share of the
	// query shown, BM25 kept in scores.
	two := words.Parse("big sale")
	got := fuse([]scenedex.WordHit{wh("a", 0, 9, "big sale"), wh("a", 1, 4, "sale"), wh("a", 2, 5, "nothing")}, nil, two, 5)
	if got[0].Score != 1 || got[1].Score != 0.5 || got[2].Score != 0 || got[0].Scores["words"] != 9 || got[1].Chunk != 1 {
		t.Errorf("words alone: %+v", got)
	}
	// Picture alone: the cosine.
	if got := fuse(nil, []scenedex.Hit{h("b", 0, 0.3)}, q, 5); got[0].Score != 0.3 || got[0].Scores != nil {
		t.Errorf("picture alone %+v", got[0])
	}
}

// Stand-ins for this test only: a text-embedding model (none runs here yet)
// and an index that answers hybrid queries (OpenSearch's, tested against its
// REST stand-in in package osindex).
type textEmbedder struct{ scenedex.Embedder }

func (textEmbedder) EmbedText(context.Context, string) ([]float32, error) {
	return []float32{1, 0}, nil
}

type hybridIndex struct {
	scenedex.Index
	hybridErr error
	hybrid    []scenedex.WordHit
	words     []scenedex.WordHit
	picture   []scenedex.Hit
}

func (h *hybridIndex) SearchHybrid(context.Context, scenedex.WordQuery, []float32, int, scenedex.Filter) ([]scenedex.WordHit, error) {
	return h.hybrid, h.hybridErr
}
func (h *hybridIndex) SearchWords(context.Context, scenedex.WordQuery, int, scenedex.Filter) ([]scenedex.WordHit, error) {
	return h.words, nil
}
func (h *hybridIndex) Search(context.Context, []float32, int, scenedex.Filter) ([]scenedex.Hit, error) {
	return h.picture, nil
}

type noText struct{}

func (noText) ReadText(context.Context, [][]byte) ([][]scenedex.TextLine, error) { return nil, nil }

func TestSearchTextUsesTheIndexFusionWhenItHasOne(t *testing.T) {
	line := []scenedex.TextLine{{Text: "big sale", T: 3}}
	both := scenedex.WordHit{Hit: scenedex.Hit{VideoID: "a", Chunk: 1, Score: 0.8, Matched: []string{"words", "picture"}}, Lines: line}
	pic := scenedex.WordHit{Hit: scenedex.Hit{VideoID: "a", Chunk: 2, Score: 0.3, Matched: []string{"picture"}}, Lines: line}
	ix := &hybridIndex{hybrid: []scenedex.WordHit{both, pic},
		words:   []scenedex.WordHit{{Hit: scenedex.Hit{VideoID: "b", Chunk: 0, Score: 5}, Lines: line}},
		picture: []scenedex.Hit{{VideoID: "c", Chunk: 0, Score: 0.2}}}
	p := &Pipeline{Index: ix, Embedder: textEmbedder{}, Reader: noText{}, Log: slog.Default(), cfg: Config{}.withDefaults()}
	q := scenedex.Query{Text: "sale", K: 5}
	hits, _, err := p.searchText(context.Background(), q, scenedex.Filter{})
	if err != nil || len(hits) != 2 || hits[0].Chunk != 1 || len(hits[0].Text) != 1 || hits[1].Text != nil {
		t.Fatalf("hybrid: %+v %v", hits, err)
	}
	// A cluster without hybrid support: fused here instead.
	ix.hybridErr = scenedex.Errorf(scenedex.CodeUnsupported, "no pipeline")
	hits, _, err = p.searchText(context.Background(), q, scenedex.Filter{})
	if err != nil || len(hits) != 2 || hits[0].VideoID != "b" || hits[1].VideoID != "c" {
		t.Fatalf("fallback: %+v %v", hits, err)
	}
	// Any other failure is the caller's to see.
	ix.hybridErr = scenedex.Errorf(scenedex.CodeUnavailable, "cluster down")
	if _, _, err := p.searchText(context.Background(), q, scenedex.Filter{}); scenedex.ErrorCode(err) != scenedex.CodeUnavailable {
		t.Fatalf("error: %v", err)
	}
}

func TestVideosTooLongAreRefused(t *testing.T) {
	p := &Pipeline{cfg: Config{}.withDefaults()}
	ok := p.plan("v", ffmpeg.Probe{Duration: 33 * 3600, Video: ffmpeg.Stream{Codec: "h264"}})
	long := p.plan("v", ffmpeg.Probe{Duration: 34 * 3600, Video: ffmpeg.Stream{Codec: "h264"}})
	if err := tooLong(ok); err != nil {
		t.Fatalf("33 h refused: %v", err)
	}
	err := tooLong(long)
	if scenedex.ErrorCode(err) != scenedex.CodeTooLarge || !strings.Contains(err.Error(), "34.0 hours long") {
		t.Fatalf("34 h: %v", err)
	}
}

// A folder marker ("uploads/ads/new/", as S3 consoles make) is skipped like
// a repeated event: no record, no FAILED video.
func TestFolderMarkersAreSkipped(t *testing.T) {
	_, err := (&Pipeline{}).Register(context.Background(), scenedex.ObjectCreated{Bucket: "media", Key: "uploads/ads/new folder/"})
	if !errors.Is(err, ErrFolder) || !errors.Is(err, ErrDuplicate) {
		t.Fatalf("folder marker: %v", err)
	}
}
