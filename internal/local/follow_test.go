package local

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/scenedex/scenedex/internal/modelserver"
	"github.com/scenedex/scenedex/internal/pipeline"
	"github.com/scenedex/scenedex/internal/s3blob"
	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/testvideo"
)

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
	}
}

// gone checks that nothing of video id is left: record, documents, chunk
// files.
func gone(t *testing.T, app *App, id string) {
	t.Helper()
	ctx := context.Background()
	if _, err := app.Catalog.Get(ctx, id); scenedex.ErrorCode(err) != scenedex.CodeNotFound {
		t.Errorf("record of %s: %v", id, err)
	}
	for i := range 4 {
		if _, err := app.Index.Get(ctx, scenedex.ChunkID(id, i)); scenedex.ErrorCode(err) != scenedex.CodeNotFound {
			t.Errorf("document %s: %v", scenedex.ChunkID(id, i), err)
		}
	}
	if files := filesUnder(filepath.Join(app.S3.ObjectsDir(), "chunks", id)); len(files) != 0 {
		t.Errorf("chunk files of %s: %v", id, files)
	}
}

// retired waits for a video's record to go (an older version retired by
// Finalize just after the new one turns READY, or a deleted object's video;
// the record goes last) and checks that nothing of it is left.
func retired(t *testing.T, app *App, id string) {
	t.Helper()
	eventually(t, "video "+id+" retired", 20*time.Second, func() bool {
		_, err := app.Catalog.Get(context.Background(), id)
		return scenedex.ErrorCode(err) == scenedex.CodeNotFound
	})
	gone(t, app, id)
}

// newVersion waits for the video of key that is not old, and returns it.
func newVersion(t *testing.T, app *App, key, old string) scenedex.Video {
	t.Helper()
	var fresh scenedex.Video
	eventually(t, "a new version of "+key, 20*time.Second, func() bool {
		vs, _ := app.Catalog.ByKey(context.Background(), key)
		for _, v := range vs {
			if v.ID != old {
				fresh = v
				return true
			}
		}
		return false
	})
	return fresh
}

// The catalog follows the bucket: deleting an object under uploads/ with an
// S3 client (one DELETE, or a multi-object delete) removes the video made
// from it; other videos and objects stay.
func TestDeletedObjectRemovesVideo(t *testing.T) {
	dir := t.TempDir()
	app, c := startApp(t, filepath.Join(dir, "data"), modelserver.Options{})
	ctx := context.Background()
	video := testvideo.Make(t, dir, "a.mp4", testvideo.Spec{Scenes: []int{0, 1}, SceneSecs: chunkSecs})
	ids := []string{uploadFile(t, c, video, "ads"), uploadFile(t, c, video, "ads"), uploadFile(t, c, video, "ads")}
	// And a file dropped into the folder, picked up as a video.
	dropped := filepath.Join(app.S3.ObjectsDir(), "uploads", "ads", "dropped.mp4")
	b, _ := os.ReadFile(video)
	os.MkdirAll(filepath.Dir(dropped), 0o755)
	os.WriteFile(dropped, b, 0o644)
	eventually(t, "drop-in picked up", 30*time.Second, func() bool {
		_, err := app.Catalog.FindByKey(ctx, "uploads/ads/dropped.mp4")
		return err == nil
	})
	drop, _ := app.Catalog.FindByKey(ctx, "uploads/ads/dropped.mp4")
	ids = append(ids, drop.ID)
	keys := map[string]string{}
	for _, id := range ids {
		if v := waitFinal(t, c, id); v.Status != scenedex.StatusReady {
			t.Fatalf("%s: %+v", id, v)
		}
		v, _ := app.Catalog.Get(ctx, id)
		keys[id] = v.Key
	}

	client := s3blob.LocalClient(app.URL, app.S3.AccessKey, app.S3.Secret)
	bucket := aws.String(Bucket)
	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: aws.String(keys[ids[0]])}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: bucket, Delete: &types.Delete{Objects: []types.ObjectIdentifier{
		{Key: aws.String(keys[ids[1]])}, {Key: aws.String(keys[ids[3]])}, {Key: aws.String("uploads/ads/never-there.mp4")}}}}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{ids[0], ids[1], ids[3]} {
		retired(t, app, id)
	}
	if v, err := c.Video(ctx, ids[2]); err != nil || v.Status != scenedex.StatusReady {
		t.Errorf("the video whose object stays: %+v %v", v, err)
	}
	// The API's own delete (which deletes the object through the endpoint,
	// whose event then finds nothing left) answers 204 and leaves nothing.
	if err := c.Delete(ctx, ids[2]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the deletion event is handled
	gone(t, app, ids[2])
	if dead, _ := app.Runner.Deletions.Dead(ctx); len(dead) != 0 {
		t.Errorf("dead deletions: %+v", dead)
	}
	if page, _ := app.Catalog.List(ctx, scenedex.ListQuery{}); len(page.Videos) != 0 {
		t.Errorf("videos left: %+v", page.Videos)
	}
}

