package ocr

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/scenedex/scenedex/internal/assets"
	"github.com/scenedex/scenedex/internal/onnx"
	"github.com/scenedex/scenedex/internal/words"
)

// These tests run the real PP-OCRv4 models through the real ONNX Runtime on
// frames that ffmpeg's drawtext renders with real fonts (Debian's fonts-dejavu,
// fonts-liberation2, fonts-freefont-ttf, fonts-wqy-microhei; make test installs
// them). Nothing is mocked.

var (
	readerOnce sync.Once
	reader     *Reader
	readerErr  error
)

func testReader(t testing.TB) *Reader {
	t.Helper()
	readerOnce.Do(func() {
		dir := assets.Dir()
		if readerErr = onnx.Init(assets.Library(dir)); readerErr != nil {
			return
		}
		reader, readerErr = Open(assets.OCRModels(dir), Options{})
	})
	if readerErr != nil {
		t.Fatalf("OCR models: %v (%v)", readerErr, assets.ErrMissing)
	}
	return reader
}

const fonts = "/usr/share/fonts/truetype/"

// drawn is one text drawn on a frame.
type drawn struct {
	text, font, color string
	size, x, y        int
	box               string // drawtext box colour, "" for none
}

// frame renders texts with ffmpeg on a 1280x720 background (a lavfi source).
func frame(t *testing.T, bg string, texts ...drawn) []byte {
	t.Helper()
	var vf []string
	for _, d := range texts {
		esc := strings.NewReplacer(`\`, `\\`, `:`, `\:`, `'`, `\'`).Replace(d.text)
		f := fmt.Sprintf("drawtext=expansion=none:fontfile=%s:text='%s':fontsize=%d:fontcolor=%s:x=%d:y=%d", fonts+d.font, esc, d.size, d.color, d.x, d.y)
		if d.box != "" {
			f += ":box=1:boxborderw=8:boxcolor=" + d.box
		}
		vf = append(vf, f)
	}
	out := filepath.Join(t.TempDir(), "f.jpg")
	sep := "="
	if strings.Contains(bg, "=") {
		sep = ":"
	}
	args := []string{"-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", bg + sep + "size=1280x720:rate=1"}
	if len(vf) > 0 {
		args = append(args, "-vf", strings.Join(vf, ","))
	}
	args = append(args, "-frames:v", "1", "-q:v", "3", out)
	if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestRecall draws words in several fonts, sizes (24 px and up at 720p),
// colours, low contrast, two lines, boxes, and non-ASCII, and requires that
// at least 90 % of the drawn words are read back.
func TestRecall(t *testing.T) {
	r := testReader(t)
	cases := []struct {
		name  string
		bg    string
		texts []drawn
	}{
		{"sans on photo-like", "testsrc2", []drawn{
			{text: "CROWD CELEBRATES GOAL", font: "dejavu/DejaVuSans-Bold.ttf", color: "white", size: 40, x: 80, y: 120, box: "black@0.5"},
			{text: "Summer sale 50% off", font: "liberation2/LiberationSerif-Regular.ttf", color: "yellow", size: 28, x: 600, y: 520, box: "black@0.6"},
		}},
		{"small serif, dark on light", "color=c=0xF0F0E8", []drawn{
			{text: "Quarterly revenue grew 12 percent", font: "liberation2/LiberationSerif-Regular.ttf", color: "black", size: 24, x: 60, y: 80},
			{text: "Insurance claim number 48213", font: "freefont/FreeSans.ttf", color: "0x202080", size: 24, x: 60, y: 400},
		}},
		{"two lines, mono", "color=c=0x102030", []drawn{
			{text: "Lecture 7 Fourier transforms", font: "dejavu/DejaVuSansMono.ttf", color: "white", size: 32, x: 100, y: 200},
			{text: "homework due Friday", font: "dejavu/DejaVuSansMono.ttf", color: "white", size: 32, x: 100, y: 250},
		}},
		{"low contrast", "color=c=0x606060", []drawn{
			{text: "faint watermark brand", font: "dejavu/DejaVuSans.ttf", color: "0x9A9A9A", size: 36, x: 300, y: 330},
		}},
		{"coloured on bars", "smptehdbars", []drawn{
			{text: "Breaking news tonight", font: "freefont/FreeSansBold.ttf", color: "red", size: 48, x: 200, y: 600, box: "white@0.9"},
		}},
		{"non-ASCII", "color=c=0x000000", []drawn{
			{text: "欢迎光临 北京", font: "wqy/wqy-microhei.ttc", color: "white", size: 36, x: 200, y: 200},
			{text: "限时优惠", font: "wqy/wqy-microhei.ttc", color: "yellow", size: 30, x: 200, y: 400},
		}},
	}
	total, found := 0, 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lines, err := r.ReadImage(frame(t, c.bg, c.texts...))
			if err != nil {
				t.Fatal(err)
			}
			read := map[string]bool{}
			var all []string
			for _, l := range lines {
				all = append(all, l.Text)
				if l.Confidence < 0.5 || l.Confidence > 1.0001 {
					t.Errorf("line %q confidence %v out of range", l.Text, l.Confidence)
				}
				for _, w := range words.Tokens(l.Text) {
					read[w] = true
				}
			}
			for _, d := range c.texts {
				for _, w := range words.Tokens(d.text) {
					total++
					if read[w] {
						found++
					} else {
						t.Logf("missed %q (read %q)", w, all)
					}
				}
			}
		})
	}
	recall := float64(found) / float64(total)
	t.Logf("word recall %.3f (%d of %d)", recall, found, total)
	if recall < 0.9 {
		t.Fatalf("word recall %.3f < 0.9", recall)
	}
}

