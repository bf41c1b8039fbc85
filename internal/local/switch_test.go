package local

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scenedex/scenedex/client"
	"github.com/scenedex/scenedex/internal/descriptor"
	"github.com/scenedex/scenedex/internal/modelserver"
	"github.com/scenedex/scenedex/internal/pipeline"
	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/testvideo"
)

// The model switches below run the real thing: the built-in descriptor and
// the tiny CLIP fixture (internal/clip/testdata/tiny-clip, whose embeddings
// live in RGB space) on ONNX Runtime behind the local model server, real
// videos, real SQLite and the durable queue.

const tinyName = "scenedex/tiny-clip"

func tinyDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "clip", "testdata", "tiny-clip"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// indexed uploads two videos (five chunks: scene 3 is red noise, 5 a blue
// grid) and waits until both are READY; it returns the first one's path.
func indexed(t *testing.T, c *client.Client, dir string) string {
	t.Helper()
	colours := testvideo.Make(t, dir, "colours.mp4", testvideo.Spec{Scenes: []int{1, 3, 5}, SceneSecs: chunkSecs})
	other := testvideo.Make(t, dir, "other.mp4", testvideo.Spec{Scenes: []int{0, 2}, SceneSecs: chunkSecs})
	for _, path := range []string{colours, other} {
		if v := waitFinal(t, c, uploadFile(t, c, path, "")); v.Status != scenedex.StatusReady {
			t.Fatalf("%+v", v)
		}
	}
	return colours
}

// everyDocOf checks that the index holds n docs, every one of model.
func everyDocOf(t *testing.T, app *App, n int, model string) {
	t.Helper()
	if got := app.Index.Len(); got != n {
		t.Errorf("index holds %d docs, want %d (lost or duplicated)", got, n)
	}
	ctx := context.Background()
	page, err := app.Catalog.List(ctx, scenedex.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range page.Videos {
		for i := range v.ChunksTotal {
			d, err := app.Index.Get(ctx, scenedex.ChunkID(v.ID, i))
			if err != nil || d.Model != model {
				t.Errorf("%s: model %q, want %q (%v)", scenedex.ChunkID(v.ID, i), d.Model, model, err)
			}
		}
	}
}

func waitSwitch(t *testing.T, c *client.Client, model string) pipeline.ModelStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := c.WaitSwitch(ctx, model, 50*time.Millisecond, nil)
	if err != nil {
		t.Fatalf("switch to %s: %v (%+v)", model, err, st)
	}
	return st
}