// Deleting a video while it is being chunked leaves no record (no drop-in
// "ghost" made by a retried step), no documents and no chunk files.
func TestDeleteWhileChunking(t *testing.T) {
	dir := t.TempDir()
	app, c := startApp(t, filepath.Join(dir, "data"), modelserver.Options{Delay: 100 * time.Millisecond})
	ctx := context.Background()
	video := testvideo.Make(t, dir, "long.mp4", testvideo.Spec{Scenes: []int{0, 1, 2, 3, 4, 5}, SceneSecs: chunkSecs, Size: "640x360"})
	id := uploadFile(t, c, video, "ads")
	eventually(t, "processing", 20*time.Second, func() bool {
		v, err := app.Catalog.Get(ctx, id)
		return err == nil && v.Status == scenedex.StatusProcessing && v.Stage != "probing"
	})
	if err := c.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	// Let the run's steps and the chunk messages play out.
	eventually(t, "queues drained", 30*time.Second, func() bool {
		n1, _ := app.Runner.Workflow.Pending(ctx)
		n2, _ := app.Runner.Chunks.Pending(ctx)
		n3, _ := app.Runner.Deletions.Pending(ctx)
		return n1+n2+n3 == 0
	})
	time.Sleep(500 * time.Millisecond) // a sweep and a drop-in scan
	gone(t, app, id)
	if page, _ := app.Catalog.List(ctx, scenedex.ListQuery{}); len(page.Videos) != 0 {
		t.Errorf("ghost records: %+v", page.Videos)
	}
	if files := filesUnder(filepath.Join(app.S3.ObjectsDir())); len(files) != 0 {
		t.Errorf("files left in the bucket: %v", files)
	}
	// A late or retried event for the deleted object makes no record.
	if _, err := app.Pipeline.Register(ctx, scenedex.ObjectCreated{Bucket: Bucket, Key: "uploads/ads/" + id + "/long.mp4", Size: 1, ETag: "x"}); !errors.Is(err, pipeline.ErrGone) {
		t.Errorf("register a deleted object: %v", err)
	}
	if page, _ := app.Catalog.List(ctx, scenedex.ListQuery{}); len(page.Videos) != 0 {
		t.Errorf("ghost record after a late event: %+v", page.Videos)
	}
}

// Overwriting an object with other bytes makes a new version: it is
// processed while the old one still answers searches, and once it is READY
// the old one is retired. The same bytes sent again change nothing.
func TestOverwriteMakesNewVersion(t *testing.T) {
	dir := t.TempDir()
	app, c := startApp(t, filepath.Join(dir, "data"), modelserver.Options{Delay: 30 * time.Millisecond})
	ctx := context.Background()
	first := testvideo.Make(t, dir, "first.mp4", testvideo.Spec{Scenes: []int{0, 1}, SceneSecs: chunkSecs})
	second := testvideo.Make(t, dir, "second.mp4", testvideo.Spec{Scenes: []int{4, 5, 3}, SceneSecs: chunkSecs})
	oldID := uploadFile(t, c, first, "ads")
	if v := waitFinal(t, c, oldID); v.Status != scenedex.StatusReady {
		t.Fatalf("first: %+v", v)
	}
	old, _ := app.Catalog.Get(ctx, oldID)
	// Our key path keeps the upload's name; metadata of the upload carry over.
	app.Catalog.Update(ctx, oldID, func(v *scenedex.Video) error { v.Metadata = map[string]string{"brand": "acme"}; return nil })

	store := s3blob.New(s3blob.LocalClient(app.URL, app.S3.AccessKey, app.S3.Secret), Bucket)
	put := func(path string) {
		t.Helper()
		f, _ := os.Open(path)
		defer f.Close()
		if err := store.Put(ctx, old.Key, f, "video/mp4"); err != nil {
			t.Fatal(err)
		}
	}
	// The same bytes again: nothing new.
	put(first)
	time.Sleep(500 * time.Millisecond)
	if vs, _ := app.Catalog.ByKey(ctx, old.Key); len(vs) != 1 {
		t.Fatalf("the same bytes made %d videos", len(vs))
	}

	put(second)
	fresh := newVersion(t, app, old.Key, oldID)
	if fresh.Collection != "ads" || fresh.Filename != "first.mp4" || fresh.Metadata["brand"] != "acme" {
		t.Errorf("the new version lost the upload's description: %+v", fresh)
	}
	// While it is processed, the old version is still searchable.
	if v, err := app.Catalog.Get(ctx, oldID); err == nil && v.Status == scenedex.StatusReady {
		if _, err := app.Index.Get(ctx, scenedex.ChunkID(oldID, 0)); err != nil {
			t.Errorf("old version's scenes gone before the new one is READY: %v", err)
		}
	}
	if v := waitFinal(t, c, fresh.ID); v.Status != scenedex.StatusReady || v.ChunksTotal != 3 {
		t.Fatalf("new version: %+v", v)
	}
	retired(t, app, oldID)
	if vs, _ := app.Catalog.ByKey(ctx, old.Key); len(vs) != 1 || vs[0].ID != fresh.ID {
		t.Errorf("videos of the key: %+v", vs)
	}
	// Its scenes answer: a frame of the second video's first scene.
	hits, err := c.Search(ctx, scenedex.Query{Image: testvideo.Frame(t, second, 1), K: 1})
	if err != nil || len(hits) != 1 || hits[0].VideoID != fresh.ID || hits[0].Chunk != 0 {
		t.Errorf("search after the overwrite: %+v %v", hits, err)
	}
	// The object stays: it is the new version's.
	if _, err := store.Head(ctx, old.Key); err != nil {
		t.Errorf("the object went with the old version: %v", err)
	}
}

