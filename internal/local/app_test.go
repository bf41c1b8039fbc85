package local

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scenedex/scenedex/client"
	"github.com/scenedex/scenedex/internal/modelserver"
	"github.com/scenedex/scenedex/internal/pipeline"
	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/testvideo"
)

// These tests run the real thing end to end on 127.0.0.1: real ffmpeg on
// generated videos, the real S3 SDK and presigned URLs against the local
// endpoint, the real SageMaker runtime client against the local model server,
// real SQLite. Nothing is mocked.

const chunkSecs = 4

func startApp(t *testing.T, data string, model modelserver.Options) (*App, *client.Client) {
	t.Helper()
	app, err := Start(context.Background(), Config{
		Addr: "127.0.0.1:0", Data: data, ModelOptions: model,
		Pipeline: pipeline.Config{ChunkSeconds: chunkSecs, WindowChunks: 3},
		Runner:   Options{RetryBase: 50 * time.Millisecond, Poll: 50 * time.Millisecond, DropInSettle: 300 * time.Millisecond, SweepEvery: 200 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	return app, client.New(app.URL)
}

func uploadFile(t *testing.T, c *client.Client, path, collection string) string {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	created, err := c.CreateVideo(ctx, pipeline.UploadRequest{Filename: filepath.Base(path), Size: st.Size(), Collection: collection})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.PutFile(ctx, created.Upload, path, nil); err != nil {
		t.Fatal(err)
	}
	return created.Video.ID
}

func waitFinal(t *testing.T, c *client.Client, id string) scenedex.Video {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	v, err := c.Wait(ctx, id, 50*time.Millisecond, nil)
	if err != nil {
		t.Fatalf("video %s never reached a final state: %v (last %+v)", id, err, v)
	}
	return v
}

func TestUploadSearchDelete(t *testing.T) {
	dir := t.TempDir()
	app, c := startApp(t, filepath.Join(dir, "data"), modelserver.Options{})
	ctx := context.Background()
	// A and B hold the same three scenes in another order, one chunk each.
	a := testvideo.Make(t, dir, "clip A ü+%.mp4", testvideo.Spec{Scenes: []int{0, 1, 2}, SceneSecs: chunkSecs, Audio: true})
	b := testvideo.Make(t, dir, "b.mp4", testvideo.Spec{Scenes: []int{2, 0, 1}, SceneSecs: chunkSecs})
	idA, idB := uploadFile(t, c, a, "ads"), uploadFile(t, c, b, "ads")
	for _, id := range []string{idA, idB} {
		v := waitFinal(t, c, id)
		if v.Status != scenedex.StatusReady || v.ChunksTotal != 3 || v.ChunksDone != 3 {
			t.Fatalf("video %s: %+v", id, v)
		}
	}
	if v, _ := c.Video(ctx, idA); v.Filename != "clip A ü+%.mp4" || v.Duration < 11.9 {
		t.Errorf("video A record: %+v", v)
	}

	// --like A@1 (scene 0): A's own chunk is left out; B's chunk 1 holds scene 0.
	hits, err := c.Search(ctx, scenedex.Query{Like: &scenedex.LikeRef{VideoID: idA, T: 1}, K: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) == 0 || hits[0].VideoID != idB || hits[0].Chunk != 1 {
		t.Fatalf("like A@1: first hit %+v, want B chunk 1", hits)
	}
	// --image: a frame from scene 2 finds a scene-2 chunk (A chunk 2 or B chunk 0) first.
	img := testvideo.Frame(t, a, 2*chunkSecs+1.3)
	hits, err = c.Search(ctx, scenedex.Query{Image: img, K: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{scenedex.ChunkID(idA, 2): true, scenedex.ChunkID(idB, 0): true}
	if len(hits) != 2 || !want[scenedex.ChunkID(hits[0].VideoID, hits[0].Chunk)] || !want[scenedex.ChunkID(hits[1].VideoID, hits[1].Chunk)] {
		t.Fatalf("image search: %+v", hits)
	}
	// Hits carry working presigned links.
	for _, u := range []string{hits[0].ThumbURL, hits[0].ClipURL} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: %d", u, resp.StatusCode)
		}
	}
	// Collection filter.
	if hits, _ := c.Search(ctx, scenedex.Query{Image: img, Collection: "other"}); len(hits) != 0 {
		t.Errorf("collection filter let through %d hits", len(hits))
	}

	// Delete removes record, vectors and blobs.
	if err := c.Delete(ctx, idA); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Video(ctx, idA); apiCode(err) != scenedex.CodeNotFound {
		t.Errorf("after delete: %v", err)
	}
	if _, err := app.Index.Get(ctx, scenedex.ChunkID(idA, 0)); scenedex.ErrorCode(err) != scenedex.CodeNotFound {
		t.Errorf("vector survived delete: %v", err)
	}
	for _, d := range []string{filepath.Join("chunks", idA), filepath.Join("uploads", "ads", idA)} {
		if files := filesUnder(filepath.Join(app.S3.ObjectsDir(), d)); len(files) != 0 {
			t.Errorf("blobs survived delete: %v", files)
		}
	}
	if files := filesUnder(filepath.Join(app.S3.ObjectsDir(), "chunks", idB)); len(files) == 0 {
		t.Errorf("delete of A took B's chunks too")
	}
	hits, _ = c.Search(ctx, scenedex.Query{Image: img, K: 10})
	for _, h := range hits {
		if h.VideoID == idA {
			t.Errorf("deleted video still found")
		}
	}
}

func filesUnder(dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func apiCode(err error) scenedex.Code {
	if e, ok := err.(*client.APIError); ok {
		return e.Code
	}
	return ""
}

func TestBadVideosFailWithReason(t *testing.T) {
	dir := t.TempDir()
	_, c := startApp(t, filepath.Join(dir, "data"), modelserver.Options{})
	good := testvideo.Make(t, dir, "good.mp4", testvideo.Spec{Scenes: []int{0, 1}, SceneSecs: 3})
	notVideo := filepath.Join(dir, "notes.mp4")
	os.WriteFile(notVideo, bytes.Repeat([]byte("not a video\n"), 100), 0o644)
	tests := []struct {
		name, path, reason string
	}{
		{"not a video", notVideo, "Invalid data found when processing input"},
		{"audio only", testvideo.Audio(t, dir, "song.mp4", 3), "audio only"},
		{"truncated", testvideo.Truncate(t, good, filepath.Join(dir, "cut.mp4"), 3000), "moov atom not found"},
		// 36 megapixels of PNG in 100 KB: refused from the probe, before
		// any ffmpeg decodes it whole (#16: such a file took 12 GB).
		{"frame bomb", testvideo.FrameBomb(t, dir, "bomb.mkv", 6000, 6000), "frame size 6000×6000 exceeds the limit of 8192 pixels a side and 35.4 megapixels"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := waitFinal(t, c, uploadFile(t, c, tc.path, ""))
			if v.Status != scenedex.StatusFailed || !strings.Contains(v.Reason, tc.reason) {
				t.Fatalf("status %s reason %q, want FAILED with %q", v.Status, v.Reason, tc.reason)
			}
		})
	}
}

// lockedBuffer is a log sink a test reads while the server writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestDropIn(t *testing.T) {
	dir := t.TempDir()
	logs := &lockedBuffer{}
	app, err := Start(context.Background(), Config{
		Addr: "127.0.0.1:0", Data: filepath.Join(dir, "data"), Log: slog.New(slog.NewTextHandler(logs, nil)),
		Pipeline: pipeline.Config{ChunkSeconds: chunkSecs, WindowChunks: 3},
		Runner:   Options{RetryBase: 50 * time.Millisecond, Poll: 50 * time.Millisecond, DropInSettle: 300 * time.Millisecond, SweepEvery: 200 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	c := client.New(app.URL)
	ctx := context.Background()
	src := testvideo.Make(t, dir, "src.mp4", testvideo.Spec{Scenes: []int{3, 4}, SceneSecs: 3})
	place := func(rel string, data []byte) {
		p := filepath.Join(app.S3.ObjectsDir(), filepath.FromSlash(rel))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	video, _ := os.ReadFile(src)
	place("uploads/talks/week 1/lecture é+1.mp4", video)
	place("uploads/talks/empty.mp4", nil)
	place("uploads/Bad Name/x.mp4", video)
	want := map[string]struct {
		status scenedex.Status
		reason string
	}{
		"lecture é+1.mp4": {scenedex.StatusReady, ""},
		"empty.mp4":       {scenedex.StatusFailed, "empty"},
		"x.mp4":           {scenedex.StatusFailed, "not a valid collection"},
	}
	deadline := time.Now().Add(time.Minute)
	for {
		vs, err := c.Videos(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		final := 0
		for _, v := range vs {
			if v.Status.Final() {
				final++
			}
		}
		if len(vs) == len(want) && final == len(want) {
			for _, v := range vs {
				w := want[v.Filename]
				if v.Status != w.status || !strings.Contains(v.Reason, w.reason) {
					t.Errorf("%s: %s %q, want %s %q", v.Filename, v.Status, v.Reason, w.status, w.reason)
				}
				if v.Filename == "lecture é+1.mp4" && (v.Collection != "talks" || v.ChunksTotal != 2) {
					t.Errorf("drop-in record %+v", v)
				}
			}
			// More sweeps find nothing new: each file was picked up once.
			time.Sleep(time.Second)
			if n := strings.Count(logs.String(), "picked up a dropped file"); n != len(want) {
				t.Errorf("%d pick-ups logged for %d files:\n%s", n, len(want), logs.String())
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("drop-ins not all final: %+v", vs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestFlakyModelStillReady(t *testing.T) {
	dir := t.TempDir()
	_, c := startApp(t, filepath.Join(dir, "data"), modelserver.Options{FailRate: 0.3, Seed: 42})
	video := testvideo.Make(t, dir, "v.mp4", testvideo.Spec{Scenes: []int{0, 1, 2, 3, 4, 5}, SceneSecs: chunkSecs})
	v := waitFinal(t, c, uploadFile(t, c, video, ""))
	if v.Status != scenedex.StatusReady || v.ChunksDone != 6 {
		t.Fatalf("with 30%% model failures: %+v", v)
	}
}

func TestAPIErrors(t *testing.T) {
	dir := t.TempDir()
	app, c := startApp(t, filepath.Join(dir, "data"), modelserver.Options{})
	ctx := context.Background()
	tests := []struct {
		name, method, path, body string
		status                   int
		code                     scenedex.Code
	}{
		{"bad json", "POST", "/v1/videos", `{"filename":`, 400, scenedex.CodeInvalid},
		{"unknown field", "POST", "/v1/videos", `{"filename":"a.mp4","size":5,"colour":"red"}`, 400, scenedex.CodeInvalid},
		{"zero size", "POST", "/v1/videos", `{"filename":"a.mp4","size":0}`, 400, scenedex.CodeInvalid},
		{"too big", "POST", "/v1/videos", `{"filename":"a.mp4","size":99999999999999}`, 413, scenedex.CodeTooLarge},
		{"bad collection", "POST", "/v1/videos", `{"filename":"a.mp4","size":5,"collection":"Bad Name"}`, 400, scenedex.CodeInvalid},
		{"not video type", "POST", "/v1/videos", `{"filename":"a.txt","size":5,"content_type":"text/plain"}`, 400, scenedex.CodeInvalid},
		{"no filename", "POST", "/v1/videos", `{"size":5}`, 400, scenedex.CodeInvalid},
		{"unknown id", "GET", "/v1/videos/nope", ``, 404, scenedex.CodeNotFound},
		{"delete unknown", "DELETE", "/v1/videos/nope", ``, 404, scenedex.CodeNotFound},
		{"bad list collection", "GET", "/v1/videos?collection=UP", ``, 400, scenedex.CodeInvalid},
		{"empty search", "POST", "/v1/search", `{}`, 400, scenedex.CodeInvalid},
		{"two queries", "POST", "/v1/search", `{"text":"x","like":{"video_id":"a","t":1}}`, 400, scenedex.CodeInvalid},
		{"text on image model", "POST", "/v1/search", `{"text":"a crowd celebrating"}`, 400, scenedex.CodeUnsupported},
		{"like unknown", "POST", "/v1/search", `{"like":{"video_id":"nope","t":1}}`, 404, scenedex.CodeNotFound},
		{"bad image", "POST", "/v1/search", `{"image":"bm90IGFuIGltYWdl"}`, 400, scenedex.CodeInvalid},
		{"k too big", "POST", "/v1/search", `{"image":"bm90IGFuIGltYWdl","k":1000}`, 400, scenedex.CodeInvalid},
		{"no route", "GET", "/v1/nothing", ``, 404, scenedex.CodeNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(ctx, tc.method, app.URL+tc.path, strings.NewReader(tc.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != tc.status || body.Error.Code != string(tc.code) || body.Error.Message == "" {
				t.Errorf("%d %+v, want %d %s", resp.StatusCode, body.Error, tc.status, tc.code)
			}
		})
	}
	if _, err := c.Videos(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get(app.URL + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
}

func clientFor(app *App) *client.Client { return client.New(app.URL) }

func medianDur(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func TestMultipartUpload(t *testing.T) {
	dir := t.TempDir()
	app, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", Data: filepath.Join(dir, "data"),
		Pipeline: pipeline.Config{ChunkSeconds: chunkSecs, MultipartAbove: 1 << 20, PartSize: 5 << 20},
		Runner:   Options{Poll: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	c := client.New(app.URL)
	ctx := context.Background()
	// Noise compresses badly: a few seconds make a file of several parts.
	video := testvideo.Make(t, dir, "big.mp4", testvideo.Spec{Scenes: []int{3, 3}, SceneSecs: 3, Size: "1280x720", ExtraOutput: []string{"-qp", "0"}})
	st, _ := os.Stat(video)
	if st.Size() < 11<<20 {
		t.Fatalf("test video only %d bytes; want at least 3 parts", st.Size())
	}
	created, err := c.CreateVideo(ctx, pipeline.UploadRequest{Filename: "big.mp4", Size: st.Size()})
	if err != nil {
		t.Fatal(err)
	}
	up := created.Upload
	if up.URL != "" || len(up.Parts) < 3 || up.CompleteURL != "/v1/videos/"+created.Video.ID+"/complete" || up.Parts[1].Offset != 5<<20 {
		t.Fatalf("upload plan %+v", up)
	}
	// Completing before the parts are there is refused; so is completing
	// with fewer parts than the file has (S3 itself would take any subset).
	if err := c.Raw(ctx, "POST", up.CompleteURL, pipeline.CompleteRequest{Parts: []scenedex.Part{{Number: 1, ETag: `"nope"`}}}, nil); apiCode(err) != scenedex.CodeInvalid ||
		!strings.Contains(err.Error(), fmt.Sprintf("has %d parts; 1 were given", len(up.Parts))) {
		t.Fatalf("complete with one bogus part: %v", err)
	}
	bogus := make([]scenedex.Part, len(up.Parts))
	for i := range bogus {
		bogus[i] = scenedex.Part{Number: i + 1, ETag: `"0123456789abcdef0123456789abcdef"`}
	}
	if err := c.Raw(ctx, "POST", up.CompleteURL, pipeline.CompleteRequest{Parts: bogus}, nil); apiCode(err) != scenedex.CodeInvalid {
		t.Fatalf("complete with parts never sent: %v", err)
	}
	// Parts 2 and 3's URLs die before they are used (as URLs signed with a
	// Lambda's session do when it ends): S3 refuses them, and the client gets
	// them signed again and goes on.
	for i := 1; i <= 2; i++ {
		up.Parts[i].URL = strings.Replace(up.Parts[i].URL, "X-Amz-Signature=", "X-Amz-Signature=0", 1)
	}
	if up.PartsURL != "/v1/videos/"+created.Video.ID+"/parts" {
		t.Fatalf("parts url %q", up.PartsURL)
	}
	var bad pipeline.SignPartsResponse
	if err := c.Raw(ctx, "POST", up.PartsURL, pipeline.SignPartsRequest{Parts: []int{99}}, &bad); apiCode(err) != scenedex.CodeInvalid {
		t.Fatalf("re-sign a part that does not exist: %v", err)
	}
	if err := c.PutFile(ctx, up, video, nil); err != nil {
		t.Fatal(err)
	}
	v := waitFinal(t, c, created.Video.ID)
	if v.Status != scenedex.StatusReady || v.ChunksTotal != 2 || v.UploadID != "" {
		t.Fatalf("multipart video: %+v", v)
	}
	if err := c.Raw(ctx, "POST", up.PartsURL, pipeline.SignPartsRequest{}, &bad); apiCode(err) != scenedex.CodeConflict {
		t.Fatalf("re-sign after completion: %v", err)
	}
	stored, _ := os.Stat(filepath.Join(app.S3.ObjectsDir(), filepath.FromSlash(v.Key)))
	if stored == nil || stored.Size() != st.Size() {
		t.Fatalf("stored object %v, want %d bytes", stored, st.Size())
	}
	if err := c.Raw(ctx, "POST", up.CompleteURL, pipeline.CompleteRequest{Parts: []scenedex.Part{{Number: 1, ETag: "x"}}}, nil); apiCode(err) != scenedex.CodeConflict {
		t.Fatalf("second complete: %v", err)
	}
}

// A model that is down dead-letters every chunk and fails the video with the
// reason; once the model is back (a restart here), redriving the dead letters
// brings the same video to READY without re-uploading it.
func TestDeadLettersAndRedrive(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	opts := Options{RetryBase: 10 * time.Millisecond, Poll: 20 * time.Millisecond}
	app, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", Data: data, ModelOptions: modelserver.Options{FailRate: 1},
		Pipeline: pipeline.Config{ChunkSeconds: chunkSecs}, Runner: opts})
	if err != nil {
		t.Fatal(err)
	}
	c := client.New(app.URL)
	video := testvideo.Make(t, dir, "v.mp4", testvideo.Spec{Scenes: []int{0, 1}, SceneSecs: chunkSecs})
	id := uploadFile(t, c, video, "")
	v := waitFinal(t, c, id)
	if v.Status != scenedex.StatusFailed || !strings.Contains(v.Reason, "failed after 3 attempts") || !strings.Contains(v.Reason, "injected failure") {
		t.Fatalf("with the model down: %s %q", v.Status, v.Reason)
	}
	// Both chunks end up dead-lettered (the video failed with the first).
	var dl scenedex.DeadLetters
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if err := c.Raw(context.Background(), "GET", "/v1/dead-letters", nil, &dl); err != nil {
			t.Fatal(err)
		}
		if len(dl.Chunks) == 2 || time.Now().After(deadline) {
			break
		}
	}
	if len(dl.Chunks) != 2 || dl.Chunks[0].Attempts != 3 || !strings.Contains(dl.Chunks[0].LastError, "injected failure") {
		t.Fatalf("dead letters %+v", dl)
	}
	app.Close()

	app, c = startApp(t, data, modelserver.Options{})
	var out map[string]int
	if err := c.Raw(context.Background(), "POST", "/v1/dead-letters/redrive", struct{}{}, &out); err != nil || out["redriven"] != len(dl.Chunks) {
		t.Fatalf("redrive %v %v", out, err)
	}
	v = waitFinal(t, c, id)
	if v.Status != scenedex.StatusReady || v.ChunksDone != 2 || v.Reason != "" {
		t.Fatalf("after redrive: %+v", v)
	}
	if err := c.Raw(context.Background(), "GET", "/v1/dead-letters", nil, &dl); err != nil || len(dl.Chunks)+len(dl.Workflow) != 0 {
		t.Fatalf("dead letters left %+v %v", dl, err)
	}
	if n := app.Index.Len(); n != 2 {
		t.Fatalf("index holds %d docs, want 2", n)
	}
}

func TestTokenAndNonLoopback(t *testing.T) {
	dir := t.TempDir()
	if _, err := Start(context.Background(), Config{Addr: "0.0.0.0:0", Data: filepath.Join(dir, "a")}); err == nil ||
		!strings.Contains(err.Error(), "without a token") {
		t.Fatalf("non-loopback without a token: %v", err)
	}
	app, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", Data: filepath.Join(dir, "b"), Token: "s3cret-s3cret-s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	c := client.New(app.URL)
	if _, err := c.Videos(context.Background(), ""); apiCode(err) != scenedex.CodeUnauthenticated {
		t.Fatalf("without token: %v", err)
	}
	c.Token = "wrong"
	if _, err := c.Videos(context.Background(), ""); apiCode(err) != scenedex.CodeUnauthenticated {
		t.Fatalf("wrong token: %v", err)
	}
	c.Token = "s3cret-s3cret-s3cret"
	if _, err := c.Videos(context.Background(), ""); err != nil {
		t.Fatalf("right token: %v", err)
	}
	if resp, err := http.Get(app.URL + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz must stay open: %v", err)
	}
}

// An upload that never arrives ends FAILED once its URL has expired.
func TestAbandonedUploadFails(t *testing.T) {
	app, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", Data: filepath.Join(t.TempDir(), "data"),
		Pipeline: pipeline.Config{UploadTTL: time.Second}, Runner: Options{SweepEvery: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	c := client.New(app.URL)
	created, err := c.CreateVideo(context.Background(), pipeline.UploadRequest{Filename: "never.mp4", Size: 1000})
	if err != nil {
		t.Fatal(err)
	}
	v := waitFinal(t, c, created.Video.ID)
	if v.Status != scenedex.StatusFailed || !strings.Contains(v.Reason, "never completed") {
		t.Fatalf("abandoned upload: %s %q", v.Status, v.Reason)
	}
}

// Codecs MP4 cannot stream-copy are re-encoded; those it can are copied even
// from other containers.
func TestOddCodecs(t *testing.T) {
	dir := t.TempDir()
	_, c := startApp(t, filepath.Join(dir, "data"), modelserver.Options{})
	tests := []struct {
		name   string
		spec   testvideo.Spec
		silent bool
	}{
		{"mjpeg+pcm.avi", testvideo.Spec{VideoCodec: "mjpeg", AudioCodec: "pcm_s16le"}, false},
		{"vp9+opus.webm", testvideo.Spec{VideoCodec: "libvpx-vp9", AudioCodec: "libopus", ExtraOutput: []string{"-deadline", "realtime", "-cpu-used", "8"}}, false},
		{"mpeg2+mp2.mpg", testvideo.Spec{VideoCodec: "mpeg2video", AudioCodec: "mp2"}, false},
		{"tiny.mp4", testvideo.Spec{Scenes: []int{2}, SceneSecs: 0.4, Size: "160x96"}, false},
		// Animated GIFs are video to social teams.
		{"animated.gif", testvideo.Spec{VideoCodec: "gif", Size: "160x120", ExtraOutput: []string{"-r", "10"}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.spec
			spec.Audio = !tc.silent
			if spec.Scenes == nil {
				spec.Scenes, spec.SceneSecs = []int{0, 1}, chunkSecs
			}
			v := waitFinal(t, c, uploadFile(t, c, testvideo.Make(t, dir, tc.name, spec), "odd"))
			if v.Status != scenedex.StatusReady || v.ChunksTotal < len(spec.Scenes) {
				t.Fatalf("%s: %s %q (%d chunks)", tc.name, v.Status, v.Reason, v.ChunksTotal)
			}
		})
	}
}
