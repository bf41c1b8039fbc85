package picture

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// BenchmarkConcurrentShrink shrinks eight of the largest images accepted
// (6320×6320 8-bit RGBA PNG, 160 MiB decoded) at once, as eight searches
// would, and reports the process's peak resident memory while they run
// (Linux: VmHWM, reset first). Without the decode budget the eight decode
// side by side.
func BenchmarkConcurrentShrink(b *testing.B) {
	const side = 6320
	img := image.NewNRGBA(image.Rect(0, 0, side, side))
	for i := range img.Pix {
		img.Pix[i] = uint8(i % 251)
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	img = nil
	var peak float64
	for b.Loop() {
		resetPeak(b)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if _, err := Shrink(context.Background(), data, 768, 1<<20); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
		peak = max(peak, peakMB(b))
	}
	b.ReportMetric(peak, "peak-MB")
}

// resetPeak resets the process's peak resident memory (VmHWM).
func resetPeak(b *testing.B) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Skip("no /proc/self/clear_refs:", err)
	}
}

func peakMB(b *testing.B) float64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	b.Fatal("no VmHWM")
	return 0
}
