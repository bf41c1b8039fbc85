package pipeline

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/scenedex/scenedex/internal/ffmpeg"
	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/testvideo"
)

// BenchmarkChunkFiveMinutes720p times the Chunk step over every window of a
// 5-minute 720p video (windows cut two at a time, as the workflow's Map does)
// against raw ffmpeg doing the same cuts in the same run: one stream-copy
// segmenting pass over the whole file plus one keyframe-only frame pass
// writing both forms of each frame (1280 px, and 224 px for the model).
// It reports the medians and ours/raw.
func BenchmarkChunkFiveMinutes720p(b *testing.B) {
	tool, err := ffmpeg.Find("")
	if err != nil {
		b.Fatal(err)
	}
	video, err := testvideo.FiveMinute720p()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	pr, err := tool.Probe(ctx, video)
	if err != nil {
		b.Fatal(err)
	}
	p := &Pipeline{cfg: Config{}.withDefaults()}
	plan := p.plan("bench", pr)
	var ours, raw []time.Duration
	chunks := 0
	b.ResetTimer()
	for b.Loop() {
		dir := b.TempDir()
		start := time.Now()
		chunks = cutAll(b, tool, video, plan, dir)
		ours = append(ours, time.Since(start))

		rdir := b.TempDir()
		start = time.Now()
		rawCuts(b, video, rdir, plan.ChunkSeconds)
		raw = append(raw, time.Since(start))
	}
	mo, mr := median(ours), median(raw)
	b.ReportMetric(mo.Seconds(), "ours-s")
	b.ReportMetric(mr.Seconds(), "raw-ffmpeg-s")
	b.ReportMetric(mo.Seconds()/mr.Seconds(), "ratio")
	b.ReportMetric(float64(chunks), "chunks")
}

func cutAll(b *testing.B, tool ffmpeg.Tool, video string, plan scenedex.Plan, dir string) int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	sem := make(chan struct{}, 2)
	total := 0
	for _, w := range plan.Windows {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			pieces, err := tool.Cut(context.Background(), ffmpeg.CutSpec{Input: video, Start: w.Start, Duration: w.End - w.Start,
				ChunkSeconds: plan.ChunkSeconds, MaxChunks: plan.ChunksPerWin, CopyVideo: plan.CopyVideo, HasAudio: plan.HasAudio,
				CopyAudio: plan.CopyAudio, FramesPerChunk: plan.FramesPerChunk, FrameWidth: 1280, EmbedEdge: DefaultEmbedEdge,
				Dir: filepath.Join(dir, fmt.Sprint(w.Index))})
			if err != nil {
				b.Error(err)
				return
			}
			mu.Lock()
			total += len(pieces)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return total
}

func rawCuts(b *testing.B, video, dir string, chunk float64) {
	for _, args := range [][]string{
		{"-v", "error", "-y", "-i", video, "-map", "0", "-c", "copy", "-f", "segment", "-segment_time", fmt.Sprint(chunk),
			"-reset_timestamps", "1", filepath.Join(dir, "c%04d.mp4")},
		{"-v", "error", "-y", "-skip_frame", "nokey", "-i", video, "-vf", "scale=w='min(1280,iw)':h=-2", "-vsync", "passthrough",
			"-q:v", "3", filepath.Join(dir, "f%05d.jpg"),
			"-vf", "scale=w=-2:h=224:flags=bicubic", "-vsync", "passthrough", "-q:v", "2", filepath.Join(dir, "e%05d.jpg")},
	} {
		if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
			b.Fatalf("raw ffmpeg: %v: %s", err, out)
		}
	}
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
