package picture

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"
)

func jpegOf(w, h int, c color.Color) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	jpeg.Encode(&b, img, &jpeg.Options{Quality: 95})
	return b.Bytes()
}

// claimed is a PNG whose header claims w x h (DecodeConfig reads only that).
func claimed(w, h uint32) []byte {
	var b bytes.Buffer
	png.Encode(&b, image.NewGray(image.Rect(0, 0, 1, 1)))
	data := b.Bytes()
	binary.BigEndian.PutUint32(data[16:20], w)
	binary.BigEndian.PutUint32(data[20:24], h)
	binary.BigEndian.PutUint32(data[29:33], crc32.ChecksumIEEE(data[12:29]))
	return data
}

func TestShrink(t *testing.T) {
	small := jpegOf(300, 200, color.RGBA{200, 30, 30, 255})
	if out, err := Shrink(small, 768, 1<<20); err != nil || !bytes.Equal(out, small) {
		t.Fatalf("a small image is sent as it is: %v", err)
	}
	big := jpegOf(3000, 1500, color.RGBA{30, 200, 30, 255})
	out, err := Shrink(big, 768, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, _ := image.DecodeConfig(bytes.NewReader(out))
	if cfg.Width != 768 || cfg.Height != 384 {
		t.Fatalf("shrunk to %dx%d", cfg.Width, cfg.Height)
	}
	img, _ := jpeg.Decode(bytes.NewReader(out))
	if r, g, _, _ := img.At(400, 200).RGBA(); g>>8 < 180 || r>>8 > 60 {
		t.Errorf("colour lost: %v", img.At(400, 200))
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"16000x16000", claimed(16000, 16000), "at most 40 megapixels"},
		{"not an image", []byte("hello"), "not a JPEG or PNG"},
		{"zero", claimed(0, 10), "not a JPEG or PNG"},
	} {
		if _, err := Shrink(tc.data, 768, 1<<20); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestCells(t *testing.T) {
	for _, c := range []struct{ dst, src int }{{768, 3000}, {7, 10}, {1, 5}, {5, 5}} {
		total := 0
		for o := 0; o < c.dst; o++ {
			total += cells(o, c.dst, c.src)
		}
		if total != c.src {
			t.Errorf("%v: cells add up to %d", c, total)
		}
	}
}
