package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scenedex/scenedex/internal/modelserver"
	"github.com/scenedex/scenedex/internal/pipeline"
	"github.com/scenedex/scenedex/internal/s3blob"
	"github.com/scenedex/scenedex/internal/sagemaker"
	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/sqlite"
	"github.com/scenedex/scenedex/internal/vecindex"
)

// unitText embeds any text as the same unit vector: a model that embeds
// text, for the model server to answer slowly.
type unitText struct{ scenedex.Embedder }

func (unitText) EmbedText(context.Context, string) ([]float32, error) { return []float32{1, 0}, nil }

type readsWords struct{}

func (readsWords) ReadText(_ context.Context, images [][]byte) ([][]scenedex.TextLine, error) {
	return make([][]scenedex.TextLine, len(images)), nil
}

// POST /v1/search with a model slower than the search's budget: 200 with
// the words' hits and the note that says the picture part was skipped.
func TestSearchNoteWhenTheModelIsSlow(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cat, err := sqlite.OpenCatalog(ctx, filepath.Join(dir, "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	ix, err := vecindex.Open(ctx, filepath.Join(dir, "i.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	cat.Create(ctx, scenedex.Video{ID: "a", Collection: "ads", Key: "uploads/a.mp4", Status: scenedex.StatusReady, ChunksTotal: 1})
	ix.Upsert(ctx, []scenedex.Doc{{Chunk: scenedex.Chunk{VideoID: "a", Collection: "ads", Filename: "a.mp4", End: 10,
		ThumbKey: "chunks/a/0/t.jpg", ClipKey: "chunks/a/0/c.mp4"}, Vector: []float32{1, 0},
		Lines: []scenedex.TextLine{{Text: "big sale", Confidence: 0.9}}}})
	model := httptest.NewServer(modelserver.New(modelserver.Options{Delay: time.Second, Embedder: unitText{}, EmbedderName: "clip"}))
	defer model.Close()
	embed := sagemaker.New(sagemaker.LocalClient(model.URL), "scenedex-endpoint").ForModel("clip")
	blobs := s3blob.New(s3blob.LocalClient("http://127.0.0.1:9", "a", "b"), "media") // presigns only
	p := pipeline.New(pipeline.Config{SearchModelBudget: 100 * time.Millisecond}, blobs, cat, ix, embed, nil, nil, slog.Default())
	p.Reader = readsWords{}
	rec := httptest.NewRecorder()
	New(p, nil).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/search", strings.NewReader(`{"text":"sale"}`)))
	var res SearchResponse
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &res) != nil {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if len(res.Hits) != 1 || !strings.HasPrefix(res.Note, "words only") {
		t.Errorf("hits %+v note %q: want the words' hit and a note", res.Hits, res.Note)
	}
}