// TestNoText: frames without text give no lines, whatever their content.
func TestNoText(t *testing.T) {
	r := testReader(t)
	for _, bg := range []string{"color=c=0x2040E0", "mandelbrot", "cellauto=rule=110"} {
		lines, err := r.ReadImage(frame(t, bg))
		if err != nil {
			t.Fatal(err)
		}
		// cellauto and mandelbrot are busy but hold no words; allow no line
		// that looks like a word of 3+ letters.
		for _, l := range lines {
			if len([]rune(l.Text)) >= 3 {
				t.Errorf("%s: read %q (%.2f) from a frame without text", bg, l.Text, l.Confidence)
			}
		}
	}
}

// TestNoise: a frame of pure noise is read without error and yields no words.
func TestNoise(t *testing.T) {
	r := testReader(t)
	img := image.NewRGBA(image.Rect(0, 0, 1280, 720))
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range img.Pix {
		img.Pix[i] = uint8(rnd.IntN(256))
	}
	var buf bytes.Buffer
	jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90})
	lines, err := r.ReadImage(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		if len([]rune(l.Text)) >= 4 {
			t.Errorf("read %q from noise", l.Text)
		}
	}
}

// TestHugeImageRefused: an image claiming 20000x20000 pixels is refused
// from its header, before any pixel memory is allocated.
func TestHugeImageRefused(t *testing.T) {
	r := testReader(t)
	// A PNG header is enough to claim the size: DecodeConfig reads only it.
	var buf bytes.Buffer
	png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1, 1)))
	data := buf.Bytes()
	// IHDR's width and height sit at bytes 16..24, its CRC (over type and
	// data) at 29..33.
	copy(data[16:24], []byte{0, 0, 0x4e, 0x20, 0, 0, 0x4e, 0x20})
	binary.BigEndian.PutUint32(data[29:33], crc32.ChecksumIEEE(data[12:29]))
	_, err := r.ReadImage(data)
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("got %v, want a refusal of the size", err)
	}
	if _, err := r.ReadImage([]byte("not an image")); err == nil {
		t.Fatal("garbage accepted")
	}
	// A tiny image is fine and empty.
	small := image.NewGray(image.Rect(0, 0, 4, 4))
	for i := range small.Pix {
		small.Pix[i] = 200
	}
	lines, err := r.Read(small)
	if err != nil || len(lines) != 0 {
		t.Fatalf("tiny image: %v %v", lines, err)
	}
}

