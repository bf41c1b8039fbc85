package osindex

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/scenedex/scenedex/internal/descriptor"
	"github.com/scenedex/scenedex/internal/modelserver"
	"github.com/scenedex/scenedex/internal/pipeline"
	"github.com/scenedex/scenedex/internal/s3blob"
	"github.com/scenedex/scenedex/internal/s3local"
	"github.com/scenedex/scenedex/internal/sagemaker"
	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/sqlite"
)

// meanColour stands in for a second model on the model server (the real
// CLIP backend is tested in package clip and through the local app): an
// image's vector is its mean colour.
type meanColour struct{}

func (meanColour) EmbedImages(_ context.Context, images [][]byte) ([][]float32, error) {
	out := make([][]float32, len(images))
	for i, b := range images {
		img, err := jpeg.Decode(bytes.NewReader(b))
		if err != nil {
			return nil, scenedex.Wrap(scenedex.CodeInvalid, err, "image %d", i)
		}
		var s [3]float32
		r := img.Bounds()
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				cr, cg, cb, _ := img.At(x, y).RGBA()
				s[0], s[1], s[2] = s[0]+float32(cr), s[1]+float32(cg), s[2]+float32(cb)
			}
		}
		out[i] = s[:]
	}
	return out, nil
}

func (meanColour) EmbedText(context.Context, string) ([]float32, error) {
	return nil, scenedex.Errorf(scenedex.CodeUnsupported, "images only")
}

type capture struct{ sent []scenedex.Chunk }

func (c *capture) SendChunks(_ context.Context, chunks []scenedex.Chunk) error {
	c.sent = append(c.sent, chunks...)
	return nil
}

