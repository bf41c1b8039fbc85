package local

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scenedex/scenedex/internal/assets"
	"github.com/scenedex/scenedex/internal/modelserver"
	"github.com/scenedex/scenedex/internal/pipeline"
	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/testvideo"
)

// BenchmarkSecondsToSearchable uploads the 5-minute 720p video through a
// presigned URL to a fresh local server (default settings: 10 s chunks) and
// measures until it is READY and a search returns it, with OCR off and on
// (PP-OCRv4 on every sampled frame). The reference in the same run is the
// plain upload (PUT) alone; and, for the frames the model is sent (their
// 224 px form), the same with the model sent the 1280 px frames.
func BenchmarkSecondsToSearchable(b *testing.B) {
	for _, tc := range []struct {
		name      string
		ocr       bool
		embedEdge int
	}{
		{"ocr=off", false, 0}, {"ocr=on", true, 0},
		// The reference for the embedding form: the model sent the 1280 px frames.
		{"ocr=off,model-frames=1280", false, -1},
	} {
		b.Run(tc.name, func(b *testing.B) { secondsToSearchable(b, tc.ocr, tc.embedEdge) })
	}
}

func secondsToSearchable(b *testing.B, withOCR bool, embedEdge int) {
	video, err := testvideo.FiveMinute720p()
	if err != nil {
		b.Fatal(err)
	}
	st, _ := os.Stat(video)
	frame := testvideo.Frame(b, video, 100)
	ctx := context.Background()
	var total, put []time.Duration
	for b.Loop() {
		app, err := Start(ctx, Config{Addr: "127.0.0.1:0", Data: filepath.Join(b.TempDir(), "data"), ModelOptions: modelserver.Options{},
			OCR: withOCR, Assets: assets.Dir(), Pipeline: pipeline.Config{EmbedEdge: embedEdge}})
		if err != nil {
			b.Fatal(err)
		}
		c := clientFor(app)
		start := time.Now()
		created, err := c.CreateVideo(ctx, pipeline.UploadRequest{Filename: "five.mp4", Size: st.Size()})
		if err != nil {
			b.Fatal(err)
		}
		if err := c.PutFile(ctx, created.Upload, video, nil); err != nil {
			b.Fatal(err)
		}
		put = append(put, time.Since(start))
		v, err := c.Wait(ctx, created.Video.ID, 50*time.Millisecond, nil)
		if err != nil || v.Status != scenedex.StatusReady {
			b.Fatalf("not ready: %+v %v", v, err)
		}
		hits, err := c.Search(ctx, scenedex.Query{Image: frame, K: 1})
		if err != nil || len(hits) != 1 {
			b.Fatalf("search: %v %v", hits, err)
		}
		if withOCR { // the caption shown at 100-105 s is found by its words
			hits, err := c.Search(ctx, scenedex.Query{Text: `"caption 20"`, K: 1})
			if err != nil || len(hits) != 1 || hits[0].Start > 100.5 || hits[0].End < 100 {
				b.Fatalf("words search: %+v %v", hits, err)
			}
		}
		total = append(total, time.Since(start))
		app.Close()
	}
	b.ReportMetric(medianDur(total).Seconds(), "to-searchable-s")
	b.ReportMetric(medianDur(put).Seconds(), "upload-only-s")
	b.ReportMetric(300/medianDur(total).Seconds(), "x-realtime")
}
