package pipeline

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/sqlite"
	"github.com/scenedex/scenedex/internal/vecindex"
)

// textModel embeds known phrases as given vectors (a stand-in for a CLIP
// model, whose real path is tested in internal/clip and internal/local);
// unknown text is CodeUnsupported, as an image-only model answers.
type textModel map[string][]float32

func (m textModel) EmbedImages(_ context.Context, imgs [][]byte) ([][]float32, error) {
	out := make([][]float32, len(imgs))
	for i := range imgs {
		out[i] = []float32{1, 0}
	}
	return out, nil
}

func (m textModel) EmbedText(_ context.Context, text string) ([]float32, error) {
	if v, ok := m[text]; ok {
		return v, nil
	}
	return nil, scenedex.Errorf(scenedex.CodeUnsupported, "this model embeds no text")
}

// signer presigns nothing real: it names the key, so the test sees which
// object each link points at (the real presigning is s3blob's, tested there).
type signer struct{ scenedex.Blobs }

func (signer) PresignGet(_ context.Context, key string, _ time.Duration) (string, error) {
	return "signed:" + key, nil
}

type ocrOn struct{}

func (ocrOn) ReadText(context.Context, [][]byte) ([][]scenedex.TextLine, error) { return nil, nil }

func conceptsPipeline(t *testing.T) *Pipeline {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	cat, err := sqlite.OpenCatalog(ctx, filepath.Join(dir, "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	ix, err := vecindex.Open(ctx, filepath.Join(dir, "i.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	for _, id := range []string{"a", "b"} {
		cat.Create(ctx, scenedex.Video{ID: id, Collection: "ads-" + id, Key: "uploads/" + id + ".mp4", Status: scenedex.StatusReady, Duration: 40, ChunksTotal: 4})
	}
	doc := func(video string, i int, vec []float32, screen ...string) scenedex.Doc {
		d := scenedex.Doc{Chunk: scenedex.Chunk{VideoID: video, Index: i, Start: float64(i * 10), End: float64(i*10 + 10),
			Collection: "ads-" + video, Filename: video + ".mp4", ThumbKey: "thumb/" + video, ClipKey: "clip/" + video}, Vector: vec}
		for _, s := range screen {
			d.Lines = append(d.Lines, scenedex.TextLine{Text: s, Confidence: 0.9, T: float64(i*10 + 1)})
		}
		return d
	}
	if err := ix.Upsert(ctx, []scenedex.Doc{
		doc("a", 0, []float32{1, 0}),                       // cosine 1 with "beach"
		doc("a", 1, []float32{0.8, 0.6}),                   // 0.8
		doc("a", 2, []float32{0.6, 0.8}, "BEACH PARTY"),    // 0.6, and both words on screen
		doc("b", 0, []float32{0, 1}, "beach"),              // 0: one word of "beach party" only
		doc("b", 1, []float32{0, 1}, "Party at the beach"), // 0, words in another order
		doc("b", 2, []float32{-1, 0}),
	}); err != nil {
		t.Fatal(err)
	}
	return &Pipeline{Catalog: cat, Index: ix, Blobs: signer{},
		Embedder: textModel{"beach party": {1, 0}, "water": {0, 1}}, Reader: ocrOn{}, cfg: Config{}.withDefaults()}
}

func TestConceptsCount(t *testing.T) {
	ctx := context.Background()
	p := conceptsPipeline(t)
	th := 0.5
	res, err := p.Concepts(ctx, ConceptsRequest{Threshold: &th, Best: 2, Concepts: []Concept{
		{Text: "beach party"}, {Text: "water", Label: "H2O"}, {Text: "beach"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Concepts) != 3 || res.Threshold != 0.5 {
		t.Fatalf("got %+v", res)
	}
	beach := res.Concepts[0]
	// Picture: a0 (1), a1 (0.8), a2 (0.6); words: a2 and b1 show both words.
	if beach.Count != 4 || beach.ByPicture != 3 || beach.ByWords != 2 || beach.Capped {
		t.Errorf("beach party: %+v", beach)
	}
	if beach.ByCollection["ads-a"] != 3 || beach.ByCollection["ads-b"] != 1 {
		t.Errorf("beach party by collection: %v", beach.ByCollection)
	}
	if len(beach.Best) != 2 {
		t.Fatalf("best: %+v", beach.Best)
	}
	// Best first: the cosine of 1, then the words-only scene (score 1).
	if b := beach.Best[0]; b.VideoID != "a" || b.Chunk != 0 || b.Score != 1 || b.VideoURL != "signed:uploads/a.mp4" || b.ThumbURL != "signed:thumb/a" {
		t.Errorf("best[0] = %+v", b)
	}
	if b := beach.Best[1]; b.VideoID != "b" || b.Chunk != 1 || b.Score != 1 || b.Matched[0] != scenedex.MatchWords || len(b.Text) != 1 || len(b.Text[0].Marks) != 2 {
		t.Errorf("best[1] = %+v", b)
	}
	// "water" is [0,1]: a1 0.6, a2 0.8, b0 1, b1 1 reach 0.5; no words.
	if w := res.Concepts[1]; w.Label != "H2O" || w.Count != 4 || w.ByWords != 0 || w.ByCollection["ads-b"] != 2 {
		t.Errorf("water: %+v", w)
	}
	// Not embeddable: words alone (a2, b0, b1 show "beach").
	if c := res.Concepts[2]; c.Count != 3 || c.ByPicture != 0 || c.ByWords != 3 || c.ByCollection["ads-b"] != 2 || !strings.Contains(c.Note, "does not embed text") {
		t.Errorf("beach: %+v", c)
	}

	// A higher threshold counts fewer by picture.
	th = 0.9
	res, err = p.Concepts(ctx, ConceptsRequest{Threshold: &th, Concepts: []Concept{{Text: "beach party"}, {Image: testJPEG(t)}}})
	if err != nil {
		t.Fatal(err)
	}
	if c := res.Concepts[0]; c.Count != 3 || c.ByPicture != 1 {
		t.Errorf("beach party at 0.9: %+v", c)
	}
	if c := res.Concepts[1]; c.Kind != "image" || c.Label != "image" || c.Count != 1 || c.Best[0].Chunk != 0 {
		t.Errorf("image at 0.9: %+v", c)
	}
}

func TestConceptsRefused(t *testing.T) {
	ctx := context.Background()
	p := conceptsPipeline(t)
	bad, big := -2.0, 1.5
	for _, tc := range []struct {
		name string
		req  ConceptsRequest
		code scenedex.Code
	}{
		{"none", ConceptsRequest{}, scenedex.CodeInvalid},
		{"too many", ConceptsRequest{Concepts: make([]Concept, MaxConcepts+1)}, scenedex.CodeInvalid},
		{"empty concept", ConceptsRequest{Concepts: []Concept{{}}}, scenedex.CodeInvalid},
		{"both", ConceptsRequest{Concepts: []Concept{{Text: "x", Image: []byte{1}}}}, scenedex.CodeInvalid},
		{"threshold low", ConceptsRequest{Threshold: &bad, Concepts: []Concept{{Text: "beach party"}}}, scenedex.CodeInvalid},
		{"threshold high", ConceptsRequest{Threshold: &big, Concepts: []Concept{{Text: "beach party"}}}, scenedex.CodeInvalid},
		{"best", ConceptsRequest{Best: MaxConceptBest + 1, Concepts: []Concept{{Text: "beach party"}}}, scenedex.CodeInvalid},
		{"collection", ConceptsRequest{Collection: "Bad Name", Concepts: []Concept{{Text: "beach party"}}}, scenedex.CodeInvalid},
		{"not an image", ConceptsRequest{Concepts: []Concept{{Image: []byte("hello")}}}, scenedex.CodeInvalid},
		{"no words", ConceptsRequest{Concepts: []Concept{{Text: "!!!"}}}, scenedex.CodeInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := p.Concepts(ctx, tc.req); scenedex.ErrorCode(err) != tc.code {
				t.Errorf("err %v, want %s", err, tc.code)
			}
		})
	}
	// Without OCR and a text model, words cannot be answered at all.
	p.Reader = nil
	_, err := p.Concepts(ctx, ConceptsRequest{Concepts: []Concept{{Text: "sunset"}}})
	if scenedex.ErrorCode(err) != scenedex.CodeUnsupported {
		t.Errorf("no OCR, no text model: %v", err)
	}
}

func testJPEG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 32, 24))
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