func solid(t *testing.T, c color.Color) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for y := range 48 {
		for x := range 64 {
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// The cloud's composition of a model switch, run through the pipeline's own
// steps: the Switching index on OpenSearch (the multi-index stand-in), its
// state in a record store, the model server serving two models by name
// through the real SageMaker client, the real catalog and S3 client over
// local stand-ins. Search answers with the old model until the promotion,
// then with the new one.
func TestPipelineModelSwitchOnOpenSearch(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s3srv, err := s3local.New(s3local.Config{Dir: dir, Bucket: "media"})
	if err != nil {
		t.Fatal(err)
	}
	s3http := httptest.NewServer(s3srv)
	defer s3http.Close()
	blobs := s3blob.New(s3blob.LocalClient(s3http.URL, s3srv.AccessKey, s3srv.Secret), "media")
	cat, err := sqlite.OpenCatalog(ctx, filepath.Join(dir, "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	ms := modelserver.New(modelserver.Options{})
	ms.Add("mean-colour", meanColour{})
	model := httptest.NewServer(ms)
	defer model.Close()
	sm := sagemaker.New(sagemaker.LocalClient(model.URL), "scenedex")
	s, _, _ := newSwitching(t)
	s.Base.Dim = descriptor.Dim
	queue := &capture{}
	p := pipeline.New(pipeline.Config{SwitchPage: 1}, blobs, cat, s, sm, queue, nil, nil) // a video a page
	p.Models = sagemaker.Models{E: sm}

	// Two chunks indexed with the descriptor: a red one and a blue one.
	colours := []color.Color{color.RGBA{200, 20, 20, 255}, color.RGBA{20, 20, 200, 255}}
	v := scenedex.Video{ID: "v1", Collection: "default", Filename: "v.mp4", Key: "uploads/default/v.mp4", Status: scenedex.StatusProcessing, ChunksTotal: 2}
	if err := cat.Create(ctx, v); err != nil {
		t.Fatal(err)
	}
	for i, c := range colours {
		key := "chunks/v1/0000" + string(rune('0'+i)) + "/frame-00.jpg"
		if err := blobs.Put(ctx, key, bytes.NewReader(solid(t, c)), "image/jpeg"); err != nil {
			t.Fatal(err)
		}
		chunk := scenedex.Chunk{VideoID: "v1", Index: i, Start: float64(i * 10), End: float64(i*10 + 10), Collection: "default",
			FrameKeys: []string{key}, ThumbKey: key, ClipKey: key}
		if _, err := p.EmbedChunk(ctx, chunk); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cat.Update(ctx, "v1", func(v *scenedex.Video) error { v.Status = scenedex.StatusReady; return nil }); err != nil {
		t.Fatal(err)
	}
	if live, _, _ := s.LiveModel(ctx); live != descriptor.Name {
		t.Fatalf("live model %q", live)
	}

	if _, err := p.SwitchModel(ctx, "nope"); scenedex.ErrorCode(err) != scenedex.CodeInvalid {
		t.Errorf("a model the endpoint does not serve: %v", err)
	}
	st, err := p.SwitchModel(ctx, "mean-colour")
	if err != nil || st.Switch == nil || st.Switch.Total != 2 || st.Switch.Done != 0 || len(queue.sent) != 1 || queue.sent[0].SwitchPage != "start" {
		t.Fatalf("switch: %+v %v, %+v queued", st, err, queue.sent)
	}
	red := solid(t, colours[0])
	hits, err := p.Search(ctx, scenedex.Query{Image: red, K: 1})
	if err != nil || len(hits) != 1 || hits[0].Chunk != 0 {
		t.Fatalf("search during the switch: %+v %v", hits, err)
	}
	// A video indexed during the switch gets both vectors at once.
	if err := cat.Create(ctx, scenedex.Video{ID: "v2", Collection: "default", Key: "uploads/default/w.mp4", Status: scenedex.StatusProcessing,
		ChunksTotal: 1}); err != nil {
		t.Fatal(err)
	}
	if err := blobs.Put(ctx, "chunks/v2/00000/frame-00.jpg", bytes.NewReader(solid(t, color.RGBA{20, 200, 20, 255})), "image/jpeg"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.EmbedChunk(ctx, scenedex.Chunk{VideoID: "v2", Collection: "default", End: 10, FrameKeys: []string{"chunks/v2/00000/frame-00.jpg"},
		ThumbKey: "chunks/v2/00000/frame-00.jpg", ClipKey: "chunks/v2/00000/frame-00.jpg"}); err != nil {
		t.Fatal(err)
	}
	if st, err := p.ModelStatus(ctx); err != nil || st.Switch == nil || st.Switch.Done != 1 || st.Switch.Total != 3 {
		t.Fatalf("after a new video: %+v %v", st.Switch, err)
	}
	// The queue's messages, as the embed function takes them: each page
	// queues a message per chunk of its video, then the next page's message.
	for i := 0; i < len(queue.sent); i++ {
		c := queue.sent[i]
		if !pipeline.SwitchMessage(c) || c.NextModel != "mean-colour" {
			t.Fatalf("message %+v", c)
		}
		if err := p.EmbedNext(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	pages := 0
	for _, c := range queue.sent {
		if c.SwitchPage != "" {
			pages++
		}
	}
	if len(queue.sent) != 5 || pages != 2 {
		t.Errorf("%d messages, %d pages: %+v", len(queue.sent), pages, queue.sent)
	}
	st, err = p.ModelStatus(ctx)
	if err != nil || st.Model != "mean-colour" || st.Switch != nil {
		t.Fatalf("after the last chunk: %+v %v", st, err)
	}
	hits, err = p.Search(ctx, scenedex.Query{Image: red, K: 3})
	if err != nil || len(hits) != 3 || hits[0].VideoID != "v1" || hits[0].Chunk != 0 || hits[0].Score < 0.99 {
		t.Fatalf("search with the new model: %+v %v", hits, err)
	}
	d, err := s.Get(ctx, "v1:1")
	if err != nil || len(d.Vector) != 3 {
		t.Errorf("the live doc after the switch: %+v %v", d, err)
	}
}
