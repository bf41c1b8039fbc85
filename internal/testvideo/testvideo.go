// Package testvideo makes small real media files with ffmpeg's lavfi sources,
// for tests and benchmarks. Nothing here is mocked: the files are what users
// upload, only made up on the spot.
package testvideo

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Scenes are visually distinct lavfi sources; a video made of several is a
// known ground truth for search tests (scene i lives at [i*d, (i+1)*d)).
var Scenes = []string{
	"testsrc2=size=%s:rate=25",
	"smptehdbars=size=%s:rate=25",
	"mandelbrot=size=%s:rate=25",
	"color=c=0xE02020:size=%s:rate=25,noise=alls=30:allf=t",
	"cellauto=size=%s:rate=25:rule=110",
	"color=c=0x2040E0:size=%s:rate=25,drawgrid=w=40:h=40:t=4:c=white",
}

// Spec describes a video to make.
type Spec struct {
	Scenes      []int   // indexes into Scenes, played in order
	SceneSecs   float64 // length of each scene
	Size        string  // e.g. "320x240"
	GOP         int     // keyframe interval in frames (default 50 = 2 s)
	Audio       bool
	AudioCodec  string // default aac
	VideoCodec  string // default libx264
	Container   string // file extension decides the muxer; default mp4
	Overlay     string // filters applied after the scenes are joined (e.g. drawtext)
	ExtraOutput []string
}

// Make writes the video described by s into dir and returns its path.
func Make(tb testing.TB, dir, name string, s Spec) string {
	tb.Helper()
	path, err := MakeFile(dir, name, s)
	if err != nil {
		tb.Fatal(err)
	}
	return path
}

// MakeFile is Make without a testing.TB (benchmarks and tools).
func MakeFile(dir, name string, s Spec) (string, error) {
	if s.Size == "" {
		s.Size = "320x240"
	}
	if s.GOP == 0 {
		s.GOP = 50
	}
	if s.VideoCodec == "" {
		s.VideoCodec = "libx264"
	}
	var args []string
	args = append(args, "-v", "error", "-nostdin", "-y")
	var filter strings.Builder
	for i, sc := range s.Scenes {
		args = append(args, "-f", "lavfi", "-t", fmt.Sprint(s.SceneSecs), "-i", fmt.Sprintf(Scenes[sc], s.Size))
		fmt.Fprintf(&filter, "[%d:v]", i)
	}
	fmt.Fprintf(&filter, "concat=n=%d:v=1:a=0,format=yuv420p", len(s.Scenes))
	if s.Overlay != "" {
		filter.WriteString("," + s.Overlay)
	}
	filter.WriteString("[v]")
	if s.Audio {
		total := s.SceneSecs * float64(len(s.Scenes))
		args = append(args, "-f", "lavfi", "-t", fmt.Sprint(total), "-i", "sine=frequency=440")
	}
	args = append(args, "-filter_complex", filter.String(), "-map", "[v]")
	if s.Audio {
		codec := s.AudioCodec
		if codec == "" {
			codec = "aac"
		}
		args = append(args, "-map", fmt.Sprintf("%d:a", len(s.Scenes)), "-c:a", codec)
	}
	args = append(args, "-c:v", s.VideoCodec)
	if s.VideoCodec == "libx264" {
		args = append(args, "-preset", "ultrafast")
	}
	args = append(args, "-g", fmt.Sprint(s.GOP))
	args = append(args, s.ExtraOutput...)
	path := filepath.Join(dir, name)
	args = append(args, path)
	if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("make %s: %v: %s", name, err, out)
	}
	return path, nil
}

// Audio writes an audio-only file.
func Audio(tb testing.TB, dir, name string, secs float64) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	out, err := exec.Command("ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-t", fmt.Sprint(secs),
		"-i", "sine=frequency=330", "-c:a", "aac", path).CombinedOutput()
	if err != nil {
		tb.Fatalf("make %s: %v: %s", name, err, out)
	}
	return path
}

