package pipeline

import (
	"testing"

	"github.com/scenedex/scenedex/internal/ffmpeg"
	"github.com/scenedex/scenedex/internal/scenedex"
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
		{"empty", UploadRequest{Filename: "a.mp4", Size: 0}, scenedex.CodeInvalid, ""},
		{"too big", UploadRequest{Filename: "a.mp4", Size: 1001}, scenedex.CodeTooLarge, ""},
		{"no name", UploadRequest{Filename: "  ", Size: 10}, scenedex.CodeInvalid, ""},
		{"control char", UploadRequest{Filename: "a\nb.mp4", Size: 10}, scenedex.CodeInvalid, ""},
		{"image type", UploadRequest{Filename: "a.png", Size: 10}, scenedex.CodeInvalid, ""},
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
