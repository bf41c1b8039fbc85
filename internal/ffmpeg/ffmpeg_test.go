package ffmpeg

import (
	"context"
	"image"
	"image/jpeg"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/testvideo"
)

func tool(t *testing.T) Tool {
	t.Helper()
	tl, err := Find("")
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

func TestProbe(t *testing.T) {
	tl := tool(t)
	dir := t.TempDir()
	video := testvideo.Make(t, dir, "v.mp4", testvideo.Spec{Scenes: []int{0, 1}, SceneSecs: 3, Audio: true})
	audio := testvideo.Audio(t, dir, "a.m4a", 2)
	empty := filepath.Join(dir, "empty.mp4")
	os.WriteFile(empty, nil, 0o644)
	text := filepath.Join(dir, "notes.mp4")
	os.WriteFile(text, []byte("this is not a video at all, just some words\n"), 0o644)
	trunc := testvideo.Truncate(t, video, filepath.Join(dir, "trunc.mp4"), 4000)

	p, err := tl.Probe(context.Background(), video)
	if err != nil {
		t.Fatal(err)
	}
	if p.Video.Codec != "h264" || p.Video.Width != 320 || p.Audio == nil || p.Duration < 5.9 || p.Duration > 6.2 {
		t.Errorf("probe = %+v", p)
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"audio only", audio, "audio only"},
		{"zero bytes", empty, "ffprobe"},
		{"text", text, "ffprobe"},
		{"truncated", trunc, "ffprobe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tl.Probe(context.Background(), tc.path)
			if scenedex.ErrorCode(err) != scenedex.CodeNotVideo {
				t.Fatalf("err = %v (code %s), want not_a_video", err, scenedex.ErrorCode(err))
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %q does not mention %q", err, tc.want)
			}
		})
	}
}

// Keyframes every 10 s with 4 s chunks: cuts snap to keyframes, no chunk is
// empty, each has a frame, and together they cover the window.
func TestCutSparseKeyframes(t *testing.T) {
	tl := tool(t)
	dir := t.TempDir()
	video := testvideo.Make(t, dir, "sparse.mp4", testvideo.Spec{Scenes: []int{0, 1, 2}, SceneSecs: 10, GOP: 250})
	pieces, err := tl.Cut(context.Background(), CutSpec{Input: video, Start: 0, Duration: 30, ChunkSeconds: 4, MaxChunks: 8,
		CopyVideo: true, FramesPerChunk: 3, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(pieces) == 0 || pieces[0].Start != 0 || pieces[len(pieces)-1].End < 29.9 {
		t.Fatalf("pieces %+v", pieces)
	}
	for i, p := range pieces {
		if p.End-p.Start < 1 || len(p.Frames) == 0 {
			t.Errorf("chunk %d: %.2f-%.2f with %d frames", i, p.Start, p.End, len(p.Frames))
		}
		if i > 0 && p.Start != pieces[i-1].End {
			t.Errorf("gap or overlap between chunk %d and %d", i-1, i)
		}
	}
}

func TestCut(t *testing.T) {
	tl := tool(t)
	dir := t.TempDir()
	// 24 s, keyframe every 2 s, scenes change every 6 s.
	video := testvideo.Make(t, dir, "v.mp4", testvideo.Spec{Scenes: []int{0, 1, 2, 3}, SceneSecs: 6, Audio: true})
	tests := []struct {
		name        string
		spec        CutSpec
		wantChunks  int
		wantStart   float64
		wantLastEnd float64
	}{
		{"copy first window", CutSpec{Start: 0, Duration: 12, ChunkSeconds: 4, MaxChunks: 3, CopyVideo: true, HasAudio: true, CopyAudio: true}, 3, 0, 12},
		{"copy off-keyframe start", CutSpec{Start: 13, Duration: 8, ChunkSeconds: 4, MaxChunks: 2, CopyVideo: true, HasAudio: true, CopyAudio: true}, 2, 12, 21},
		{"copy last window", CutSpec{Start: 20, Duration: 8, ChunkSeconds: 4, MaxChunks: 2, CopyVideo: true, HasAudio: true, CopyAudio: true}, 1, 20, 24},
		{"re-encode", CutSpec{Start: 4, Duration: 8, ChunkSeconds: 4, MaxChunks: 2, HasAudio: true}, 2, 4, 12},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.spec
			s.Input, s.Dir, s.FramesPerChunk = video, t.TempDir(), 3
			pieces, err := tl.Cut(context.Background(), s)
			if err != nil {
				t.Fatal(err)
			}
			if len(pieces) != tc.wantChunks {
				t.Fatalf("got %d chunks %+v, want %d", len(pieces), pieces, tc.wantChunks)
			}
			if d := pieces[0].Start - tc.wantStart; d < -0.1 || d > 0.1 {
				t.Errorf("first start %.3f, want %.3f", pieces[0].Start, tc.wantStart)
			}
			if d := pieces[len(pieces)-1].End - tc.wantLastEnd; d < -0.2 || d > 0.2 {
				t.Errorf("last end %.3f, want about %.3f", pieces[len(pieces)-1].End, tc.wantLastEnd)
			}
			for i, p := range pieces {
				if i > 0 && p.Start < pieces[i-1].End-0.1 {
					t.Errorf("chunk %d starts %.3f before chunk %d ends %.3f", i, p.Start, i-1, pieces[i-1].End)
				}
				if len(p.Frames) == 0 || len(p.Frames) > 3 {
					t.Errorf("chunk %d has %d frames", i, len(p.Frames))
				}
				for _, f := range p.Frames {
					if f.T < p.Start-0.01 || f.T >= p.End {
						t.Errorf("chunk %d [%.2f,%.2f) got frame at %.3f", i, p.Start, p.End, f.T)
					}
				}
				got, err := tl.Probe(context.Background(), p.Clip)
				if err != nil {
					t.Fatalf("chunk %d unplayable: %v", i, err)
				}
				if d := got.Duration - (p.End - p.Start); d < -0.3 || d > 0.3 {
					t.Errorf("chunk %d file lasts %.2fs, recorded %.2f-%.2f", i, got.Duration, p.Start, p.End)
				}
			}
		})
	}
}

