package local

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scenedex/scenedex/client"
	"github.com/scenedex/scenedex/internal/assets"
	"github.com/scenedex/scenedex/internal/modelserver"
	"github.com/scenedex/scenedex/internal/pipeline"
	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/testvideo"
)

// startOCRApp is startApp with OCR on (the real PP-OCRv4 models through the
// real ONNX Runtime, from `make models`).
func startOCRApp(t *testing.T, data string) (*App, *client.Client) {
	t.Helper()
	app, err := Start(context.Background(), Config{
		Addr: "127.0.0.1:0", Data: data, OCR: true, Assets: assets.Dir(),
		Pipeline: pipeline.Config{ChunkSeconds: chunkSecs, WindowChunks: 3},
		Runner:   Options{RetryBase: 50 * time.Millisecond, Poll: 50 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	return app, client.New(app.URL)
}

// wordsVideo is 12 s of 720p (three 4 s chunks, a keyframe a second) with
// text drawn at known times: static, moving, two lines, Chinese.
func wordsVideo(t *testing.T, dir string) string {
	overlay := strings.Join([]string{
		testvideo.Text("GRAND OPENING TODAY", "dejavu/DejaVuSans-Bold.ttf", 44, "white", "120", "140", 0, 4),
		testvideo.Text("Fresh coffee roasted daily", "liberation2/LiberationSans-Regular.ttf", 32, "yellow", "60+60*(t-4)", "500", 4, 8),
		testvideo.Text("two for one", "liberation2/LiberationSans-Regular.ttf", 32, "yellow", "60+60*(t-4)", "545", 4, 8),
		testvideo.Text("限时优惠", "wqy/wqy-microhei.ttc", 40, "white", "400", "300", 8, 12),
	}, ",")
	return testvideo.Make(t, dir, "store promo.mp4", testvideo.Spec{
		Scenes: []int{1, 0, 5}, SceneSecs: chunkSecs, Size: "1280x720", GOP: 25, Overlay: overlay,
	})
}

// TestWordsOnScreen: upload a video with text on screen; text searches find
// the chunk that shows it first, say why, mark the words and give the second
// they appear; a word never shown finds nothing.
func TestWordsOnScreen(t *testing.T) {
	dir := t.TempDir()
	_, c := startOCRApp(t, filepath.Join(dir, "data"))
	id := uploadFile(t, c, wordsVideo(t, dir), "ads")
	if v := waitFinal(t, c, id); v.Status != scenedex.StatusReady {
		t.Fatalf("video %+v", v)
	}
	ctx := context.Background()
	cases := []struct {
		q     string
		chunk int
		word  string // a word that must be marked in the first hit's text
		from  float64
		to    float64
	}{
		{"grand opening", 0, "OPENING", 0, 4},
		{"coffee", 1, "coffee", 4, 8},             // moving text
		{`"two for one"`, 1, "two for one", 4, 8}, // an exact phrase, second line
		{"限时优惠", 2, "限", 8, 12},                   // non-ASCII
		{"roasted coffee", 1, "roasted", 4, 8},
	}
	for _, tc := range cases {
		hits, err := c.Search(ctx, scenedex.Query{Text: tc.q, K: 5})
		if err != nil {
			t.Fatalf("%q: %v", tc.q, err)
		}
		if len(hits) == 0 || hits[0].VideoID != id || hits[0].Chunk != tc.chunk {
			t.Errorf("%q: hits %+v, want chunk %d first", tc.q, hits, tc.chunk)
			continue
		}
		h := hits[0]
		if len(h.Matched) != 1 || h.Matched[0] != scenedex.MatchWords || h.ThumbURL == "" || h.ClipURL == "" {
			t.Errorf("%q: matched %v thumb %q", tc.q, h.Matched, h.ThumbURL)
		}
		marked := false
		for _, l := range h.Text {
			for _, m := range l.Marks {
				if strings.EqualFold(l.Text[m[0]:m[1]], tc.word) || strings.Contains(l.Text[m[0]:m[1]], tc.word) {
					marked = true
				}
			}
			if l.T < tc.from || l.T >= tc.to {
				t.Errorf("%q: line %q seen at %.2f s, drawn from %v to %v s", tc.q, l.Text, l.T, tc.from, tc.to)
			}
		}
		if !marked {
			t.Errorf("%q: %q not marked in %+v", tc.q, tc.word, h.Text)
		}
	}
	// A phrase in the wrong order, and a word never shown: nothing.
	for _, q := range []string{`"opening grand"`, "zeppelin"} {
		hits, err := c.Search(ctx, scenedex.Query{Text: q})
		if err != nil || len(hits) != 0 {
			t.Errorf("%q: %+v %v, want no hits", q, hits, err)
		}
	}
	// The filename is searchable; the collection filter applies.
	if hits, err := c.Search(ctx, scenedex.Query{Text: "promo", Collection: "ads"}); err != nil || len(hits) != 3 {
		t.Errorf("filename: %d hits %v", len(hits), err)
	}
	if hits, err := c.Search(ctx, scenedex.Query{Text: "coffee", Collection: "talks"}); err != nil || len(hits) != 0 {
		t.Errorf("other collection: %+v %v", hits, err)
	}
}

// TestTextSearchRefusedWithoutOCR: the built-in model embeds no text, so
// with OCR off a text search is refused with a clear reason.
func TestTextSearchRefusedWithoutOCR(t *testing.T) {
	_, c := startApp(t, filepath.Join(t.TempDir(), "data"), modelserver.Options{})
	_, err := c.Search(context.Background(), scenedex.Query{Text: "crowd"})
	if apiCode(err) != scenedex.CodeUnsupported || !strings.Contains(err.Error(), "OCR is off") {
		t.Fatalf("got %v", err)
	}
}

// TestReindexAddsWords: a video indexed with OCR off gets its words when the
// server, restarted with OCR on, re-indexes it from the stored frames; the
// picture search keeps answering throughout and nothing is duplicated.
func TestReindexAddsWords(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	app, c := startApp(t, data, modelserver.Options{})
	id := uploadFile(t, c, wordsVideo(t, dir), "ads")
	if v := waitFinal(t, c, id); v.Status != scenedex.StatusReady {
		t.Fatalf("video %+v", v)
	}
	app.Close()

	app, c = startOCRApp(t, data)
	ctx := context.Background()
	if hits, err := c.Search(ctx, scenedex.Query{Text: "grand opening"}); err != nil || len(hits) != 0 {
		t.Fatalf("words found before reindex: %+v %v", hits, err)
	}
	if _, err := c.Reindex(ctx, pipeline.ReindexRequest{VideoID: "nope"}); apiCode(err) != scenedex.CodeNotFound {
		t.Fatalf("unknown video: %v", err)
	}
	if _, err := c.Reindex(ctx, pipeline.ReindexRequest{Collection: "Bad Name"}); apiCode(err) != scenedex.CodeInvalid {
		t.Fatalf("bad collection: %v", err)
	}
	res, err := c.Reindex(ctx, pipeline.ReindexRequest{Collection: "ads"})
	if err != nil || res.Videos != 1 || res.Chunks != 3 || res.Missing != 0 {
		t.Fatalf("reindex %+v %v", res, err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := c.Search(ctx, scenedex.Query{Like: &scenedex.LikeRef{VideoID: id, T: 1}}); err != nil {
			t.Fatalf("picture search during reindex: %v", err)
		}
		hits, err := c.Search(ctx, scenedex.Query{Text: "grand opening"})
		if err == nil && len(hits) > 0 {
			if hits[0].Chunk != 0 || len(hits[0].Text) == 0 {
				t.Fatalf("after reindex: %+v", hits)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("words never appeared: %v %v", hits, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitQueueEmpty(t, app)
	if v, _ := c.Video(ctx, id); v.Status != scenedex.StatusReady || v.ChunksDone != 3 || app.Index.Len() != 3 {
		t.Fatalf("after reindex: %+v, %d docs", v, app.Index.Len())
	}
	if hits, err := c.Search(ctx, scenedex.Query{Text: "限时优惠"}); err != nil || len(hits) == 0 || hits[0].Chunk != 2 {
		t.Fatalf("CJK after reindex: %+v %v", hits, err)
	}
}

func waitQueueEmpty(t *testing.T, app *App) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		n, err := app.Runner.Chunks.Pending(context.Background())
		if err == nil && n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue never drained: %d %v", n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Query images are checked from their header and scaled down to what the
// model needs: a 4000x3000 photo of a scene still finds it; an image that
// claims 16000x16000 pixels is refused before it is decoded.
func TestLargeQueryImages(t *testing.T) {
	dir := t.TempDir()
	_, c := startApp(t, filepath.Join(dir, "data"), modelserver.Options{})
	video := testvideo.Make(t, dir, "v.mp4", testvideo.Spec{Scenes: []int{0, 1, 2}, SceneSecs: chunkSecs})
	id := uploadFile(t, c, video, "")
	if v := waitFinal(t, c, id); v.Status != scenedex.StatusReady {
		t.Fatalf("%+v", v)
	}
	frame := filepath.Join(dir, "frame.jpg")
	big := filepath.Join(dir, "big.jpg")
	os.WriteFile(frame, testvideo.Frame(t, video, 5), 0o644)
	if out, err := exec.Command("ffmpeg", "-v", "error", "-y", "-i", frame, "-vf", "scale=4000:3000", "-q:v", "2", big).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	data, _ := os.ReadFile(big)
	hits, err := c.Search(context.Background(), scenedex.Query{Image: data, K: 1})
	if err != nil || len(hits) != 1 || hits[0].Chunk != 1 {
		t.Fatalf("a %d-byte 4000x3000 query: %+v %v", len(data), hits, err)
	}
	var b bytes.Buffer
	png.Encode(&b, image.NewGray(image.Rect(0, 0, 1, 1)))
	huge := b.Bytes()
	binary.BigEndian.PutUint32(huge[16:20], 16000)
	binary.BigEndian.PutUint32(huge[20:24], 16000)
	binary.BigEndian.PutUint32(huge[29:33], crc32.ChecksumIEEE(huge[12:29]))
	if _, err := c.Search(context.Background(), scenedex.Query{Image: huge}); apiCode(err) != scenedex.CodeInvalid || !strings.Contains(err.Error(), "megapixels") {
		t.Fatalf("16000x16000: %v", err)
	}
}

// GET /v1/videos pages: limit and cursor through the real API.
func TestListVideosInPages(t *testing.T) {
	_, c := startApp(t, filepath.Join(t.TempDir(), "data"), modelserver.Options{})
	ctx := context.Background()
	for i := range 3 {
		if _, err := c.CreateVideo(ctx, pipeline.UploadRequest{Filename: fmt.Sprintf("v%d.mp4", i), Size: 10, Collection: "ads"}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := c.VideosPage(ctx, scenedex.ListQuery{Collection: "ads", Limit: 2})
	if err != nil || len(first.Videos) != 2 || first.Next == "" {
		t.Fatalf("first page %+v %v", first, err)
	}
	second, err := c.VideosPage(ctx, scenedex.ListQuery{Collection: "ads", Limit: 2, Cursor: first.Next})
	if err != nil || len(second.Videos) != 1 || second.Next != "" || second.Videos[0].ID == first.Videos[0].ID || second.Videos[0].ID == first.Videos[1].ID {
		t.Fatalf("second page %+v %v", second, err)
	}
	if all, err := c.Videos(ctx, ""); err != nil || len(all) != 3 {
		t.Fatalf("all: %d %v", len(all), err)
	}
	var out map[string]any
	if err := c.Raw(ctx, "GET", "/v1/videos?limit=lots", nil, &out); apiCode(err) != scenedex.CodeInvalid {
		t.Fatalf("bad limit: %v", err)
	}
	if err := c.Raw(ctx, "GET", "/v1/videos?cursor=nope", nil, &out); apiCode(err) != scenedex.CodeInvalid {
		t.Fatalf("bad cursor: %v", err)
	}
}

// A FAILED video gets a second run: the model was down, it is back, and
// reprocess takes the video to READY without re-uploading. Only FAILED
// videos with their upload still there can be reprocessed.
func TestReprocessFailedVideo(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	app, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", Data: data, ModelOptions: modelserver.Options{FailRate: 1},
		Pipeline: pipeline.Config{ChunkSeconds: chunkSecs}, Runner: Options{RetryBase: 10 * time.Millisecond, Poll: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	c := client.New(app.URL)
	id := uploadFile(t, c, testvideo.Make(t, dir, "v.mp4", testvideo.Spec{Scenes: []int{0, 1}, SceneSecs: chunkSecs}), "")
	if v := waitFinal(t, c, id); v.Status != scenedex.StatusFailed {
		t.Fatalf("with the model down: %+v", v)
	}
	app.Close()

	app, c = startApp(t, data, modelserver.Options{})
	ctx := context.Background()
	v, err := c.Reprocess(ctx, id)
	if err != nil || v.Status != scenedex.StatusUploading || v.Reason != "" {
		t.Fatalf("reprocess: %+v %v", v, err)
	}
	if v = waitFinal(t, c, id); v.Status != scenedex.StatusReady || v.ChunksDone != v.ChunksTotal || app.Index.Len() != v.ChunksTotal {
		t.Fatalf("after reprocess: %+v, %d docs", v, app.Index.Len())
	}
	if _, err := c.Reprocess(ctx, id); apiCode(err) != scenedex.CodeConflict {
		t.Fatalf("reprocess of a READY video: %v", err)
	}
	if _, err := c.Reprocess(ctx, "nope"); apiCode(err) != scenedex.CodeNotFound {
		t.Fatalf("unknown video: %v", err)
	}
	// A FAILED video whose upload is gone says so.
	bad := uploadFile(t, c, testvideo.Audio(t, dir, "song.mp4", 2), "")
	if v := waitFinal(t, c, bad); v.Status != scenedex.StatusFailed {
		t.Fatalf("audio: %+v", v)
	}
	if err := app.Pipeline.Blobs.Delete(ctx, mustVideo(t, c, bad).Key); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Reprocess(ctx, bad); apiCode(err) != scenedex.CodeNotFound || !strings.Contains(err.Error(), "gone") {
		t.Fatalf("upload gone: %v", err)
	}
}

func mustVideo(t *testing.T, c *client.Client, id string) scenedex.Video {
	t.Helper()
	v, err := c.Video(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A text search by meaning through the whole local path — API, SageMaker
// client, model server, the CLIP backend on ONNX Runtime — with the tiny
// fixture (internal/clip/testdata/tiny-clip), whose embeddings live in RGB
// space: "red" finds the red scene, "blue" the blue one, matched by picture.
func TestTextSearchByMeaning(t *testing.T) {
	dir := t.TempDir()
	app, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", Data: filepath.Join(dir, "data"),
		Model: filepath.Join("..", "clip", "testdata", "tiny-clip"), Assets: assets.Dir(),
		Pipeline: pipeline.Config{ChunkSeconds: chunkSecs, WindowChunks: 3}, Runner: Options{Poll: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	c := client.New(app.URL)
	// Scene 3 is red noise, scene 5 a blue grid, scene 1 colour bars.
	id := uploadFile(t, c, testvideo.Make(t, dir, "colours.mp4", testvideo.Spec{Scenes: []int{1, 3, 5}, SceneSecs: chunkSecs}), "")
	if v := waitFinal(t, c, id); v.Status != scenedex.StatusReady {
		t.Fatalf("%+v", v)
	}
	for q, chunk := range map[string]int{"red": 1, "blue": 2, "a BLUE grid": 2} {
		hits, err := c.Search(context.Background(), scenedex.Query{Text: q, K: 3})
		if err != nil || len(hits) != 3 || hits[0].Chunk != chunk || hits[0].Matched[0] != scenedex.MatchPicture {
			t.Errorf("%q: %+v %v", q, hits, err)
		}
	}
}
