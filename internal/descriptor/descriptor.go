// Package descriptor is the local model: a classical, training-free visual
// descriptor used when no neural embedding model is reachable (no model hub
// here, and no registry package ships CLIP weights). It is honest about what it
// is: it finds scenes that look alike in colour layout and texture/edge
// structure, and it cannot embed text.
//
// The vector (308 dimensions, L2-normalised) concatenates
//   - HSV colour histograms (8 hue x 2 saturation x 2 value bins plus 4 grey
//     levels = 36 bins) over the whole frame and over each quadrant: 180 dims,
//     square-rooted (Hellinger kernel) so cosine similarity compares them well;
//   - histograms of oriented gradients: 8 unsigned orientations over a 4x4
//     grid of cells, magnitude-weighted, L2-normalised and clipped at 0.2 as in
//     SIFT: 128 dims.
package descriptor

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // decoders for the model contract's images
	_ "image/png"
	"math"

	"github.com/scenedex/scenedex/internal/picture"
	"github.com/scenedex/scenedex/internal/vector"
)

// Dim is the length of every vector.
const Dim = colorDims + hogDims

// Name identifies the model in responses.
const Name = "scenedex-hsv-hog-v1"

const (
	side       = 64 // frames are resampled to side x side
	colorBins  = 36
	colorDims  = 5 * colorBins
	hogCells   = 4
	hogBins    = 8
	hogDims    = hogCells * hogCells * hogBins
	colorShare = 0.6 // weight of the colour part in the final vector
)

// EmbedJPEG decodes an image (JPEG or PNG) and describes it.
func EmbedJPEG(data []byte) ([]float32, error) {
	if _, err := picture.Check(data); err != nil { // before any pixel is decoded
		return nil, err
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decode image: %w", err)
	}
	return Embed(img), nil
}

// Embed describes one image.
func Embed(img image.Image) []float32 {
	rgb := resample(img)
	v := make([]float32, Dim)
	colour(rgb, v[:colorDims])
	hog(rgb, v[colorDims:])
	scale(v[:colorDims], colorShare)
	scale(v[colorDims:], 1-colorShare)
	vector.Normalize(v)
	return v
}

func scale(v []float32, f float64) {
	for i := range v {
		v[i] = float32(float64(v[i]) * f)
	}
}

// resample box-filters img to side x side RGB in [0,1].
func resample(img image.Image) [side * side][3]float32 {
	var out [side * side][3]float32
	var count [side * side]float32
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w == 0 || h == 0 {
		return out
	}
	// Decoded JPEGs are YCbCr: read them directly (the same conversion
	// img.At would make, without an interface value per pixel), with the
	// cell and plane offsets of each column and row computed once (YCbCr
	// offsets are separable in x and y). The sums run in the same order as
	// the generic loop's, so the result is the same bit for bit.
	if ycc, ok := img.(*image.YCbCr); ok {
		oxs, yCol, cCol := make([]int, w), make([]int, w), make([]int, w)
		base, cbase := ycc.YOffset(b.Min.X, b.Min.Y), ycc.COffset(b.Min.X, b.Min.Y)
		for x := range w {
			oxs[x] = x * side / w
			yCol[x] = ycc.YOffset(b.Min.X+x, b.Min.Y) - base
			cCol[x] = ycc.COffset(b.Min.X+x, b.Min.Y) - cbase
		}
		for y := range h {
			oy := y * side / h
			yRow, cRow := ycc.YOffset(b.Min.X, b.Min.Y+y), ycc.COffset(b.Min.X, b.Min.Y+y)
			for x := range w {
				yi, ci := yRow+yCol[x], cRow+cCol[x]
				r, g, bl, _ := color.YCbCr{Y: ycc.Y[yi], Cb: ycc.Cb[ci], Cr: ycc.Cr[ci]}.RGBA()
				addPixel(&out, &count, oy*side+oxs[x], r, g, bl)
			}
		}
		average(&out, &count)
		return out
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		oy := (y - b.Min.Y) * side / h
		for x := b.Min.X; x < b.Max.X; x++ {
			ox := (x - b.Min.X) * side / w
			r, g, bl, _ := img.At(x, y).RGBA()
			addPixel(&out, &count, oy*side+ox, r, g, bl)
		}
	}
	average(&out, &count)
	return out
}

// addPixel adds a pixel (16-bit channels) to cell i's sums.
func addPixel(out *[side * side][3]float32, count *[side * side]float32, i int, r, g, bl uint32) {
	out[i][0] += float32(r) / 65535
	out[i][1] += float32(g) / 65535
	out[i][2] += float32(bl) / 65535
	count[i]++
}

// average divides each cell's sums by its pixel count.
func average(out *[side * side][3]float32, count *[side * side]float32) {
	for i := range out {
		if count[i] > 0 {
			for c := range 3 {
				out[i][c] /= count[i]
			}
		}
	}
}

func colour(px [side * side][3]float32, v []float32) {
	for y := range side {
		for x := range side {
			bin := hsvBin(px[y*side+x])
			quadrant := 1 + (y*2/side)*2 + x*2/side
			v[bin]++
			v[quadrant*colorBins+bin]++
		}
	}
	for r := range 5 {
		h := v[r*colorBins : (r+1)*colorBins]
		var sum float32
		for _, x := range h {
			sum += x
		}
		for i := range h {
			h[i] = float32(math.Sqrt(float64(h[i] / sum)))
		}
	}
	vector.Normalize(v)
}

func hsvBin(p [3]float32) int {
	r, g, b := p[0], p[1], p[2]
	mx := max(r, g, b)
	mn := min(r, g, b)
	val := mx
	sat := float32(0)
	if mx > 0 {
		sat = (mx - mn) / mx
	}
	if sat < 0.2 || val < 0.15 {
		return 32 + min(int(val*4), 3) // grey levels
	}
	var hue float32
	d := mx - mn
	switch mx {
	case r:
		hue = (g - b) / d
	case g:
		hue = 2 + (b-r)/d
	default:
		hue = 4 + (r-g)/d
	}
	hue /= 6
	if hue < 0 {
		hue++
	}
	hb := min(int(hue*8), 7)
	sb := 0
	if sat > 0.6 {
		sb = 1
	}
	vb := 0
	if val > 0.6 {
		vb = 1
	}
	return hb*4 + sb*2 + vb
}

func hog(px [side * side][3]float32, v []float32) {
	var grey [side * side]float32
	for i, p := range px {
		grey[i] = 0.299*p[0] + 0.587*p[1] + 0.114*p[2]
	}
	cell := side / hogCells
	for y := 1; y < side-1; y++ {
		for x := 1; x < side-1; x++ {
			gx := grey[y*side+x+1] - grey[y*side+x-1]
			gy := grey[(y+1)*side+x] - grey[(y-1)*side+x]
			mag := float32(math.Hypot(float64(gx), float64(gy)))
			if mag == 0 {
				continue
			}
			ang := math.Atan2(float64(gy), float64(gx))
			if ang < 0 {
				ang += math.Pi
			}
			bin := min(int(ang/math.Pi*hogBins), hogBins-1)
			c := (y/cell)*hogCells + x/cell
			v[c*hogBins+bin] += mag
		}
	}
	vector.Normalize(v)
	for i := range v {
		v[i] = min(v[i], 0.2)
	}
	vector.Normalize(v)
}