// A tool that crashes (here a script that kills itself with SIGSEGV, as
// the layer's static ffprobe does on a host name) is reported as scenedex's
// retryable fault naming the signal, never as "not a video".
func TestToolCrashIsRetryable(t *testing.T) {
	dir := t.TempDir()
	crash := filepath.Join(dir, "ffprobe")
	if err := os.WriteFile(crash, []byte("#!/bin/sh\necho 'about to fail' >&2\nkill -SEGV $$\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Tool{FFmpeg: crash, FFprobe: crash}.Probe(context.Background(), filepath.Join(dir, "v.mp4"))
	if scenedex.ErrorCode(err) != scenedex.CodeUnavailable || scenedex.Permanent(err) || !strings.Contains(err.Error(), "SIGSEGV") {
		t.Fatalf("crash reported as %v (code %s)", err, scenedex.ErrorCode(err))
	}
	// An ordinary non-zero exit is still the input's fault.
	fail := filepath.Join(dir, "fails")
	os.WriteFile(fail, []byte("#!/bin/sh\necho 'moov atom not found' >&2\nexit 1\n"), 0o755)
	if _, err := (Tool{FFmpeg: fail, FFprobe: fail}).Probe(context.Background(), filepath.Join(dir, "v.mp4")); scenedex.ErrorCode(err) != scenedex.CodeNotVideo {
		t.Fatalf("exit 1 reported as %v", err)
	}
}

// Remote inputs reach ffprobe and ffmpeg through the range proxy: this
// machine's ffmpeg reads a URL naming a host, with a presigned-looking query,
// by ranged reads, and no error echoes the query.
func TestRemoteInputThroughProxy(t *testing.T) {
	dir := t.TempDir()
	testvideo.Make(t, dir, "v.mp4", testvideo.Spec{Scenes: []int{0, 1}, SceneSecs: 4, GOP: 25})
	var ranged int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" {
			ranged++
		}
		http.FileServer(http.Dir(dir)).ServeHTTP(w, r)
	}))
	defer srv.Close()
	base := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	tl := tool(t)
	ctx := context.Background()
	p, err := tl.Probe(ctx, base+"/v.mp4?X-Amz-Signature=secret")
	if err != nil || p.Duration < 7.9 {
		t.Fatalf("probe: %+v %v", p, err)
	}
	pieces, err := tl.Cut(ctx, CutSpec{Input: base + "/v.mp4?X-Amz-Signature=secret", Start: 4, Duration: 4, ChunkSeconds: 4,
		CopyVideo: true, FramesPerChunk: 2, Dir: filepath.Join(dir, "cut")})
	if err != nil || len(pieces) != 1 || pieces[0].Start < 3.9 {
		t.Fatalf("cut: %+v %v", pieces, err)
	}
	if ranged == 0 {
		t.Error("no ranged read reached the server")
	}
	_, err = tl.Probe(ctx, base+"/missing.mp4?X-Amz-Signature=secret")
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("missing object: %v", err)
	}
}

