package lambdas

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/testvideo"
)

// In the cloud too the windows follow the pictures: the probe plans a 12 s
// clip whose headers claim two minutes as 12 s, and a Map item past the end
// (had the plan believed the headers) cuts nothing and records where the
// pictures end, so the duration in the catalog is the real one.
func TestWindowsFollowThePictures(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	honest := testvideo.Make(t, dir, "v.mkv", testvideo.Spec{Scenes: []int{0, 1, 3}, SceneSecs: 4, GOP: 25})
	liar := testvideo.ClaimDuration(t, honest, filepath.Join(dir, "liar.mkv"), 120)
	key := "uploads/ads/liar.mkv"
	f, _ := os.Open(liar)
	if err := e.store.Put(ctx, key, f, "video/x-matroska"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	info, _ := e.store.Head(ctx, key)
	out, err := e.fns.Probe(ctx, s3Event(t, key, info.Size, info.ETag))
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Windows) != 3 || out.Plan.Duration < 11.9 || out.Plan.Duration > 12.1 { // 4 s windows
		t.Errorf("planned %d windows over %.2f s, want 3 over 12 s", len(out.Windows), out.Plan.Duration)
	}
	// A window past the end, as a plan from the headers would have had.
	if _, err := e.fns.P.Catalog.Update(ctx, out.VideoID, func(v *scenedex.Video) error { v.Duration = 120; return nil }); err != nil {
		t.Fatal(err)
	}
	past := scenedex.Window{Index: 3, Start: 12, End: 16}
	resp, err := e.fns.Chunk(ctx, windowEvent(t, ChunkInput{Video: out.Video, Plan: out.Plan, Window: past, TaskToken: "tok-past"}, 1))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("window past the end: %+v %v", resp, err)
	}
	if got := answerOf(e.tokens, "tok-past"); got != `success {"chunks":0}` {
		t.Fatalf("window past the end answered %q, want 0 chunks", got)
	}
	v, err := e.fns.P.Catalog.Get(ctx, out.VideoID)
	if err != nil || v.Duration != 12 {
		t.Fatalf("duration %.2f (%v), want 12 recorded by the empty window", v.Duration, err)
	}
}
