package ffmpeg

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/testvideo"
)

// A child past its memory or CPU-time limit is stopped by the kernel and the
// video fails with the limit as a plain, permanent reason. The limits here
// are made small so an ordinary 720p re-encode reaches them; the defaults
// (DefaultLimits) leave such a job far inside: every other test here cuts
// under them.
func TestLimitsStopTheTool(t *testing.T) {
	tl := tool(t)
	dir := t.TempDir()
	video := testvideo.Make(t, dir, "v.mp4", testvideo.Spec{Scenes: []int{0, 1}, SceneSecs: 3, Size: "1920x1080"})
	tests := []struct {
		name   string
		limits Limits
		want   string
	}{
		{"memory", Limits{Memory: 40 << 20}, "ffmpeg needed more than its 40 MiB of memory"},
		{"cpu time", Limits{CPU: time.Second}, "ffmpeg used more than its 1s of CPU time"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tl := tl
			tl.Limits = tc.limits
			_, err := tl.Cut(context.Background(), CutSpec{Input: video, Duration: 6, ChunkSeconds: 3, MaxChunks: 2, FramesPerChunk: 2, Dir: t.TempDir()})
			if scenedex.ErrorCode(err) != scenedex.CodeTooLarge || !scenedex.Permanent(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v (code %s), want too_large with %q", err, scenedex.ErrorCode(err), tc.want)
			}
		})
	}
}

// In Lambda the tools are held below the function's memory, so they fail
// with a reason before the function is stopped.
func TestLambdaLimits(t *testing.T) {
	for _, tc := range []struct {
		memoryMB int
		want     int64
	}{
		{3008, (3008 - 192) << 20},
		{1024, (1024 - 192) << 20},
		{256, 128 << 20},
		{0, DefaultLimits.Memory}, // not in Lambda
	} {
		if got := LambdaLimits(tc.memoryMB); got.Memory != tc.want || got.CPU != DefaultLimits.CPU {
			t.Errorf("LambdaLimits(%d) = %+v, want memory %d", tc.memoryMB, got, tc.want)
		}
	}
}

// The ways libav says an allocation failed, as seen under RLIMIT_DATA, and
// messages that are not that.
func TestOutOfMemory(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want bool
	}{
		{"x264 [error]: malloc of size 12116928 failed", true},
		{"[png @ 0x5630c82778c0] get_buffer() failed", true},
		{"Error while opening decoder for input stream #0:0 : Resource temporarily unavailable", true},
		{"Error while decoding stream #0:0: Cannot allocate memory", true},
		{"Connection to tcp://127.0.0.1:8080 failed: Resource temporarily unavailable", false},
		{"moov atom not found", false},
	} {
		if got := outOfMemory(tc.msg); got != tc.want {
			t.Errorf("outOfMemory(%q) = %v", tc.msg, got)
		}
	}
}

func TestDefaultMemory(t *testing.T) {
	for cores, want := range map[int]int64{2: 3 << 30, 16: 3 << 30, 32: 5 << 30, 64: 9 << 30} {
		if got := defaultMemory(cores); got != want {
			t.Errorf("defaultMemory(%d) = %d MiB, want %d MiB", cores, got>>20, want>>20)
		}
	}
}
