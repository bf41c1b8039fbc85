package client_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scenedex/scenedex/internal/assets"
	"github.com/scenedex/scenedex/internal/local"
	"github.com/scenedex/scenedex/internal/pipeline"
	"github.com/scenedex/scenedex/internal/testvideo"
)

// TestMain runs the examples against a real local server (real ffmpeg, OCR,
// SQLite, S3 endpoint) from a scratch folder holding promo.mp4: 12 s, three
// 4 s scenes, "GRAND OPENING TODAY" on screen in the first.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ocrAssets := assets.Dir()
	dir, err := os.MkdirTemp("", "scenedex-client-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if _, err := testvideo.MakeFile(dir, "promo.mp4", testvideo.Spec{Scenes: []int{1, 0, 5}, SceneSecs: 4, Size: "640x360", GOP: 25,
		Overlay: testvideo.Text("GRAND OPENING TODAY", "dejavu/DejaVuSans-Bold.ttf", 36, "white", "60", "140", 0, 4)}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	app, err := local.Start(context.Background(), local.Config{Addr: "127.0.0.1:0", Data: filepath.Join(dir, "data"), OCR: true, Assets: ocrAssets,
		Pipeline: pipeline.Config{ChunkSeconds: 4, WindowChunks: 3}, Runner: local.Options{Poll: 50 * time.Millisecond}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer app.Close()
	os.Setenv("SCENEDEX_URL", app.URL)
	if err := os.Chdir(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
