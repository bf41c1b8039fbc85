package ffmpeg

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/scenedex/scenedex/internal/testvideo"
)

// The duration follows the pictures, not the headers: a 12 s clip whose
// headers claim 30 hours probes as 12 s (#16: it planned 1,800 windows).
func TestProbeFollowsThePictures(t *testing.T) {
	tl := tool(t)
	dir := t.TempDir()
	honest := testvideo.Make(t, dir, "v.mkv", testvideo.Spec{Scenes: []int{0, 1}, SceneSecs: 6, GOP: 50})
	liar := testvideo.ClaimDuration(t, honest, filepath.Join(dir, "liar.mkv"), 30*3600)
	tests := []struct {
		name   string
		path   string
		header float64
	}{
		{"honest", honest, 0},
		{"claims 30 h", liar, 30 * 3600},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tl.Probe(context.Background(), tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if p.Duration < 11.9 || p.Duration > 12.1 || p.HeaderDuration != tc.header {
				t.Fatalf("duration %.3f (headers %.0f), want 12 s (headers %.0f)", p.Duration, p.HeaderDuration, tc.header)
			}
		})
	}
}

// A window past the end of the pictures cuts nothing, copied or
// re-encoded: before, a copy cut the last GOP again as a chunk of every
// window past the end.
func TestCutPastTheEnd(t *testing.T) {
	tl := tool(t)
	dir := t.TempDir()
	honest := testvideo.Make(t, dir, "v.mkv", testvideo.Spec{Scenes: []int{0, 1}, SceneSecs: 6, GOP: 50})
	liar := testvideo.ClaimDuration(t, honest, filepath.Join(dir, "liar.mkv"), 600)
	for _, copyVideo := range []bool{true, false} {
		pieces, err := tl.Cut(context.Background(), CutSpec{Input: liar, Start: 60, Duration: 12, ChunkSeconds: 4, MaxChunks: 3,
			CopyVideo: copyVideo, FramesPerChunk: 2, Dir: t.TempDir()})
		if err != nil {
			t.Fatalf("copy=%v: %v", copyVideo, err)
		}
		if len(pieces) != 0 {
			t.Errorf("copy=%v: window at 60 s of a 12 s video cut %+v", copyVideo, pieces)
		}
	}
}
