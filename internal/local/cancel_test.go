package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scenedex/scenedex/internal/modelserver"
	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/testvideo"
)

// ffmpegChildren lists the ffmpeg/ffprobe processes this test process
// started (the app runs in it; they read through a local range proxy, so
// their command lines do not name the video).
func ffmpegChildren(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		t.Fatal(err)
	}
	parent := fmt.Sprintf("PPid:\t%d\n", os.Getpid())
	var out []string
	for _, d := range dirs {
		status, err1 := os.ReadFile(filepath.Join(d, "status"))
		cmd, err2 := os.ReadFile(filepath.Join(d, "cmdline"))
		if err1 != nil || err2 != nil || !strings.Contains(string(status), parent) {
			continue // ended meanwhile, or not ours
		}
		if line := strings.ReplaceAll(string(cmd), "\x00", " "); strings.Contains(line, "ffmpeg") || strings.Contains(line, "ffprobe") {
			out = append(out, line)
		}
	}
	return out
}

// Deleting a video while its windows are being cut ends its work at once:
// when DELETE answers no ffmpeg of it runs any more, and nothing of it
// appears afterwards (no chunk file, no record).
func TestDeleteCancelsWorkInFlight(t *testing.T) {
	dir := t.TempDir()
	app, c := startApp(t, filepath.Join(dir, "data"), modelserver.Options{Delay: 300 * time.Millisecond})
	ctx := context.Background()
	src := testvideo.Make(t, dir, "long.mp4", testvideo.Spec{Scenes: []int{0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5}, SceneSecs: 5})
	id := uploadFile(t, c, src, "cancel")
	deadline := time.Now().Add(time.Minute)
	for len(ffmpegChildren(t)) == 0 {
		if time.Now().After(deadline) {
			v, err := c.Video(ctx, id)
			t.Fatalf("never saw ffmpeg cut the video: %+v %v", v, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := c.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if running := ffmpegChildren(t); len(running) != 0 {
		t.Errorf("DELETE answered while ffmpeg still works on the video:\n%s", strings.Join(running, "\n"))
	}
	time.Sleep(2 * time.Second) // what a step left running would write meanwhile
	filepath.WalkDir(filepath.Join(app.S3.ObjectsDir(), "chunks", id), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("chunk file written after the delete: %s", p)
		}
		return nil
	})
	if _, err := app.Catalog.Get(ctx, id); scenedex.ErrorCode(err) != scenedex.CodeNotFound {
		t.Errorf("record after the delete: %v", err)
	}
	if n := app.Index.Len(); n != 0 {
		t.Errorf("%d documents indexed after the delete", n)
	}
}

// A delete cut short (its tombstone written, part of the video removed, then
// the process gone) is completed when the server starts again, before any
// request could find it half there.
func TestStartCompletesDeletesCutShort(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	app, c := startApp(t, data, modelserver.Options{})
	ctx := context.Background()
	src := testvideo.Make(t, dir, "v.mp4", testvideo.Spec{Scenes: []int{0, 1}, SceneSecs: chunkSecs})
	id := uploadFile(t, c, src, "resume")
	v := waitFinal(t, c, id)
	if v.Status != scenedex.StatusReady {
		t.Fatalf("video: %+v", v)
	}
	// What pipeline.Delete writes first, and part of the removal.
	if _, err := app.Catalog.Update(ctx, id, func(v *scenedex.Video) error {
		v.Status, v.Stage = scenedex.StatusDeleting, scenedex.StageDeleting
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := app.Pipeline.Blobs.DeletePrefix(ctx, "chunks/"+id+"/00000/"); err != nil {
		t.Fatal(err)
	}
	app.Close()

	app, _ = startApp(t, data, modelserver.Options{})
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := app.Catalog.Get(ctx, id)
		if scenedex.ErrorCode(err) == scenedex.CodeNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the delete cut short was not completed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := app.Index.Len(); n != 0 {
		t.Errorf("%d documents left", n)
	}
	filepath.WalkDir(app.S3.ObjectsDir(), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.Contains(p, id) || strings.Contains(p, "/uploads/")) {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
}