// A second PUT of other bytes (same length) to a video's upload URL is an
// overwrite: the record does not keep describing the first bytes; the new
// bytes become a new version and the first is retired once it is READY.
func TestSecondPUTToUploadURL(t *testing.T) {
	dir := t.TempDir()
	app, c := startApp(t, filepath.Join(dir, "data"), modelserver.Options{})
	ctx := context.Background()
	video := testvideo.Make(t, dir, "v.mp4", testvideo.Spec{Scenes: []int{0, 1}, SceneSecs: chunkSecs})
	first, _ := os.ReadFile(video)
	created, err := c.CreateVideo(ctx, pipeline.UploadRequest{Filename: "v.mp4", Size: int64(len(first)), Collection: "ads"})
	if err != nil {
		t.Fatal(err)
	}
	putURL := func(body []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPut, created.Upload.URL, bytes.NewReader(body))
		for k, v := range created.Upload.Headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	putURL(first)
	if v := waitFinal(t, c, created.Video.ID); v.Status != scenedex.StatusReady {
		t.Fatalf("first: %+v", v)
	}
	// Other bytes of the same length: one byte of the media data changed.
	second := append([]byte(nil), first...)
	second[len(second)*3/5] ^= 0xff
	putURL(second)
	fresh := newVersion(t, app, created.Video.Key, created.Video.ID)
	// (A flipped byte in the picture data decodes, with a glitch.)
	if v := waitFinal(t, c, fresh.ID); v.Status != scenedex.StatusReady {
		t.Fatalf("second: %+v", v)
	}
	retired(t, app, created.Video.ID)
	sum := md5.Sum(second)
	if v, _ := app.Catalog.Get(ctx, fresh.ID); v.ETag != hex.EncodeToString(sum[:]) || v.Size != int64(len(second)) {
		t.Errorf("the new version does not describe the stored bytes: %+v", v)
	}
}

// A server started with another model than the one the index's vectors come
// from refuses to start, saying what to do (vectors of two models cannot be
// compared); with the index's model it starts.
func TestModelMismatchRefusedAtStart(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	app, c := startApp(t, data, modelserver.Options{})
	video := testvideo.Make(t, dir, "v.mp4", testvideo.Spec{Scenes: []int{0}, SceneSecs: chunkSecs})
	if v := waitFinal(t, c, uploadFile(t, c, video, "")); v.Status != scenedex.StatusReady {
		t.Fatalf("%+v", v)
	}
	app.Close()
	_, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", Data: data, Model: filepath.Join("..", "clip", "testdata", "tiny-clip")})
	if err == nil || !strings.Contains(err.Error(), "holds vectors of model scenedex-hsv-hog-v1") || !strings.Contains(err.Error(), "serve without --model") {
		t.Fatalf("another model: %v", err)
	}
	again, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", Data: data})
	if err != nil {
		t.Fatalf("the index's model: %v", err)
	}
	again.Close()
}
