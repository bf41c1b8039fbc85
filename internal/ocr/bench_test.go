package ocr

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/scenedex/scenedex/internal/assets"
	"github.com/scenedex/scenedex/internal/onnx"
	"github.com/scenedex/scenedex/internal/testvideo"
)

// BenchmarkOCRPerChunk reads one chunk's four sampled frames (1280x720, from
// the captioned 5-minute benchmark video: a title and a caption that changes
// every 5 s) with one intra-op thread, as each of the local server's two
// embed workers does, at the default detector size (736) and PaddleOCR's
// 960. The reference in the same run is the detector alone on each frame.
func BenchmarkOCRPerChunk(b *testing.B) {
	video, err := testvideo.FiveMinute720p()
	if err != nil {
		b.Fatal(err)
	}
	var frames [][]byte
	for _, t := range []float64{101, 103.5, 106, 108.5} {
		frames = append(frames, testvideo.Frame(b, video, t))
	}
	dir := assets.Dir()
	if err := onnx.Init(assets.Library(dir)); err != nil {
		b.Fatal(err)
	}
	for _, side := range []int{960, 736} {
		b.Run(fmt.Sprintf("det-side=%d", side), func(b *testing.B) {
			r, err := Open(assets.OCRModels(dir), Options{Threads: 1, DetMaxSide: side})
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			var all, det []time.Duration
			lines := 0
			for b.Loop() {
				start := time.Now()
				texts, err := r.ReadText(context.Background(), frames)
				if err != nil {
					b.Fatal(err)
				}
				all = append(all, time.Since(start))
				lines = 0
				for _, t := range texts {
					lines += len(t)
				}
				start = time.Now()
				for _, f := range frames {
					img, release, err := decode(context.Background(), f)
					if err != nil {
						b.Fatal(err)
					}
					ras := toRaster(img)
					release()
					if _, err := r.detect(ras); err != nil {
						b.Fatal(err)
					}
				}
				det = append(det, time.Since(start))
			}
			b.ReportMetric(median(all).Seconds()*1000, "ms/chunk")
			b.ReportMetric(median(det).Seconds()*1000, "detect-ms/chunk")
			b.ReportMetric(float64(lines), "lines/chunk")
		})
	}
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}
