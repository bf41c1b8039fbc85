package local

import (
	"context"
	"log/slog"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/scenedex/scenedex/client"
	"github.com/scenedex/scenedex/internal/modelserver"
	"github.com/scenedex/scenedex/internal/pipeline"
	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/testvideo"
)

// A 12 s clip whose headers claim two minutes is planned, cut and recorded
// by its pictures: 12 s, its three chunks, nothing past the end (#16: the
// windows past the end each cut the last GOP again, and the catalog kept
// the headers' duration).
func TestHeadersClaimingMoreThanThePictures(t *testing.T) {
	dir := t.TempDir()
	_, c := startApp(t, filepath.Join(dir, "data"), modelserver.Options{})
	honest := testvideo.Make(t, dir, "v.mkv", testvideo.Spec{Scenes: []int{0, 1, 3}, SceneSecs: chunkSecs, GOP: 25})
	liar := testvideo.ClaimDuration(t, honest, filepath.Join(dir, "liar.mkv"), 120)
	v := waitFinal(t, c, uploadFile(t, c, liar, ""))
	if v.Status != scenedex.StatusReady || v.Duration < 11.9 || v.Duration > 12.1 || v.ChunksTotal != 3 {
		t.Fatalf("%s %q: duration %.2f s, %d chunks; want READY, 12 s, 3 chunks", v.Status, v.Reason, v.Duration, v.ChunksTotal)
	}
}

// startOneSecondWindows starts a server that cuts windows of one 1 s chunk
// with one frame (many cheap windows), logging at debug level into logs.
func startOneSecondWindows(t *testing.T, dir string, logs *lockedBuffer, opts Options) (*App, *client.Client) {
	t.Helper()
	opts.RetryBase, opts.Poll, opts.SweepEvery = 50*time.Millisecond, 50*time.Millisecond, 200*time.Millisecond
	app, err := Start(context.Background(), Config{
		Addr: "127.0.0.1:0", Data: filepath.Join(dir, "data"),
		Log:      slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Pipeline: pipeline.Config{ChunkSeconds: 1, WindowChunks: 1, FramesPerChunk: 1},
		Runner:   opts,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	return app, client.New(app.URL)
}

var windowCutRE = regexp.MustCompile(`msg="window cut" video=(\S+) window=(\d+)`)

// A short video uploaded while a long one is being cut is cut in turn with
// it, not after it: every window of the short one is cut before the long
// one's last (#16: a 4 s clip uploaded 3 s after a bad video waited 281 s).
// The order of the cuts is read from the log; nothing here is timed.
func TestShortVideoNotHeldBackByLongOne(t *testing.T) {
	dir := t.TempDir()
	logs := &lockedBuffer{}
	_, c := startOneSecondWindows(t, dir, logs, Options{})
	long := testvideo.Make(t, dir, "long.mp4", testvideo.Spec{Scenes: []int{0, 1}, SceneSecs: 4, GOP: 25, Size: "160x96"})
	short := testvideo.Make(t, dir, "short.mp4", testvideo.Spec{Scenes: []int{1}, SceneSecs: 2, GOP: 25, Size: "160x96"})

	longID := uploadFile(t, c, long, "")
	for !windowCutRE.MatchString(logs.String()) {
		time.Sleep(20 * time.Millisecond) // until the long video's first window is cut
	}
	shortID := uploadFile(t, c, short, "")
	for _, id := range []string{longID, shortID} {
		if v := waitFinal(t, c, id); v.Status != scenedex.StatusReady {
			t.Fatalf("%s: %s %q", id, v.Status, v.Reason)
		}
	}
	var order, names []string
	for _, m := range windowCutRE.FindAllStringSubmatch(logs.String(), -1) {
		order = append(order, m[1])
		names = append(names, map[string]string{longID: "long", shortID: "short"}[m[1]]+"#"+m[2])
	}
	t.Logf("windows cut in this order: %v", names)
	lastLong, lastShort, shortCuts := -1, -1, 0
	for i, id := range order {
		switch id {
		case longID:
			lastLong = i
		case shortID:
			lastShort, shortCuts = i, shortCuts+1
		}
	}
	if shortCuts != 2 || lastShort > lastLong {
		t.Fatalf("windows were cut in this order (long %s, short %s): %v; want both short ones before the long one's last", longID, shortID, order)
	}
}

// A workflow that outlasts its queue's visibility timeout (waiting its turn,
// or cutting a long video) keeps its lease: no other worker takes it up
// again and it is not counted as another attempt, so it ends READY instead
// of dead-lettered and FAILED after three "attempts".
func TestLongWorkflowKeepsItsLease(t *testing.T) {
	dir := t.TempDir()
	app, c := startOneSecondWindows(t, dir, &lockedBuffer{}, Options{Visibility: 600 * time.Millisecond})
	video := testvideo.Make(t, dir, "v.mp4", testvideo.Spec{Scenes: []int{0, 1}, SceneSecs: 3, GOP: 25, Size: "160x96"})
	v := waitFinal(t, c, uploadFile(t, c, video, ""))
	if v.Status != scenedex.StatusReady || v.ChunksTotal != 6 {
		t.Fatalf("%s %q with %d chunks, want READY with 6", v.Status, v.Reason, v.ChunksTotal)
	}
	if dead, err := app.Runner.Workflow.Dead(context.Background()); err != nil || len(dead) != 0 {
		t.Fatalf("dead-lettered workflows: %+v %v", dead, err)
	}
}
