package clip

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"testing"

	"github.com/scenedex/scenedex/internal/assets"
	"github.com/scenedex/scenedex/internal/onnx"
	"github.com/scenedex/scenedex/internal/vector"
)

func solid(t *testing.T, c color.Color, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	jpeg.Encode(&b, img, &jpeg.Options{Quality: 95})
	return b.Bytes()
}

func openModel(t *testing.T, dir string) *Model {
	t.Helper()
	if err := onnx.Init(assets.Library(assets.Dir())); err != nil {
		t.Fatalf("%v (%v)", err, assets.ErrMissing)
	}
	m, err := Open(dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// The whole path on the tiny fixture (testdata/make_tiny_clip.py): its own
// tokenizer.json, preprocessing, the real ONNX Runtime, tensor names read
// from the graphs, normalised outputs — and meaning the fixture was made
// with: "red" is nearest the red picture.
func TestTinyModel(t *testing.T) {
	m := openModel(t, "testdata/tiny-clip")
	if m.Name != "scenedex/tiny-clip" || m.pixels != "pixel_values" || m.ids != "input_ids" || m.mask != "attention_mask" ||
		m.imageOut != "image_embeds" || m.textOut != "text_embeds" {
		t.Fatalf("bound %+v", m)
	}
	ctx := context.Background()
	imgs, err := m.EmbedImages(ctx, [][]byte{solid(t, color.RGBA{220, 30, 30, 255}, 64, 48), solid(t, color.RGBA{30, 40, 220, 255}, 48, 64)})
	if err != nil || len(imgs) != 2 || len(imgs[0]) != 3 || m.Dim != 3 {
		t.Fatalf("images %v %v", imgs, err)
	}
	for _, word := range []string{"red", "A photo of something RED"} {
		v, err := m.EmbedText(ctx, word)
		if err != nil {
			t.Fatal(err)
		}
		if n := vector.Dot(v, v); n < 0.999 || n > 1.001 {
			t.Fatalf("not normalised: %v", n)
		}
		if red, blue := vector.Dot(v, imgs[0]), vector.Dot(v, imgs[1]); red <= blue {
			t.Errorf("%q: red picture %.3f, blue %.3f", word, red, blue)
		}
	}
	if _, err := m.EmbedImages(ctx, [][]byte{[]byte("not an image")}); err == nil {
		t.Error("garbage embedded")
	}
}

// Where real weights are present (SCENEDEX_TEST_MODEL=DIR, e.g. the
// transformers.js export of openai/clip-vit-base-patch32), "a photo of a cat"
// must score higher against a cat picture than against a car picture
// (SCENEDEX_TEST_CAT and SCENEDEX_TEST_CAR name the two JPEGs).
func TestRealModel(t *testing.T) {
	dir := os.Getenv("SCENEDEX_TEST_MODEL")
	if dir == "" {
		t.Skip("no real CLIP weights here (the hub is unreachable): set SCENEDEX_TEST_MODEL, SCENEDEX_TEST_CAT and SCENEDEX_TEST_CAR to run")
	}
	m := openModel(t, dir)
	cat, err1 := os.ReadFile(os.Getenv("SCENEDEX_TEST_CAT"))
	car, err2 := os.ReadFile(os.Getenv("SCENEDEX_TEST_CAR"))
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	ctx := context.Background()
	imgs, err := m.EmbedImages(ctx, [][]byte{cat, car})
	if err != nil {
		t.Fatal(err)
	}
	v, err := m.EmbedText(ctx, "a photo of a cat")
	if err != nil {
		t.Fatal(err)
	}
	if vector.Dot(v, imgs[0]) <= vector.Dot(v, imgs[1]) {
		t.Fatalf("cat %.3f <= car %.3f", vector.Dot(v, imgs[0]), vector.Dot(v, imgs[1]))
	}
}