// Frame extracts the frame at t seconds of video as JPEG bytes; output adds
// ffmpeg output options (e.g. "-pix_fmt", "yuvj444p", "-vf", "transpose=1").
func Frame(tb testing.TB, video string, t float64, output ...string) []byte {
	tb.Helper()
	out := filepath.Join(tb.TempDir(), "frame.jpg")
	args := append([]string{"-v", "error", "-nostdin", "-y", "-ss", fmt.Sprint(t), "-i", video, "-frames:v", "1", "-q:v", "3"}, output...)
	b, err := exec.Command("ffmpeg", append(args, out)...).CombinedOutput()
	if err != nil {
		tb.Fatalf("frame at %v: %v: %s", t, err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// DecodedFrame is Frame decoded by image/jpeg, which must give a YCbCr image
// (the decoders' fast paths take those).
func DecodedFrame(tb testing.TB, video string, t float64, output ...string) *image.YCbCr {
	tb.Helper()
	img, err := jpeg.Decode(bytes.NewReader(Frame(tb, video, t, output...)))
	if err != nil {
		tb.Fatal(err)
	}
	ycc, ok := img.(*image.YCbCr)
	if !ok {
		tb.Fatalf("frame %v %v decodes to %T", t, output, img)
	}
	return ycc
}

// Truncate writes the first n bytes of src to dst.
func Truncate(tb testing.TB, src, dst string, n int64) string {
	tb.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		tb.Fatal(err)
	}
	if n > int64(len(data)) {
		n = int64(len(data))
	}
	if err := os.WriteFile(dst, data[:n], 0o644); err != nil {
		tb.Fatal(err)
	}
	return dst
}

var (
	fiveOnce sync.Once
	fivePath string
	fiveErr  error
)

// captions put words on screen for the whole benchmark video, as ads and
// lectures have: a title per scene and a caption that changes every 5 s, so
// OCR reads (and cannot skip as unchanged) every sampled frame.
var captions = func() []string {
	var out []string
	titles := []string{"Chapter one the city", "Chapter two colour bars", "Chapter three the grid", "Chapter four automata"}
	for i, title := range titles {
		out = append(out, Text(title, "dejavu/DejaVuSans-Bold.ttf", 40, "white", "80", "60", float64(75*i), float64(75*(i+1))))
	}
	for s := 0; s < 300; s += 5 {
		out = append(out, Text(fmt.Sprintf("caption %d price %d.99 limited offer", s/5, 10+s%37), "liberation2/LiberationSans-Regular.ttf",
			32, "yellow", "80", "620", float64(s), float64(s+5)))
	}
	return out
}()

// FiveMinute720p makes, once per process, the benchmark video: 5 minutes of
// 1280x720 H.264 + AAC with a keyframe every 2 s and words on screen
// throughout (captions), in a temp folder.
func FiveMinute720p() (string, error) {
	fiveOnce.Do(func() {
		dir, err := os.MkdirTemp("", "scenedex-bench-")
		if err != nil {
			fiveErr = err
			return
		}
		fivePath, fiveErr = MakeFile(dir, "five-minutes.mp4", Spec{
			Scenes: []int{0, 1, 5, 4}, SceneSecs: 75, Size: "1280x720", Audio: true,
			ExtraOutput: []string{"-crf", "30"}, Overlay: strings.Join(captions, ","),
		})
	})
	return fivePath, fiveErr
}

// Text is a drawtext filter that shows text from second from until (not at)
// second to
// (x and y may be ffmpeg expressions of t, for moving text).
func Text(text, font string, size int, color, x, y string, from, to float64) string {
	esc := strings.NewReplacer(`\`, `\\`, `:`, `\:`, `'`, `\'`, `,`, `\,`).Replace(text)
	return fmt.Sprintf("drawtext=expansion=none:fontfile=/usr/share/fonts/truetype/%s:text='%s':fontsize=%d:fontcolor=%s:x=%s:y=%s:enable='gte(t\\,%g)*lt(t\\,%g)'",
		font, esc, size, color, x, y, from, to)
}

// FrameBomb writes a one-second video of one huge gray PNG frame (w×h): a
// few hundred KB on disk, w×h×4 bytes once decoded to RGBA — the shape of a
// decompression bomb. Making it holds one gray frame (w×h bytes) in memory.
func FrameBomb(tb testing.TB, dir, name string, w, h int) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	out, err := exec.Command("ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi",
		"-i", fmt.Sprintf("color=c=black:s=%dx%d:r=1:d=1,format=gray", w, h),
		"-frames:v", "1", "-c:v", "png", "-compression_level", "1", path).CombinedOutput()
	if err != nil {
		tb.Fatalf("make %s: %v: %s", name, err, out)
	}
	return path
}

// ClaimDuration copies a Matroska file (as Make writes it for a .mkv name)
// to dst with the Duration element of its Segment Info set to secs: headers
// that claim more (or less) than the file holds. The pictures are untouched.
func ClaimDuration(tb testing.TB, src, dst string, secs float64) string {
	tb.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		tb.Fatal(err)
	}
	// Duration: element ID 0x4489, an 8-byte float of TimestampScale units
	// (ffmpeg writes the default scale, 1 ms).
	i := bytes.Index(data, []byte{0x44, 0x89, 0x88})
	if i < 0 {
		tb.Fatalf("%s: no 8-byte Duration element", src)
	}
	binary.BigEndian.PutUint64(data[i+3:], math.Float64bits(secs*1000))
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	return dst
}
