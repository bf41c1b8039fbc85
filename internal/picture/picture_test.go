package picture

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"runtime"
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
func claimed(w, h uint32) []byte { return claimedPNG(w, h, 8, 0) }

// claimedPNG is a PNG whose header claims w x h at a bit depth and colour
// type (0 gray, 2 RGB, 6 RGBA).
func claimedPNG(w, h uint32, depth, colorType byte) []byte {
	var b bytes.Buffer
	png.Encode(&b, image.NewGray(image.Rect(0, 0, 1, 1)))
	data := b.Bytes()
	binary.BigEndian.PutUint32(data[16:20], w)
	binary.BigEndian.PutUint32(data[20:24], h)
	data[24], data[25] = depth, colorType
	binary.BigEndian.PutUint32(data[29:33], crc32.ChecksumIEEE(data[12:29]))
	return data
}

func TestShrink(t *testing.T) {
	small := jpegOf(300, 200, color.RGBA{200, 30, 30, 255})
	if out, err := Shrink(context.Background(), small, 768, 1<<20); err != nil || !bytes.Equal(out, small) {
		t.Fatalf("a small image is sent as it is: %v", err)
	}
	big := jpegOf(3000, 1500, color.RGBA{30, 200, 30, 255})
	out, err := Shrink(context.Background(), big, 768, 1<<20)
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
		if _, err := Shrink(context.Background(), tc.data, 768, 1<<20); err == nil || !strings.Contains(err.Error(), tc.want) {
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

// What an image takes decoded decides, from its header: a 16-bit PNG under
// the 40-megapixel cap is refused when it would take more than one image
// may (#16: eight searches with a 16-bit 6320×6320 PNG took 5.1 GB); its
// 8-bit form and a 16-bit one of half the pixels pass.
func TestCheckDecodedSize(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want string // "" = accepted
	}{
		{"16-bit RGBA 6320x6320", claimedPNG(6320, 6320, 16, 6), "6320x6320 pixels at 16 bits per channel: 304 MiB decoded, more than the 160 MiB"},
		{"16-bit gray 6320x6320", claimedPNG(6320, 6320, 16, 0), ""},
		{"8-bit RGBA 6320x6320", claimedPNG(6320, 6320, 8, 6), ""},
		{"16-bit RGB 4400x4400", claimedPNG(4400, 4400, 16, 2), ""},
	} {
		_, err := Check(tc.data)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// Decodes share one budget: while others hold it, a decode waits its turn
// (it is queued on the budget, and goes on once the budget is given back);
// one whose request ends meanwhile gives up with ErrBusy instead of
// decoding.
func TestDecodesShareTheBudget(t *testing.T) {
	big := jpegOf(1600, 1200, color.RGBA{30, 30, 200, 255})
	bg := context.Background()
	// All the budget but one byte is held, as by other decodes.
	if err := decodes.Acquire(bg, DecodeBudget-1); err != nil {
		t.Fatal(err)
	}
	// The free byte can be taken unless a decode is queued for the budget.
	queued := func() bool {
		if decodes.TryAcquire(1) {
			decodes.Release(1)
			return false
		}
		return true
	}
	ctx, cancel := context.WithCancel(bg)
	errc := make(chan error, 1)
	go func() {
		_, err := Shrink(ctx, big, 768, 1<<20)
		errc <- err
	}()
	for !queued() {
		runtime.Gosched()
	}
	cancel() // the request is gone while it waits
	if err := <-errc; !errors.Is(err, ErrBusy) {
		t.Fatalf("a decode whose request ended while it waited: %v, want ErrBusy", err)
	}

	outc := make(chan []byte, 1)
	go func() {
		out, err := Shrink(bg, big, 768, 1<<20)
		if err != nil {
			t.Error(err)
		}
		outc <- out
	}()
	for !queued() {
		runtime.Gosched()
	}
	decodes.Release(DecodeBudget - 1)
	out := <-outc
	if cfg, _, _ := image.DecodeConfig(bytes.NewReader(out)); cfg.Width != 768 {
		t.Fatalf("shrunk to %dx%d", cfg.Width, cfg.Height)
	}
	// Everything taken was given back.
	if !decodes.TryAcquire(DecodeBudget) {
		t.Fatal("the budget was not all given back")
	}
	decodes.Release(DecodeBudget)
}