// Decodes reads the build's decoder list: this machine's ffmpeg decodes AV1
// (libdav1d); a build without an AV1 software decoder (as the arm64 layer's)
// does not; common codecs are not asked about.
func TestDecodes(t *testing.T) {
	ctx := context.Background()
	if !tool(t).Decodes(ctx, "av1") {
		t.Error("Debian's ffmpeg cannot decode AV1?")
	}
	dir := t.TempDir()
	fake := filepath.Join(dir, "ffmpeg")
	os.WriteFile(fake, []byte("#!/bin/sh\nprintf ' V....D h264                 H.264\\n A....D wmav1                Windows Media Audio 1\\n'\n"), 0o755)
	old := Tool{FFmpeg: fake, FFprobe: fake}
	if old.Decodes(ctx, "av1") || !old.Decodes(ctx, "h264") {
		t.Error("a build without an AV1 decoder")
	}
}

// With EmbedEdge every sampled frame also comes scaled for the embedding
// model — shortest edge EmbedEdge, aspect kept, never upscaled — showing the
// same moment as the large one (copied and re-encoded chunks, landscape,
// portrait, a video smaller than the edge, and a sliver of a chunk).
func TestCutEmbedFrames(t *testing.T) {
	tl := tool(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name, size         string
		secs               float64
		copy               bool
		wantW, wantH       int // embed frame
		wantBigW, wantBigH int
	}{
		{"landscape copy", "640x360", 8, true, 398, 224, 640, 360},
		{"landscape re-encode", "640x360", 8, false, 398, 224, 640, 360},
		{"portrait", "360x640", 8, true, 224, 398, 360, 640},
		{"smaller than the edge", "200x150", 8, true, 200, 150, 200, 150},
		{"sliver", "640x360", 4.2, false, 398, 224, 640, 360},
	} {
		t.Run(tc.name, func(t *testing.T) {
			video := testvideo.Make(t, dir, strings.ReplaceAll(tc.name, " ", "-")+".mp4", testvideo.Spec{Scenes: []int{1, 3}, SceneSecs: tc.secs / 2, Size: tc.size})
			pieces, err := tl.Cut(context.Background(), CutSpec{Input: video, Duration: tc.secs, ChunkSeconds: 4, CopyVideo: tc.copy,
				FramesPerChunk: 2, FrameWidth: 1280, EmbedEdge: 224, Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range pieces {
				for _, f := range p.Frames {
					if f.EmbedPath == "" {
						t.Fatalf("frame %+v has no embedding form", f)
					}
					big, small := decodeFile(t, f.Path), decodeFile(t, f.EmbedPath)
					if b := big.Bounds(); b.Dx() != tc.wantBigW || b.Dy() != tc.wantBigH {
						t.Errorf("large frame %v", b)
					}
					if b := small.Bounds(); b.Dx() != tc.wantW || b.Dy() != tc.wantH {
						t.Errorf("embed frame %v, want %dx%d", b, tc.wantW, tc.wantH)
					}
					// The same moment: the mean colours agree.
					if d := meanDiff(big, small); d > 12 {
						t.Errorf("frame at %.2f: the two forms differ by %.1f per channel", f.T, d)
					}
				}
			}
		})
	}
}

func decodeFile(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := jpeg.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// meanDiff is the largest difference of the images' mean R, G or B (0-255).
func meanDiff(a, b image.Image) float64 {
	mean := func(img image.Image) [3]float64 {
		var s [3]float64
		r := img.Bounds()
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				cr, cg, cb, _ := img.At(x, y).RGBA()
				s[0], s[1], s[2] = s[0]+float64(cr>>8), s[1]+float64(cg>>8), s[2]+float64(cb>>8)
			}
		}
		n := float64(r.Dx() * r.Dy())
		return [3]float64{s[0] / n, s[1] / n, s[2] / n}
	}
	ma, mb := mean(a), mean(b)
	d := 0.0
	for i := range 3 {
		d = max(d, math.Abs(ma[i]-mb[i]))
	}
	return d
}
