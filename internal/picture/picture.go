// Package picture checks and shrinks the images users send (query images):
// their size is read from the header before any pixel is decoded, absurd
// ones are refused, and large ones are scaled down to what a model needs, so
// memory stays bounded and a request fits SageMaker serverless's 4 MB.
//
// Memory: an image is decoded whole (Go's decoders cannot decode at a
// reduced size), so what it takes decoded is known from its header — pixels
// times the bytes per pixel of its format (Cost). One image may take at most
// MaxDecodedBytes, and all the decodes of the process together at most
// DecodeBudget: a decode that would go past it waits its turn.
package picture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	_ "image/png" // query images may be PNG

	"golang.org/x/sync/semaphore"
)

// MaxPixels is the largest image decoded at all (40 megapixels).
const MaxPixels = 40_000_000

// MaxDecodedBytes is the most one image may take decoded: 40 megapixels of
// 8-bit RGBA. A 16-bit PNG takes twice its 8-bit form, so it may have half
// the pixels (20 megapixels).
const MaxDecodedBytes = 160 << 20

// DecodeBudget bounds the decoded bytes all decodes of the process hold at
// once: two of the largest images, or many small ones.
const DecodeBudget = 2 * MaxDecodedBytes

// decodes holds the budget; a decode takes its Cost from it.
var decodes = semaphore.NewWeighted(DecodeBudget)

// ErrBusy is the error of a decode that gave up waiting for the budget (its
// context ended): the server is busy with other images, try again.
var ErrBusy = errors.New("the server is busy decoding other images; try again")

// Check reads the header of a JPEG or PNG and refuses what is not one, what
// is larger than MaxPixels, or what would take more than MaxDecodedBytes.
func Check(data []byte) (image.Config, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return cfg, fmt.Errorf("not a JPEG or PNG image: %w", err)
	}
	if format != "jpeg" && format != "png" {
		return cfg, fmt.Errorf("a %s image: send a JPEG or PNG", format)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return cfg, fmt.Errorf("the image is %dx%d pixels; at most %d megapixels are read", cfg.Width, cfg.Height, MaxPixels/1_000_000)
	}
	if c := Cost(cfg); c > MaxDecodedBytes {
		return cfg, fmt.Errorf("the image is %dx%d pixels at %d bits per channel: %d MiB decoded, more than the %d MiB one image may take; save it with 8 bits per channel or fewer pixels",
			cfg.Width, cfg.Height, bitsPerChannel(cfg.ColorModel), c>>20, MaxDecodedBytes>>20)
	}
	return cfg, nil
}

// Cost is the bytes an image takes once decoded: its pixels times the
// bytes per pixel of the image Go's decoder makes of it.
func Cost(cfg image.Config) int64 {
	return int64(cfg.Width) * int64(cfg.Height) * bytesPerPixel(cfg.ColorModel)
}

func bytesPerPixel(m color.Model) int64 {
	switch m {
	case color.GrayModel, color.AlphaModel:
		return 1
	case color.Gray16Model, color.Alpha16Model:
		return 2
	case color.YCbCrModel:
		return 3 // 4:4:4 at most; 4:2:0 takes half
	case color.RGBA64Model, color.NRGBA64Model:
		return 8
	}
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	return 4 // RGBA, NRGBA, CMYK
}

func bitsPerChannel(m color.Model) int {
	switch m {
	case color.Gray16Model, color.Alpha16Model, color.RGBA64Model, color.NRGBA64Model:
		return 16
	}
	return 8
}

// Decode decodes a JPEG or PNG within the process's DecodeBudget: it waits
// while other decodes hold the budget (ctx bounds the wait: ErrBusy) and
// returns release, to call once the image is no longer used.
func Decode(ctx context.Context, data []byte) (image.Image, func(), error) {
	cfg, err := Check(data)
	if err != nil {
		return nil, nil, err
	}
	return decode(ctx, data, Cost(cfg))
}

// decode takes cost bytes of the budget (the image and what its caller
// makes of it, reserved at once so no decode waits holding a part) and
// decodes data.
func decode(ctx context.Context, data []byte, cost int64) (image.Image, func(), error) {
	if cost > DecodeBudget {
		return nil, nil, fmt.Errorf("decoding the image would take %d MiB, more than the %d MiB of all decodes", cost>>20, DecodeBudget>>20)
	}
	if err := decodes.Acquire(ctx, cost); err != nil {
		return nil, nil, fmt.Errorf("%w (%v)", ErrBusy, err)
	}
	release := func() { decodes.Release(cost) }
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		release()
		return nil, nil, fmt.Errorf("decode image: %w", err)
	}
	return img, release, nil
}

// Shrink returns data itself when the image is at most maxSide pixels on its
// long side and maxBytes long; otherwise the image scaled down (area
// average) to maxSide and encoded as JPEG, decoded within the budget.
func Shrink(ctx context.Context, data []byte, maxSide, maxBytes int) ([]byte, error) {
	cfg, err := Check(data)
	if err != nil {
		return nil, err
	}
	if max(cfg.Width, cfg.Height) <= maxSide && len(data) <= maxBytes {
		return data, nil
	}
	scale := min(1, float64(maxSide)/float64(max(cfg.Width, cfg.Height)))
	w, h := max(1, int(float64(cfg.Width)*scale+0.5)), max(1, int(float64(cfg.Height)*scale+0.5))
	// downscale's sums and output take 36 bytes per output pixel.
	img, release, err := decode(ctx, data, Cost(cfg)+int64(w)*int64(h)*36)
	if err != nil {
		return nil, err
	}
	defer release()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, downscale(img, w, h), &jpeg.Options{Quality: 90}); err != nil {
		return nil, fmt.Errorf("encode image: %w", err)
	}
	return buf.Bytes(), nil
}

// downscale averages the source pixels under each output pixel.
func downscale(img image.Image, w, h int) *image.RGBA {
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	sum := make([][4]uint64, w*h)
	ycc, _ := img.(*image.YCbCr)
	for y := 0; y < sh; y++ {
		oy := y * h / sh
		for x := 0; x < sw; x++ {
			var r, g, bl, a uint32
			if ycc != nil {
				yi, ci := ycc.YOffset(b.Min.X+x, b.Min.Y+y), ycc.COffset(b.Min.X+x, b.Min.Y+y)
				r, g, bl, a = color.YCbCr{Y: ycc.Y[yi], Cb: ycc.Cb[ci], Cr: ycc.Cr[ci]}.RGBA()
			} else {
				r, g, bl, a = img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			}
			s := &sum[oy*w+x*w/sw]
			s[0] += uint64(r)
			s[1] += uint64(g)
			s[2] += uint64(bl)
			s[3] += uint64(a)
		}
	}
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for oy := 0; oy < h; oy++ {
		for ox := 0; ox < w; ox++ {
			// Pixels per output cell, counted as the loops above assign them.
			n := uint64(cells(ox, w, sw) * cells(oy, h, sh))
			if n == 0 {
				continue
			}
			s := sum[oy*w+ox]
			o := out.PixOffset(ox, oy)
			out.Pix[o], out.Pix[o+1], out.Pix[o+2], out.Pix[o+3] = uint8(s[0]/n>>8), uint8(s[1]/n>>8), uint8(s[2]/n>>8), uint8(s[3]/n>>8)
		}
	}
	return out
}

// cells is how many source indexes i in [0, src) have i*dst/src == o.
func cells(o, dst, src int) int {
	lo := (o*src + dst - 1) / dst
	hi := ((o+1)*src + dst - 1) / dst
	return hi - lo
}