// TestLargeFrameDownscaled: a 3840x2160 frame is read (detection runs on
// a downscaled copy, recognition on crops of the original).
func TestLargeFrameDownscaled(t *testing.T) {
	r := testReader(t)
	img := image.NewRGBA(image.Rect(0, 0, 3840, 2160))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	var buf bytes.Buffer
	jpeg.Encode(&buf, img, nil)
	if _, err := r.ReadImage(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
}

// TestReadTextRepeatsSameFrame: identical frames in one call share one read;
// a changed frame is read again.
func TestReadTextRepeatsSameFrame(t *testing.T) {
	r := testReader(t)
	a := frame(t, "color=c=0x000000", drawn{text: "first slide", font: "dejavu/DejaVuSans.ttf", color: "white", size: 40, x: 100, y: 100})
	b := frame(t, "color=c=0x000000", drawn{text: "second slide", font: "dejavu/DejaVuSans.ttf", color: "white", size: 40, x: 100, y: 100})
	texts, err := r.ReadText(context.Background(), [][]byte{a, a, b})
	if err != nil {
		t.Fatal(err)
	}
	join := func(i int) string {
		var s []string
		for _, l := range texts[i] {
			s = append(s, strings.ToLower(l.Text))
		}
		return strings.Join(s, " ")
	}
	if !strings.Contains(join(0), "first") || join(0) != join(1) || !strings.Contains(join(2), "second") {
		t.Fatalf("texts %q | %q | %q", join(0), join(1), join(2))
	}
}

// TestSameScene: the repeat test tells a word apart from JPEG noise.
func TestSameScene(t *testing.T) {
	base := raster{W: 640, H: 360, Pix: make([]uint8, 640*360*3)}
	for i := range base.Pix {
		base.Pix[i] = 90
	}
	noisy := raster{W: 640, H: 360, Pix: append([]uint8(nil), base.Pix...)}
	rnd := rand.New(rand.NewPCG(3, 4))
	for i := range noisy.Pix {
		noisy.Pix[i] = uint8(int(noisy.Pix[i]) + rnd.IntN(5) - 2)
	}
	word := raster{W: 640, H: 360, Pix: append([]uint8(nil), base.Pix...)}
	for y := 100; y < 112; y++ { // a 12 px tall stroke of a low-contrast word
		for x := 200; x < 260; x += 2 {
			o := 3 * (y*640 + x)
			word.Pix[o], word.Pix[o+1], word.Pix[o+2] = 140, 140, 140
		}
	}
	if !sameScene(base.signature(), noisy.signature()) {
		t.Error("JPEG-like noise counted as a change")
	}
	if sameScene(base.signature(), word.signature()) {
		t.Error("a new word counted as the same scene")
	}
	_ = color.White
}

// TestDecode checks greedy CTC on hand-made probabilities over the classes
// blank, "a", "b", " ".
func TestDecode(t *testing.T) {
	r := &Reader{chars: []string{"", "a", "b", " "}}
	step := func(blank, a, b, sp float32) []float32 { return []float32{blank, a, b, sp} }
	cases := []struct {
		name  string
		steps [][]float32
		want  string
		conf  float64
	}{
		{"repeat collapses", [][]float32{step(0, 1, 0, 0), step(0, 1, 0, 0), step(0, 0, 1, 0)}, "ab", 1},
		{"blank separates a double letter", [][]float32{step(0, 1, 0, 0), step(1, 0, 0, 0), step(0, 1, 0, 0)}, "aa", 1},
		{"explicit space", [][]float32{step(0, 1, 0, 0), step(0, 0, 0, 1), step(0, 0, 1, 0)}, "a b", 1},
		{"likely space under a blank", [][]float32{step(0, .8, 0, 0), step(.6, 0, 0, .4), step(0, 0, .8, 0)}, "a b", .8},
		{"faint space ignored", [][]float32{step(0, 1, 0, 0), step(.9, 0, 0, .1), step(0, 0, 1, 0)}, "ab", 1},
		{"no leading space", [][]float32{step(.5, 0, 0, .5), step(0, 1, 0, 0)}, "a", 1},
		{"all blank", [][]float32{step(1, 0, 0, 0), step(1, 0, 0, 0)}, "", 0},
	}
	for _, c := range cases {
		var p []float32
		for _, s := range c.steps {
			p = append(p, s...)
		}
		got, conf := r.decode(p, len(c.steps), 4)
		if got != c.want || (conf-c.conf) > 1e-6 || (c.conf-conf) > 1e-6 {
			t.Errorf("%s: got %q %.3f, want %q %.3f", c.name, got, conf, c.want, c.conf)
		}
	}
}
