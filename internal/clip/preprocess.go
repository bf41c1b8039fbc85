package clip

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"math"
	"os"

	"github.com/scenedex/scenedex/internal/picture"
)

// Preprocessor is what a model's preprocessor_config.json says to do to an
// image: resize the shortest edge, centre crop, rescale to [0, 1], normalise
// per channel (RGB), into an NCHW float tensor.
type Preprocessor struct {
	ShortestEdge int        // resize so the shortest edge is this long
	CropH, CropW int        // centre crop
	Rescale      float64    // rescale_factor (1/255)
	Mean, Std    [3]float64 // image_mean, image_std
	DoResize     bool
	DoCrop       bool
	DoNormalize  bool
}

// ReadPreprocessor reads preprocessor_config.json (CLIPImageProcessor's keys;
// size and crop_size as a number or an object).
func ReadPreprocessor(path string) (Preprocessor, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Preprocessor{}, err
	}
	var raw struct {
		DoResize      *bool           `json:"do_resize"`
		DoCenterCrop  *bool           `json:"do_center_crop"`
		DoNormalize   *bool           `json:"do_normalize"`
		DoRescale     *bool           `json:"do_rescale"`
		Size          json.RawMessage `json:"size"`
		CropSize      json.RawMessage `json:"crop_size"`
		RescaleFactor *float64        `json:"rescale_factor"`
		ImageMean     []float64       `json:"image_mean"`
		ImageStd      []float64       `json:"image_std"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return Preprocessor{}, fmt.Errorf("%s: %w", path, err)
	}
	p := Preprocessor{Rescale: 1.0 / 255, DoResize: true, DoCrop: true, DoNormalize: true}
	if raw.DoResize != nil {
		p.DoResize = *raw.DoResize
	}
	if raw.DoCenterCrop != nil {
		p.DoCrop = *raw.DoCenterCrop
	}
	if raw.DoNormalize != nil {
		p.DoNormalize = *raw.DoNormalize
	}
	if raw.RescaleFactor != nil {
		p.Rescale = *raw.RescaleFactor
	}
	if raw.DoRescale != nil && !*raw.DoRescale {
		p.Rescale = 1
	}
	edge, _, err := sizeOf(raw.Size, "shortest_edge")
	if err != nil {
		return p, fmt.Errorf("%s: size: %w", path, err)
	}
	p.ShortestEdge = edge
	if p.CropH, p.CropW, err = sizeOf(raw.CropSize, ""); err != nil {
		return p, fmt.Errorf("%s: crop_size: %w", path, err)
	}
	if len(raw.ImageMean) != 3 || len(raw.ImageStd) != 3 {
		return p, fmt.Errorf("%s: image_mean and image_std need 3 values", path)
	}
	copy(p.Mean[:], raw.ImageMean)
	copy(p.Std[:], raw.ImageStd)
	if p.ShortestEdge <= 0 || p.CropH <= 0 || p.CropW <= 0 {
		return p, fmt.Errorf("%s: sizes must be positive", path)
	}
	return p, nil
}

// sizeOf reads 224, {"shortest_edge": 224} or {"height": 224, "width": 224}.
func sizeOf(raw json.RawMessage, key string) (int, int, error) {
	var n int
	if json.Unmarshal(raw, &n) == nil {
		return n, n, nil
	}
	var m map[string]int
	if err := json.Unmarshal(raw, &m); err != nil {
		return 0, 0, err
	}
	if key != "" {
		if v, ok := m[key]; ok {
			return v, v, nil
		}
	}
	return m["height"], m["width"], nil
}

// Tensor turns a JPEG or PNG into the model's input: 3 x CropH x CropW,
// channels R, G, B. The image is decoded within picture's decode budget.
func (p Preprocessor) Tensor(ctx context.Context, data []byte) ([]float32, error) {
	img, release, err := picture.Decode(ctx, data)
	if err != nil {
		return nil, err
	}
	defer release()
	return p.FromImage(img), nil
}

// FromImage is Tensor for a decoded image.
func (p Preprocessor) FromImage(img image.Image) []float32 {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if p.DoResize {
		// The shortest edge becomes ShortestEdge, the other keeps the
		// aspect ratio (as transformers rounds it).
		if w <= h {
			w, h = p.ShortestEdge, int(math.Round(float64(h)*float64(p.ShortestEdge)/float64(b.Dx())))
		} else {
			w, h = int(math.Round(float64(w)*float64(p.ShortestEdge)/float64(b.Dy()))), p.ShortestEdge
		}
	}
	cw, ch := w, h
	if p.DoCrop {
		cw, ch = p.CropW, p.CropH
	}
	left, top := (w-cw)/2, (h-ch)/2
	out := make([]float32, 3*cw*ch)
	sx, sy := float64(b.Dx())/float64(w), float64(b.Dy())/float64(h)
	if ycc, ok := img.(*image.YCbCr); ok {
		p.fromYCbCr(ycc, out, cw, ch, left, top, sx, sy)
		return out
	}
	for y := 0; y < ch; y++ {
		for x := 0; x < cw; x++ {
			// Bilinear sample of the resized image at (left+x, top+y).
			fx := (float64(left+x)+0.5)*sx - 0.5
			fy := (float64(top+y)+0.5)*sy - 0.5
			rgb := bilinear(img, b, fx, fy)
			for c := 0; c < 3; c++ {
				v := rgb[c] * p.Rescale
				if p.DoNormalize {
					v = (v - p.Mean[c]) / p.Std[c]
				}
				out[c*cw*ch+y*cw+x] = float32(v)
			}
		}
	}
	return out
}

// tap is where one output column (or row) samples the source: the two
// neighbouring source pixels, clamped, and the weight of the second.
type tap struct {
	i0, i1 int
	w      float64
}

func taps(n, offset, size int, scale float64) []tap {
	out := make([]tap, n)
	for i := range out {
		f := (float64(offset+i)+0.5)*scale - 0.5
		i0 := int(math.Floor(f))
		out[i] = tap{min(max(i0, 0), size-1), min(max(i0+1, 0), size-1), f - float64(i0)}
	}
	return out
}

// rgb16 is color.YCbCr.RGBA's conversion, inlined, shifted to 0-255 as
// bilinear's at does.
func rgb16(yv, cbv, crv uint8) (float64, float64, float64) {
	r, g, b := rgb8(yv, cbv, crv)
	return float64(r), float64(g), float64(b)
}

// rgb8 is rgb16's integer core.
func rgb8(yv, cbv, crv uint8) (uint8, uint8, uint8) {
	yy1 := int32(yv) * 0x10101
	cb1 := int32(cbv) - 128
	cr1 := int32(crv) - 128
	conv := func(v int32) uint8 {
		if uint32(v)&0xff000000 == 0 {
			v >>= 8
		} else {
			v = ^(v >> 31) & 0xffff
		}
		return uint8(uint32(v) >> 8)
	}
	return conv(yy1 + 91881*cr1), conv(yy1 - 22554*cb1 - 46802*cr1), conv(yy1 + 116130*cb1)
}

// fromYCbCr is FromImage's loop for a decoded JPEG, with the same arithmetic
// (bit for bit) and none of the per-pixel interface calls and offset
// arithmetic: sample positions and plane offsets are computed once per row
// and column (YCbCr offsets are separable in x and y for every subsampling).
func (p Preprocessor) fromYCbCr(img *image.YCbCr, out []float32, cw, ch, left, top int, sx, sy float64) {
	b := img.Rect
	xs, ys := taps(cw, left, b.Dx(), sx), taps(ch, top, b.Dy(), sy)
	base, cbase := img.YOffset(b.Min.X, b.Min.Y), img.COffset(b.Min.X, b.Min.Y)
	yCol, cCol := make([][2]int, cw), make([][2]int, cw)
	for i, t := range xs {
		yCol[i] = [2]int{img.YOffset(b.Min.X+t.i0, b.Min.Y) - base, img.YOffset(b.Min.X+t.i1, b.Min.Y) - base}
		cCol[i] = [2]int{img.COffset(b.Min.X+t.i0, b.Min.Y) - cbase, img.COffset(b.Min.X+t.i1, b.Min.Y) - cbase}
	}
	plane := cw * ch
	lut := p.table()
	for y, ty := range ys {
		yRow := [2]int{img.YOffset(b.Min.X, b.Min.Y+ty.i0), img.YOffset(b.Min.X, b.Min.Y+ty.i1)}
		cRow := [2]int{img.COffset(b.Min.X, b.Min.Y+ty.i0), img.COffset(b.Min.X, b.Min.Y+ty.i1)}
		// A tap of weight 0 adds exactly +0 to a non-negative sample, so it
		// is left out (bit for bit the same): where the image already has
		// the model's size, one sample per output pixel instead of four.
		rows := 2
		if ty.w == 0 {
			rows = 1
		}
		for x, tx := range xs {
			cols := 2
			if tx.w == 0 {
				cols = 1
			}
			if rows == 1 && cols == 1 { // a source pixel as it is: its value from the table
				yi, ci := yRow[0]+yCol[x][0], cRow[0]+cCol[x][0]
				r, g, bl := rgb8(img.Y[yi], img.Cb[ci], img.Cr[ci])
				i := y*cw + x
				out[i], out[plane+i], out[2*plane+i] = lut[0][r], lut[1][g], lut[2][bl]
				continue
			}
			var px [2][2][3]float64 // [row][col][channel]
			for r := range rows {
				for k := range cols {
					yi, ci := yRow[r]+yCol[x][k], cRow[r]+cCol[x][k]
					px[r][k][0], px[r][k][1], px[r][k][2] = rgb16(img.Y[yi], img.Cb[ci], img.Cr[ci])
				}
			}
			for c := range 3 {
				topv, bot := px[0][0][c], px[1][0][c]
				if cols == 2 {
					topv = px[0][0][c]*(1-tx.w) + px[0][1][c]*tx.w
					bot = px[1][0][c]*(1-tx.w) + px[1][1][c]*tx.w
				}
				v := topv
				if rows == 2 {
					v = topv*(1-ty.w) + bot*ty.w
				}
				out[c*plane+y*cw+x] = p.normalize(c, v)
			}
		}
	}
}

// normalize is the tensor value of channel c's sample v (0-255).
func (p Preprocessor) normalize(c int, v float64) float32 {
	v *= p.Rescale
	if p.DoNormalize {
		v = (v - p.Mean[c]) / p.Std[c]
	}
	return float32(v)
}

// table is normalize of every whole sample value, per channel.
func (p Preprocessor) table() *[3][256]float32 {
	var t [3][256]float32
	for c := range 3 {
		for v := range 256 {
			t[c][v] = p.normalize(c, float64(v))
		}
	}
	return &t
}

// bilinear samples img at (fx, fy) in pixel coordinates, 0-255 per channel.
// Decoded JPEGs (YCbCr) are read directly, without an interface per pixel.
func bilinear(img image.Image, b image.Rectangle, fx, fy float64) [3]float64 {
	x0, y0 := int(math.Floor(fx)), int(math.Floor(fy))
	wx, wy := fx-float64(x0), fy-float64(y0)
	ycc, _ := img.(*image.YCbCr)
	at := func(x, y int) [3]float64 {
		x = min(max(x, 0), b.Dx()-1)
		y = min(max(y, 0), b.Dy()-1)
		var r, g, bl uint32
		if ycc != nil {
			yi, ci := ycc.YOffset(b.Min.X+x, b.Min.Y+y), ycc.COffset(b.Min.X+x, b.Min.Y+y)
			r, g, bl, _ = color.YCbCr{Y: ycc.Y[yi], Cb: ycc.Cb[ci], Cr: ycc.Cr[ci]}.RGBA()
		} else {
			r, g, bl, _ = img.At(b.Min.X+x, b.Min.Y+y).RGBA()
		}
		return [3]float64{float64(r >> 8), float64(g >> 8), float64(bl >> 8)}
	}
	p00, p10, p01, p11 := at(x0, y0), at(x0+1, y0), at(x0, y0+1), at(x0+1, y0+1)
	var out [3]float64
	for c := 0; c < 3; c++ {
		top := p00[c]*(1-wx) + p10[c]*wx
		bot := p01[c]*(1-wx) + p11[c]*wx
		out[c] = top*(1-wy) + bot*wy
	}
	return out
}
