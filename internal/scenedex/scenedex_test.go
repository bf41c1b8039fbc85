package scenedex

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSafeFilename(t *testing.T) {
	tests := []struct{ in, want string }{
		{"clip.mp4", "clip.mp4"},
		{"my clip ü+%.mp4", "my_clip_ü__.mp4"},
		{"../../etc/passwd", "passwd"},
		{`C:\videos\a b.mov`, "a_b.mov"},
		{"...", "video"},
		{"", "video"},
		{"视频 1.mp4", "视频_1.mp4"},
	}
	for _, tc := range tests {
		if got := SafeFilename(tc.in); got != tc.want {
			t.Errorf("SafeFilename(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// Long names keep their end, cut between runes, never inside one.
	for _, prefix := range []string{"", "a", "ab"} {
		long := prefix + strings.Repeat("视", 80) + ".mp4" // 3 bytes a rune
		got := SafeFilename(long)
		if !utf8.ValidString(got) || len(got) > 200 || !strings.HasSuffix(got, "视.mp4") {
			t.Errorf("long name (%d bytes) -> %q (%d bytes, valid %v)", len(long), got, len(got), utf8.ValidString(got))
		}
	}
}

func TestValidCollection(t *testing.T) {
	tests := map[string]bool{"default": true, "ads-2024_q1": true, "a": true, "": false, "Ads": false,
		"-x": false, "has space": false, "ü": false, fmt.Sprintf("%064d", 0): false, fmt.Sprintf("%063d", 0): true}
	for in, want := range tests {
		if got := ValidCollection(in); got != want {
			t.Errorf("ValidCollection(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestErrors(t *testing.T) {
	base := Errorf(CodeNotVideo, "no video stream")
	wrapped := fmt.Errorf("probe v1: %w", Wrap(CodeNotVideo, base, "ffprobe"))
	// A real full disk: the kernel answers every write to /dev/full with ENOSPC.
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, noSpace := full.Write([]byte("x"))
	full.Close()
	tests := []struct {
		err       error
		code      Code
		permanent bool
		message   string
	}{
		{base, CodeNotVideo, true, "no video stream"},
		{wrapped, CodeNotVideo, true, "ffprobe: no video stream"},
		{Errorf(CodeUnavailable, "throttled"), CodeUnavailable, false, "throttled"},
		{errors.New("boom"), CodeInternal, false, "boom"},
		// Never the caller's fault, even inside a permanent-looking error: retry once there is space.
		{fmt.Errorf("save chunk: %w", noSpace), CodeUnavailable, false, "save chunk: write /dev/full: no space left on device"},
		{Wrap(CodeNotVideo, noSpace, "ffmpeg"), CodeUnavailable, false, "ffmpeg: no space left on device"},
	}
	for _, tc := range tests {
		if got := ErrorCode(tc.err); got != tc.code {
			t.Errorf("ErrorCode(%v) = %s, want %s", tc.err, got, tc.code)
		}
		if got := Permanent(tc.err); got != tc.permanent {
			t.Errorf("Permanent(%v) = %v", tc.err, got)
		}
		if got := Message(tc.err); got != tc.message {
			t.Errorf("Message(%v) = %q, want %q", tc.err, got, tc.message)
		}
	}
}

func TestVideoContentType(t *testing.T) {
	tests := map[string]string{"a.webm": "video/webm", "B.MP4": "video/mp4", "c.mov": "video/quicktime", "d": "",
		"e.txt": "", "dir.v1/f.mkv": "video/x-matroska"}
	for in, want := range tests {
		if got := VideoContentType(in); got != want {
			t.Errorf("VideoContentType(%q) = %q, want %q", in, got, want)
		}
	}
}
