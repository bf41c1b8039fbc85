// Package picture checks and shrinks the images users send (query images):
// their size is read from the header before any pixel is decoded, absurd
// ones are refused, and large ones are scaled down to what a model needs, so
// memory stays bounded and a request fits SageMaker serverless's 4 MB.
package picture

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	_ "image/png" // query images may be PNG
)

// MaxPixels is the largest image decoded at all (40 megapixels: about 60 MB
// of YCbCr while it is shrunk).
const MaxPixels = 40_000_000

// Check reads the header of a JPEG or PNG and refuses what is not one, or
// what is larger than MaxPixels.
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
	return cfg, nil
}

// Shrink returns data itself when the image is at most maxSide pixels on its
// long side and maxBytes long; otherwise the image scaled down (area
// average) to maxSide and encoded as JPEG.
func Shrink(data []byte, maxSide, maxBytes int) ([]byte, error) {
	cfg, err := Check(data)
	if err != nil {
		return nil, err
	}
	if max(cfg.Width, cfg.Height) <= maxSide && len(data) <= maxBytes {
		return data, nil
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decode image: %w", err)
	}
	scale := min(1, float64(maxSide)/float64(max(cfg.Width, cfg.Height)))
	w, h := max(1, int(float64(cfg.Width)*scale+0.5)), max(1, int(float64(cfg.Height)*scale+0.5))
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
