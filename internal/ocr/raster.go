package ocr

import (
	"image"
	"math"
)

// raster is a packed 8-bit RGB image: the one pixel layout the detector and
// recogniser read, converted once from whatever the decoder gave.
type raster struct {
	W, H int
	Pix  []uint8 // R, G, B per pixel, row by row
}

func toRaster(img image.Image) raster {
	b := img.Bounds()
	r := raster{W: b.Dx(), H: b.Dy(), Pix: make([]uint8, 3*b.Dx()*b.Dy())}
	switch m := img.(type) {
	case *image.YCbCr:
		for y := 0; y < r.H; y++ {
			for x := 0; x < r.W; x++ {
				yi := m.YOffset(b.Min.X+x, b.Min.Y+y)
				ci := m.COffset(b.Min.X+x, b.Min.Y+y)
				R, G, B := ycbcrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				o := 3 * (y*r.W + x)
				r.Pix[o], r.Pix[o+1], r.Pix[o+2] = R, G, B
			}
		}
	case *image.Gray:
		for y := 0; y < r.H; y++ {
			for x := 0; x < r.W; x++ {
				v := m.Pix[(y)*m.Stride+x]
				o := 3 * (y*r.W + x)
				r.Pix[o], r.Pix[o+1], r.Pix[o+2] = v, v, v
			}
		}
	default:
		for y := 0; y < r.H; y++ {
			for x := 0; x < r.W; x++ {
				R, G, B, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
				o := 3 * (y*r.W + x)
				r.Pix[o], r.Pix[o+1], r.Pix[o+2] = uint8(R>>8), uint8(G>>8), uint8(B>>8)
			}
		}
	}
	return r
}

// ycbcrToRGB is image/color's conversion, inlined for speed.
func ycbcrToRGB(y, cb, cr uint8) (uint8, uint8, uint8) {
	yy := int32(y) * 0x10101
	cb1 := int32(cb) - 128
	cr1 := int32(cr) - 128
	r := yy + 91881*cr1
	g := yy - 22554*cb1 - 46802*cr1
	b := yy + 116130*cb1
	return clamp16(r), clamp16(g), clamp16(b)
}

func clamp16(v int32) uint8 {
	if uint32(v)&0xff000000 == 0 {
		return uint8(v >> 16)
	}
	if v < 0 {
		return 0
	}
	return 255
}

// resize scales the rectangle src of r to w x h with bilinear sampling
// (pixel centres aligned, as OpenCV's INTER_LINEAR does).
func (r raster) resize(src image.Rectangle, w, h int) raster {
	out := raster{W: w, H: h, Pix: make([]uint8, 3*w*h)}
	sx := float64(src.Dx()) / float64(w)
	sy := float64(src.Dy()) / float64(h)
	for y := 0; y < h; y++ {
		fy := (float64(y)+0.5)*sy - 0.5 + float64(src.Min.Y)
		y0 := int(math.Floor(fy))
		wy := fy - float64(y0)
		y0c, y1c := clampInt(y0, src.Min.Y, src.Max.Y-1), clampInt(y0+1, src.Min.Y, src.Max.Y-1)
		for x := 0; x < w; x++ {
			fx := (float64(x)+0.5)*sx - 0.5 + float64(src.Min.X)
			x0 := int(math.Floor(fx))
			wx := fx - float64(x0)
			x0c, x1c := clampInt(x0, src.Min.X, src.Max.X-1), clampInt(x0+1, src.Min.X, src.Max.X-1)
			a, b := 3*(y0c*r.W+x0c), 3*(y0c*r.W+x1c)
			c, d := 3*(y1c*r.W+x0c), 3*(y1c*r.W+x1c)
			o := 3 * (y*w + x)
			for k := 0; k < 3; k++ {
				top := float64(r.Pix[a+k])*(1-wx) + float64(r.Pix[b+k])*wx
				bot := float64(r.Pix[c+k])*(1-wx) + float64(r.Pix[d+k])*wx
				out.Pix[o+k] = uint8(top*(1-wy) + bot*wy + 0.5)
			}
		}
	}
	return out
}

func clampInt(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// Signatures are sigW x sigH grey thumbnails, for telling repeated frames.
const sigW, sigH = 64, 36

// signature is r shrunk to a small grey image by area averaging.
func (r raster) signature() []uint8 {
	sum := make([]int, sigW*sigH)
	cnt := make([]int, sigW*sigH)
	for y := 0; y < r.H; y++ {
		sy := y * sigH / r.H
		for x := 0; x < r.W; x++ {
			o := 3 * (y*r.W + x)
			i := sy*sigW + x*sigW/r.W
			sum[i] += int(r.Pix[o])*299 + int(r.Pix[o+1])*587 + int(r.Pix[o+2])*114
			cnt[i] += 1000
		}
	}
	out := make([]uint8, len(sum))
	for i := range sum {
		if cnt[i] > 0 {
			out[i] = uint8(sum[i] / cnt[i])
		}
	}
	return out
}

// sameScene: no cell of the thumbnails differs by more than a few levels,
// so no text can have appeared, gone or changed (a new word changes the cells
// it covers by far more).
func sameScene(a, b []uint8) bool {
	if len(a) != len(b) || len(a) == 0 {
		return false
	}
	for i := range a {
		if d := int(a[i]) - int(b[i]); d > 4 || d < -4 {
			return false
		}
	}
	return true
}
