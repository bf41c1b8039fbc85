package pipeline

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/scenedex/scenedex/internal/ffmpeg"
	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/sqlite"
	"github.com/scenedex/scenedex/internal/vecindex"
)

func win(i int, start, end float64) scenedex.Window {
	return scenedex.Window{Index: i, Start: start, End: end}
}

func TestPlan(t *testing.T) {
	p := &Pipeline{cfg: Config{ChunkSeconds: 10, WindowChunks: 6}.withDefaults()}
	tests := []struct {
		name      string
		probe     ffmpeg.Probe
		windows   []scenedex.Window
		copyVideo bool
		copyAudio bool
	}{
		{"short h264", ffmpeg.Probe{Duration: 25, Video: ffmpeg.Stream{Codec: "h264"}, Audio: &ffmpeg.Stream{Codec: "aac"}},
			[]scenedex.Window{win(0, 0, 25)}, true, true},
		{"two windows, odd codecs", ffmpeg.Probe{Duration: 90, Video: ffmpeg.Stream{Codec: "prores"}, Audio: &ffmpeg.Stream{Codec: "pcm_s16le"}},
			[]scenedex.Window{win(0, 0, 60), win(1, 60, 90)}, false, false},
		{"sliver joins last window", ffmpeg.Probe{Duration: 120.02, Video: ffmpeg.Stream{Codec: "hevc"}},
			[]scenedex.Window{win(0, 0, 60), win(1, 60, 120.02)}, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plan := p.plan("v", tc.probe)
			if len(plan.Windows) != len(tc.windows) {
				t.Fatalf("windows %+v, want %+v", plan.Windows, tc.windows)
			}
			for i := range tc.windows {
				if plan.Windows[i] != tc.windows[i] {
					t.Errorf("window %d = %+v, want %+v", i, plan.Windows[i], tc.windows[i])
				}
			}
			if plan.CopyVideo != tc.copyVideo || plan.CopyAudio != tc.copyAudio || plan.HasAudio != (tc.probe.Audio != nil) {
				t.Errorf("plan %+v", plan)
			}
		})
	}
}

func TestValidateUpload(t *testing.T) {
	p := &Pipeline{cfg: Config{MaxUploadBytes: 1000}.withDefaults()}
	tests := []struct {
		name string
		req  UploadRequest
		code scenedex.Code
		ct   string
	}{
		{"ok, type from extension", UploadRequest{Filename: "a.mp4", Size: 10}, "", "video/mp4"},
		{"unknown extension", UploadRequest{Filename: "a.xyz", Size: 10}, "", "application/octet-stream"},
		{"webm is video, whatever the system says", UploadRequest{Filename: "a.webm", Size: 10}, "", "video/webm"},
		{"empty", UploadRequest{Filename: "a.mp4", Size: 0}, scenedex.CodeInvalid, ""},
		{"too big", UploadRequest{Filename: "a.mp4", Size: 1001}, scenedex.CodeTooLarge, ""},
		{"no name", UploadRequest{Filename: "  ", Size: 10}, scenedex.CodeInvalid, ""},
		{"control char", UploadRequest{Filename: "a\nb.mp4", Size: 10}, scenedex.CodeInvalid, ""},
		{"image type", UploadRequest{Filename: "a.png", Size: 10}, scenedex.CodeInvalid, ""},
		{"animated GIF is video", UploadRequest{Filename: "a.GIF", Size: 10}, "", "image/gif"},
		{"bad collection", UploadRequest{Filename: "a.mp4", Size: 10, Collection: "A B"}, scenedex.CodeInvalid, ""},
		{"bad metadata key", UploadRequest{Filename: "a.mp4", Size: 10, Metadata: map[string]string{"a b": "x"}}, scenedex.CodeInvalid, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			err := p.validateUpload(&req)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if req.ContentType != tc.ct || req.Collection != scenedex.DefaultCollection {
					t.Errorf("normalised to %+v", req)
				}
				return
			}
			if scenedex.ErrorCode(err) != tc.code {
				t.Errorf("err %v, want %s", err, tc.code)
			}
		})
	}
}

type countingIndex struct {
	scenedex.Index
	gets int
}

func (c *countingIndex) Get(ctx context.Context, id string) (scenedex.Doc, error) {
	c.gets++
	return c.Index.Get(ctx, id)
}

