package descriptor

import (
	"image"
	"image/color"
	"math"
	"testing"

	"github.com/scenedex/scenedex/internal/testvideo"
	"github.com/scenedex/scenedex/internal/vector"
)

func solid(c color.Color, w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, c)
		}
	}
	return img
}

func stripes(vertical bool) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 128, 96))
	for y := range 96 {
		for x := range 128 {
			v := x
			if !vertical {
				v = y
			}
			if (v/8)%2 == 0 {
				img.Set(x, y, color.White)
			} else {
				img.Set(x, y, color.Black)
			}
		}
	}
	return img
}

func cos(a, b []float32) float64 { return float64(vector.Dot(a, b)) }

func TestEmbedSeparatesColourAndStructure(t *testing.T) {
	red, red2, blue := Embed(solid(color.RGBA{220, 30, 30, 255}, 64, 48)), Embed(solid(color.RGBA{200, 40, 35, 255}, 320, 240)), Embed(solid(color.RGBA{30, 40, 220, 255}, 64, 48))
	vert, vert2, horiz := Embed(stripes(true)), Embed(stripes(true)), Embed(stripes(false))
	for _, v := range [][]float32{red, blue, vert} {
		if len(v) != Dim {
			t.Fatalf("dim %d", len(v))
		}
		if n := cos(v, v); math.Abs(n-1) > 1e-4 {
			t.Fatalf("not unit length: %f", n)
		}
	}
	if !(cos(red, red2) > cos(red, blue)) {
		t.Errorf("red~red %.3f not above red~blue %.3f", cos(red, red2), cos(red, blue))
	}
	if !(cos(vert, vert2) > cos(vert, horiz)) {
		t.Errorf("vertical~vertical %.3f not above vertical~horizontal %.3f", cos(vert, vert2), cos(vert, horiz))
	}
	if _, err := EmbedJPEG([]byte("nope")); err == nil {
		t.Error("garbage decoded")
	}
	pooled := vector.Pool([][]float32{red, blue})
	if n := cos(pooled, pooled); math.Abs(n-1) > 1e-4 || cos(pooled, red) <= 0.5 {
		t.Errorf("pool: |p|^2=%f cos(p,red)=%f", n, cos(pooled, red))
	}
}

// opaque hides an image's concrete type, so resample takes its generic path.
type opaque struct{ image.Image }

// The decoded-JPEG path of resample gives exactly the generic path's cells,
// for every chroma subsampling ffmpeg writes and odd sizes.
func TestResampleYCbCrIsExact(t *testing.T) {
	video := testvideo.Make(t, t.TempDir(), "v.mp4", testvideo.Spec{Scenes: []int{2, 4}, SceneSecs: 1, Size: "1280x720"})
	for _, output := range [][]string{
		{"-pix_fmt", "yuvj420p"}, {"-pix_fmt", "yuvj422p"}, {"-pix_fmt", "yuvj444p", "-vf", "scale=333:211"},
		{"-pix_fmt", "yuvj420p", "-vf", "transpose=1"},
	} {
		img := testvideo.DecodedFrame(t, video, 1.5, output...)
		fast, slow := resample(img), resample(opaque{img})
		for i := range fast {
			for c := range 3 {
				if math.Float32bits(fast[i][c]) != math.Float32bits(slow[i][c]) {
					t.Fatalf("%v: cell %d channel %d is %v, generic %v", output, i, c, fast[i][c], slow[i][c])
				}
			}
		}
	}
}
