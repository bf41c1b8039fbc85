package clip

import (
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/scenedex/scenedex/internal/testvideo"
)

// Hand-computed: a 4x2 image whose shortest edge is already 2 keeps its size;
// the 2x2 centre crop is columns 1 and 2; each value is (v/255 - mean)/std per
// channel, planes R, G, B.
func TestPreprocessHandComputed(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 4, 2))
	px := [2][4]color.RGBA{
		{{0, 0, 0, 255}, {255, 0, 0, 255}, {0, 255, 0, 255}, {9, 9, 9, 255}},
		{{9, 9, 9, 255}, {0, 0, 255, 255}, {51, 102, 153, 255}, {9, 9, 9, 255}},
	}
	for y := range 2 {
		for x := range 4 {
			img.Set(x, y, px[y][x])
		}
	}
	p := Preprocessor{ShortestEdge: 2, CropH: 2, CropW: 2, Rescale: 1.0 / 255, Mean: [3]float64{0.5, 0.25, 0}, Std: [3]float64{0.5, 0.25, 1},
		DoResize: true, DoCrop: true, DoNormalize: true}
	got := p.FromImage(img)
	want := []float32{
		// R: (255/255-.5)/.5 = 1, (0-.5)/.5 = -1 ; (0-.5)/.5 = -1, (51/255-.5)/.5 = -0.6
		1, -1, -1, -0.6,
		// G: (0-.25)/.25 = -1, (1-.25)/.25 = 3 ; -1, (102/255-.25)/.25 = 0.6
		-1, 3, -1, 0.6,
		// B: 0, 0 ; 1, 0.6
		0, 0, 1, 0.6,
	}
	if len(got) != len(want) {
		t.Fatalf("len %d", len(got))
	}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-5 {
			t.Fatalf("tensor %v\nwant   %v", got, want)
		}
	}
}

// A landscape image is resized on its shortest edge and centre-cropped: a
// left-half-red, right-half-blue 400x200 picture becomes 4x2 then 2x2 whose
// left column is red and right column blue.
func TestPreprocessResizeAndCrop(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 400, 200))
	for y := range 200 {
		for x := range 400 {
			c := color.RGBA{255, 0, 0, 255}
			if x >= 200 {
				c = color.RGBA{0, 0, 255, 255}
			}
			img.Set(x, y, c)
		}
	}
	p := Preprocessor{ShortestEdge: 2, CropH: 2, CropW: 2, Rescale: 1.0 / 255, Std: [3]float64{1, 1, 1}, DoResize: true, DoCrop: true, DoNormalize: true}
	got := p.FromImage(img)
	// R plane: left column 1, right column 0; B plane the other way.
	if got[0] < 0.99 || got[1] > 0.01 || got[8] > 0.01 || got[9] < 0.99 {
		t.Fatalf("tensor %v", got)
	}
}

func TestReadPreprocessor(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "preprocessor_config.json")
	// The layout of openai/clip-vit-base-patch32's file.
	os.WriteFile(path, []byte(`{"crop_size": {"height": 224, "width": 224}, "do_center_crop": true, "do_normalize": true,
		"do_resize": true, "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_processor_type": "CLIPImageProcessor",
		"image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "rescale_factor": 0.00392156862745098,
		"size": {"shortest_edge": 224}}`), 0o644)
	p, err := ReadPreprocessor(path)
	if err != nil || p.ShortestEdge != 224 || p.CropH != 224 || p.CropW != 224 || p.Mean[0] != 0.48145466 || p.Std[2] != 0.27577711 {
		t.Fatalf("%+v %v", p, err)
	}
	os.WriteFile(path, []byte(`{"crop_size": 224, "size": 256, "image_mean": [0.5,0.5,0.5], "image_std": [0.5,0.5,0.5]}`), 0o644)
	if p, err := ReadPreprocessor(path); err != nil || p.ShortestEdge != 256 || p.CropW != 224 {
		t.Fatalf("older layout %+v %v", p, err)
	}
	os.WriteFile(path, []byte(`{"size": 224}`), 0o644)
	if _, err := ReadPreprocessor(path); err == nil {
		t.Fatal("no mean/std accepted")
	}
}

// opaque hides an image's concrete type, so FromImage takes its generic path.
type opaque struct{ image.Image }

// The decoded-JPEG path gives exactly the generic path's tensor, for JPEGs of
// every chroma subsampling ffmpeg writes, landscape and portrait, with and
// without a crop.
func TestYCbCrPathIsExact(t *testing.T) {
	video := testvideo.Make(t, t.TempDir(), "v.mp4", testvideo.Spec{Scenes: []int{1, 3}, SceneSecs: 1, Size: "1280x720"})
	pre := Preprocessor{ShortestEdge: 224, CropH: 224, CropW: 224, Rescale: 1.0 / 255, DoResize: true, DoCrop: true, DoNormalize: true,
		Mean: [3]float64{0.48145466, 0.4578275, 0.40821073}, Std: [3]float64{0.26862954, 0.26130258, 0.27577711}}
	for _, output := range [][]string{
		{"-pix_fmt", "yuvj420p"}, {"-pix_fmt", "yuvj422p"}, {"-pix_fmt", "yuvj444p"},
		{"-pix_fmt", "yuvj420p", "-vf", "transpose=1"}, {"-pix_fmt", "yuvj444p", "-vf", "scale=333:211"},
		// The pipeline's embedding form: the shortest edge already the
		// model's (no resampling, only the crop), landscape and portrait.
		{"-pix_fmt", "yuvj420p", "-vf", "scale=398:224"}, {"-pix_fmt", "yuvj420p", "-vf", "scale=224:398"},
		{"-pix_fmt", "yuvj422p", "-vf", "scale=224:224"},
	} {
		ycc := testvideo.DecodedFrame(t, video, 1.5, output...)
		for _, crop := range []bool{true, false} {
			p := pre
			p.DoCrop = crop
			fast, slow := p.FromImage(ycc), p.FromImage(opaque{ycc})
			if len(fast) != len(slow) {
				t.Fatalf("%v crop %v: %d vs %d values", output, crop, len(fast), len(slow))
			}
			for i := range fast {
				if math.Float32bits(fast[i]) != math.Float32bits(slow[i]) {
					t.Fatalf("%v (%v) crop %v: value %d is %v, generic %v", output, ycc.SubsampleRatio, crop, i, fast[i], slow[i])
				}
			}
		}
	}
}