// A --like lookup costs a few index reads, not one per chunk (in the cloud
// each is an OpenSearch request).
func TestMomentAtFewLookups(t *testing.T) {
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
	cat.Create(ctx, scenedex.Video{ID: "v", Collection: "c", Status: scenedex.StatusReady, Duration: 1000, ChunksTotal: 100})
	var docs []scenedex.Doc
	for i := range 100 {
		// Keyframe-aligned boundaries drift a little from the 10 s grid.
		start, end := float64(i*10)+0.4, float64(i*10+10)+0.4
		if i == 0 {
			start = 0
		}
		docs = append(docs, scenedex.Doc{Chunk: scenedex.Chunk{VideoID: "v", Index: i, Start: start, End: end}, Vector: []float32{1, float32(i)}})
	}
	if err := ix.Upsert(ctx, docs); err != nil {
		t.Fatal(err)
	}
	counted := &countingIndex{Index: ix}
	p := &Pipeline{Catalog: cat, Index: counted, cfg: Config{ChunkSeconds: 10, WindowChunks: 6}.withDefaults()}
	for _, tc := range []struct {
		t    float64
		want int
	}{{0, 0}, {555.2, 55}, {560.2, 55}, {560.5, 56}, {999.9, 99}} {
		counted.gets = 0
		d, err := p.momentAt(ctx, "v", tc.t)
		if err != nil || d.Index != tc.want {
			t.Errorf("t=%v: chunk %d, %v; want %d", tc.t, d.Index, err, tc.want)
		}
		if counted.gets > 3 {
			t.Errorf("t=%v took %d lookups", tc.t, counted.gets)
		}
	}
}

func TestUploadTTLGrowsWithMultipartSize(t *testing.T) {
	c := Config{}.withDefaults()
	tests := []struct {
		size int64
		want time.Duration
	}{
		{1 << 20, 15 * time.Minute},
		{100 << 20, 15 * time.Minute},
		{50 << 30, 15*time.Minute + 512*time.Minute},
	}
	for _, tc := range tests {
		if got := c.UploadTTLFor(tc.size); got != tc.want {
			t.Errorf("UploadTTLFor(%d) = %v, want %v", tc.size, got, tc.want)
		}
	}
}

// Frames beyond 8K are refused from the probe, whichever side is large; 8K
// itself, portrait or landscape, and an unknown size pass.
func TestFrameTooLarge(t *testing.T) {
	tests := []struct {
		w, h int
		ok   bool
	}{
		{1920, 1080, true},
		{8192, 4320, true},
		{4320, 8192, true},
		{0, 0, true},
		{8193, 64, false},
		{64, 9000, false},
		{6000, 6000, false},
		{16000, 16000, false},
	}
	for _, tc := range tests {
		err := frameTooLarge(ffmpeg.Probe{Video: ffmpeg.Stream{Width: tc.w, Height: tc.h}})
		if (err == nil) != tc.ok {
			t.Errorf("%d×%d: err = %v, want ok=%v", tc.w, tc.h, err, tc.ok)
		}
		if err != nil && scenedex.ErrorCode(err) != scenedex.CodeTooLarge {
			t.Errorf("%d×%d: code %s, want too_large", tc.w, tc.h, scenedex.ErrorCode(err))
		}
	}
}

// A window shows where the pictures end when it cuts nothing of its own or
// ends well before it was planned to; an ordinary window does not.
func TestPicturesEnd(t *testing.T) {
	chunk := func(start, end float64) scenedex.Chunk { return scenedex.Chunk{Start: start, End: end} }
	tests := []struct {
		name   string
		w      scenedex.Window
		chunks []scenedex.Chunk
		end    float64
		ok     bool
	}{
		{"full window", win(1, 60, 120), []scenedex.Chunk{chunk(60, 90), chunk(90, 119.96)}, 0, false},
		{"last window to the planned end", win(2, 120, 125.5), []scenedex.Chunk{chunk(120, 125.46)}, 0, false},
		{"pictures end inside", win(0, 0, 60), []scenedex.Chunk{chunk(0, 10), chunk(10, 12)}, 12, true},
		{"nothing of its own", win(5, 300, 360), nil, 300, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			end, ok := picturesEnd(tc.w, tc.chunks)
			if ok != tc.ok || ok && end != tc.end {
				t.Fatalf("picturesEnd = %.2f, %v; want %.2f, %v", end, ok, tc.end, tc.ok)
			}
		})
	}
}

// A chunk of an earlier run that fails every attempt does not fail the
// video's current run (a reprocess that started meanwhile): the run is
// compared inside the catalog's update. Before, the runner read the record,
// compared, then called MarkFailed — a reprocess between the two was failed
// by its predecessor's leftover (seen as a flake of TestReprocessFailedVideo
// under load).
func TestMarkRunFailedLeavesOtherRuns(t *testing.T) {
	ctx := context.Background()
	cat, err := sqlite.OpenCatalog(ctx, filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	p := &Pipeline{Catalog: cat, Log: slog.Default(), cfg: Config{}.withDefaults()}
	cat.Create(ctx, scenedex.Video{ID: "v", Collection: "c", Status: scenedex.StatusProcessing, Run: "second"})
	tests := []struct {
		run  string
		want scenedex.Status
	}{
		{"first", scenedex.StatusProcessing}, // a leftover of the run reprocess replaced
		{"second", scenedex.StatusFailed},
	}
	for _, tc := range tests {
		v, err := p.MarkRunFailed(ctx, "v", tc.run, "chunk 1 failed after 3 attempts")
		if err != nil || v.Status != tc.want {
			t.Errorf("a failure of run %q: %s %v, want %s", tc.run, v.Status, err, tc.want)
		}
	}
}