// The common case: a folder indexed with the built-in descriptor (no text
// search) switched to a CLIP model. While the switch runs, search answers
// from the old vectors with the old model; a video uploaded meanwhile gets
// both; then every doc is the new model's, text search answers by meaning,
// and a restart without --model serves the index's model again.
func TestModelSwitch(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	// Every model call takes 150 ms: the switch is still under way when
	// the searches below are asked.
	// The catalog is queued a video a page: three page messages.
	app, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", Data: data, ModelOptions: modelserver.Options{Delay: 150 * time.Millisecond},
		Pipeline: pipeline.Config{ChunkSeconds: chunkSecs, WindowChunks: 3, SwitchPage: 1}, Runner: Options{Poll: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	c := client.New(app.URL)
	ctx := context.Background()
	colours := indexed(t, c, dir)
	red := testvideo.Frame(t, colours, 6)
	before, err := c.Search(ctx, scenedex.Query{Image: red, K: 3})
	if err != nil || len(before) != 3 {
		t.Fatalf("image search before: %+v %v", before, err)
	}
	if _, err := c.Search(ctx, scenedex.Query{Text: "red", K: 3}); apiCode(err) != scenedex.CodeUnsupported {
		t.Fatalf("text search with the descriptor: %v", err)
	}

	res, err := c.Reindex(ctx, pipeline.ReindexRequest{Model: tinyDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	if sw := res.Switch; res.Model != descriptor.Name || sw == nil || sw.From != descriptor.Name || sw.To != tinyName || sw.Total != 5 {
		t.Fatalf("switch: %+v %+v", res, res.Switch)
	}
	st, err := c.ModelStatus(ctx)
	if err != nil || st.Switch == nil || st.Switch.Done >= st.Switch.Total {
		t.Fatalf("the switch should be under way: %+v %v", st, err)
	}
	during, err := c.Search(ctx, scenedex.Query{Image: red, K: 3})
	if err != nil || len(during) != 3 || during[0].VideoID != before[0].VideoID || during[0].Chunk != before[0].Chunk || during[0].Score != before[0].Score {
		t.Errorf("during the switch, search should answer as before: %+v %v, before %+v", during, err, before)
	}
	if _, err := c.Search(ctx, scenedex.Query{Text: "red", K: 3}); apiCode(err) != scenedex.CodeUnsupported {
		t.Errorf("text search during the switch answers with the live model (the descriptor): %v", err)
	}
	if _, err := c.Reindex(ctx, pipeline.ReindexRequest{Model: descriptor.Name}); apiCode(err) != scenedex.CodeConflict {
		t.Errorf("a second switch while one is under way: %v", err)
	}
	if _, err := c.Reindex(ctx, pipeline.ReindexRequest{Model: tinyDir(t), Collection: "default"}); apiCode(err) != scenedex.CodeInvalid {
		t.Errorf("a switch of one collection: %v", err)
	}
	// Uploaded during the switch: indexed with the live model and given
	// the next one's vector too.
	late := testvideo.Make(t, dir, "late.mp4", testvideo.Spec{Scenes: []int{3}, SceneSecs: chunkSecs})
	lateID := uploadFile(t, c, late, "")
	if v := waitFinal(t, c, lateID); v.Status != scenedex.StatusReady {
		t.Fatalf("%+v", v)
	}

	st = waitSwitch(t, c, tinyName)
	if st.Model != tinyName || st.Switch != nil {
		t.Fatalf("after: %+v", st)
	}
	everyDocOf(t, app, 6, tinyName)
	hits, err := c.Search(ctx, scenedex.Query{Text: "red", K: 6})
	if err != nil || len(hits) == 0 || hits[0].Matched[0] != scenedex.MatchPicture {
		t.Fatalf("text search after the switch: %+v %v", hits, err)
	}
	if top := hits[0]; !(top.VideoID == lateID && top.Chunk == 0) && top.Chunk != 1 {
		t.Errorf("\"red\" should find a red-noise scene first: %+v", hits)
	}
	// --model with the live model (and a collection) re-embeds in place.
	if res, err := c.Reindex(ctx, pipeline.ReindexRequest{Model: tinyDir(t), Collection: "default"}); err != nil || res.Switch != nil || res.Chunks != 6 || res.Videos != 3 {
		t.Errorf("reindex with the live model: %+v %v", res, err)
	}
	waitQueueEmpty(t, app)
	everyDocOf(t, app, 6, tinyName)
	if _, err := app.Pipeline.SwitchModel(ctx, tinyDir(t)); scenedex.ErrorCode(err) != scenedex.CodeConflict {
		t.Errorf("a switch to the live model: %v", err)
	}
	app.Close()

	// Started again without --model: the index's model is loaded.
	again, err := Start(ctx, Config{Addr: "127.0.0.1:0", Data: data, Runner: Options{Poll: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.Model != tinyDir(t) {
		t.Errorf("restart serves %q, want the index's model %s", again.Model, tinyDir(t))
	}
	if hits, err := client.New(again.URL).Search(ctx, scenedex.Query{Text: "blue", K: 1}); err != nil || len(hits) != 1 || hits[0].Chunk != 2 {
		t.Errorf("text search after a restart: %+v %v", hits, err)
	}
}

// A switch interrupted by the server stopping goes on when it starts again
// (the queue is durable, the switch recorded in the index), ends with every
// doc the new model's once, and a cancelled switch leaves the live vectors
// as they were.
func TestModelSwitchResumesAndCancels(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	app, c := startApp(t, data, modelserver.Options{Delay: 200 * time.Millisecond})
	ctx := context.Background()
	indexed(t, c, dir)
	res, err := c.Reindex(ctx, pipeline.ReindexRequest{Model: tinyDir(t)})
	if err != nil || res.Switch == nil || res.Switch.Done == res.Switch.Total {
		t.Fatalf("%+v %v", res, err)
	}
	app.Close() // mid-switch

	// Started again as it was first (the descriptor by default).
	app, c = startApp(t, data, modelserver.Options{})
	st := waitSwitch(t, c, tinyName)
	if st.Model != tinyName {
		t.Fatalf("%+v", st)
	}
	everyDocOf(t, app, 5, tinyName)
	if hits, err := c.Search(ctx, scenedex.Query{Text: "red", K: 1}); err != nil || len(hits) != 1 || hits[0].Chunk != 1 {
		t.Errorf("text search after the resumed switch: %+v %v", hits, err)
	}

	// Back to the descriptor, cancelled halfway: nothing changes.
	app.Close()
	app, c = startApp(t, data, modelserver.Options{Delay: 200 * time.Millisecond})
	if app.Model != tinyDir(t) {
		t.Fatalf("serves %q", app.Model)
	}
	if _, err := c.Reindex(ctx, pipeline.ReindexRequest{Model: descriptor.Name}); err != nil {
		t.Fatal(err)
	}
	if err := c.CancelSwitch(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.CancelSwitch(ctx); apiCode(err) != scenedex.CodeNotFound {
		t.Errorf("cancel with none under way: %v", err)
	}
	waitQueueEmpty(t, app)
	if st, err := c.ModelStatus(ctx); err != nil || st.Model != tinyName || st.Switch != nil {
		t.Errorf("after cancel: %+v %v", st, err)
	}
	everyDocOf(t, app, 5, tinyName)
	if done, _, err := app.Index.SwitchProgress(ctx); err != nil || done != 0 {
		t.Errorf("next vectors left after cancel: %d %v", done, err)
	}
}

// Started with the new model while the switch to it is under way: refused,
// saying to serve with the live model.
func TestServeNewModelMidSwitchRefused(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	app, c := startApp(t, data, modelserver.Options{Delay: 300 * time.Millisecond})
	indexed(t, c, dir)
	if _, err := c.Reindex(context.Background(), pipeline.ReindexRequest{Model: tinyDir(t)}); err != nil {
		t.Fatal(err)
	}
	app.Close()
	_, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", Data: data, Model: tinyDir(t)})
	if err == nil || !strings.Contains(err.Error(), "is switching from model "+descriptor.Name+" to "+tinyName) ||
		!strings.Contains(err.Error(), "serve without --model") {
		t.Fatalf("%v", err)
	}
}

// A video deleted during a switch leaves it with nothing to wait for: its
// documents go from both sides and the switch completes with the rest.
func TestDeleteDuringSwitch(t *testing.T) {
	dir := t.TempDir()
	app, c := startApp(t, filepath.Join(dir, "data"), modelserver.Options{Delay: 200 * time.Millisecond})
	ctx := context.Background()
	indexed(t, c, dir)
	videos, err := c.Videos(ctx, "")
	if err != nil || len(videos) != 2 {
		t.Fatalf("%+v %v", videos, err)
	}
	if _, err := c.Reindex(ctx, pipeline.ReindexRequest{Model: tinyDir(t)}); err != nil {
		t.Fatal(err)
	}
	gone := videos[0]
	if err := c.Delete(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	waitSwitch(t, c, tinyName)
	everyDocOf(t, app, 5-gone.ChunksTotal, tinyName)
}
