package pipeline

import (
	"reflect"
	"testing"

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
	// With one retriever, hits keep its own score (BM25 here).
	if got := fuse([]scenedex.WordHit{wh("a", 0, 9, "sale")}, nil, q, 5); got[0].Score != 9 || got[0].Scores != nil {
		t.Errorf("single retriever score %+v", got[0])
	}
}
