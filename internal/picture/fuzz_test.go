package picture

import (
	"context"
	"image/color"
	"testing"
)

// FuzzCheck reads arbitrary bytes as a query image's header. No input may
// panic it; what it takes is a JPEG or PNG of 1 to MaxPixels pixels; and a
// small image it takes is shrunk to one it takes again, no larger than asked.
// The seed corpus is testdata/fuzz/FuzzCheck.
func FuzzCheck(f *testing.F) {
	f.Add(jpegOf(8, 4, color.Gray{Y: 128}))
	f.Add(claimed(16000, 16000))
	f.Add(claimed(1, 1))
	f.Add([]byte("GIF89a\x01\x00\x01\x00"))
	f.Add([]byte{0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 0x08, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Check(data)
		if err != nil {
			return
		}
		if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
			t.Fatalf("took a %dx%d image", cfg.Width, cfg.Height)
		}
		if int64(cfg.Width)*int64(cfg.Height) > 1<<20 {
			return // decoding large ones is the benchmarks' business, not a fuzzer's
		}
		out, err := Shrink(context.Background(), data, 64, 1<<20)
		if err != nil {
			return // a header that promises more than the data holds
		}
		small, err := Check(out)
		if err != nil {
			t.Fatalf("Shrink made an image Check refuses: %v", err)
		}
		if len(out) != len(data) && max(small.Width, small.Height) > 64 {
			t.Fatalf("shrunk to %dx%d, more than 64 on the long side", small.Width, small.Height)
		}
	})
}
