package clip

import (
	"bytes"
	"context"
	"fmt"
	"image/jpeg"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/scenedex/scenedex/internal/assets"
	"github.com/scenedex/scenedex/internal/ffmpeg"
	"github.com/scenedex/scenedex/internal/modelserver"
	"github.com/scenedex/scenedex/internal/onnx"
	"github.com/scenedex/scenedex/internal/pipeline"
	"github.com/scenedex/scenedex/internal/sagemaker"
	"github.com/scenedex/scenedex/internal/testvideo"
)

// benchModel is the tiny fixture with its vision graph swapped for one of
// ViT-B/32's cost (testdata/make_bench_vision.py) and 224 px input.
func benchModel(b *testing.B) string {
	dir := b.TempDir()
	os.MkdirAll(filepath.Join(dir, "onnx"), 0o755)
	for _, f := range []string{"tokenizer.json", "config.json", "onnx/text_model_quantized.onnx"} {
		data, err := os.ReadFile(filepath.Join("testdata", "tiny-clip", f))
		if err != nil {
			b.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), data, 0o644)
	}
	os.WriteFile(filepath.Join(dir, "preprocessor_config.json"), []byte(`{"crop_size": 224, "size": {"shortest_edge": 224},
		"image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711]}`), 0o644)
	if out, err := exec.Command("/usr/bin/python3", "testdata/make_bench_vision.py", filepath.Join(dir, "onnx", "vision_model_quantized.onnx")).CombinedOutput(); err != nil {
		b.Fatalf("make the benchmark graph (python3-onnx; make bench installs it): %v %s", err, out)
	}
	return dir
}

// BenchmarkModelServer measures images per second through the model server
// (the contract over HTTP through the real SageMaker client: base64 JSON,
// JPEG decode, preprocessing, ONNX Runtime) against the same ONNX session
// run directly on the same, already preprocessed tensors, in one run, eight
// frames a call: the frames the pipeline sends the model — cut by the real
// ffmpeg step from the benchmark video, two chunks of four, scaled for the
// embedding model (pipeline.DefaultEmbedEdge) — and, for comparison, the
// same moments as 1280x720 frames (what chunks cut before the embedding form
// existed send). And the built-in descriptor's rate through the same server.
// The bar: server/direct ≤ 1.25.
func BenchmarkModelServer(b *testing.B) {
	if err := onnx.Init(assets.Library(assets.Dir())); err != nil {
		b.Fatal(err)
	}
	m, err := Open(benchModel(b), 0)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	video, err := testvideo.FiveMinute720p()
	if err != nil {
		b.Fatal(err)
	}
	tool, err := ffmpeg.Find("")
	if err != nil {
		b.Fatal(err)
	}
	pieces, err := tool.Cut(context.Background(), ffmpeg.CutSpec{Input: video, Start: 60, Duration: 20, ChunkSeconds: 10, MaxChunks: 2,
		CopyVideo: true, FramesPerChunk: 4, FrameWidth: 1280, EmbedEdge: pipeline.DefaultEmbedEdge, Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	var sent, large [][]byte
	for _, p := range pieces {
		for _, f := range p.Frames {
			for _, x := range []struct {
				path string
				into *[][]byte
			}{{f.EmbedPath, &sent}, {f.Path, &large}} {
				data, err := os.ReadFile(x.path)
				if err != nil {
					b.Fatal(err)
				}
				*x.into = append(*x.into, data)
			}
		}
	}
	if len(sent) != 8 {
		b.Fatalf("the cut gave %d frames, want 8", len(sent))
	}
	var tensor []float32
	for _, f := range sent {
		t, err := m.pre.Tensor(context.Background(), f)
		if err != nil {
			b.Fatal(err)
		}
		tensor = append(tensor, t...)
	}
	ctx := context.Background()
	clipSrv := httptest.NewServer(modelserver.New(modelserver.Options{Embedder: m, EmbedderName: m.Name}))
	defer clipSrv.Close()
	descSrv := httptest.NewServer(modelserver.New(modelserver.Options{}))
	defer descSrv.Close()
	viaClip := sagemaker.New(sagemaker.LocalClient(clipSrv.URL), "bench")
	viaDesc := sagemaker.New(sagemaker.LocalClient(descSrv.URL), "bench")
	direct := func() error {
		_, err := m.vision.Run(map[string]any{m.pixels: onnx.Tensor{Data: tensor, Shape: []int64{8, 3, 224, 224}}}, m.imageOut)
		return err
	}
	server := func() error { _, err := viaClip.EmbedImages(ctx, sent); return err }
	serverLarge := func() error { _, err := viaClip.EmbedImages(ctx, large); return err }
	desc := func() error { _, err := viaDesc.EmbedImages(ctx, sent); return err }
	// Warm up every path once (graph folding, connections).
	for _, f := range []func() error{direct, server, serverLarge, desc} {
		if err := f(); err != nil {
			b.Fatal(err)
		}
	}
	var dDirect, dServer, dLarge, dDesc []time.Duration
	for b.Loop() {
		for _, run := range []struct {
			f   func() error
			out *[]time.Duration
		}{{direct, &dDirect}, {server, &dServer}, {serverLarge, &dLarge}, {desc, &dDesc}} {
			start := time.Now()
			if err := run.f(); err != nil {
				b.Fatal(err)
			}
			*run.out = append(*run.out, time.Since(start))
		}
	}
	rate := func(ds []time.Duration) float64 { return 8 / median(ds).Seconds() }
	w, h := imageSize(b, sent[0])
	b.ReportMetric(rate(dDirect), "direct-img/s")
	b.ReportMetric(rate(dServer), "server-img/s")
	b.ReportMetric(rate(dDesc), "descriptor-img/s")
	b.ReportMetric(median(dServer).Seconds()/median(dDirect).Seconds(), "server/direct")
	b.ReportMetric(median(dLarge).Seconds()/median(dDirect).Seconds(), "server1280/direct")
	fmt.Fprintf(os.Stderr, "model server %.1f img/s on the pipeline's %dx%d frames (%.2f x direct), %.1f img/s on 1280x720 ones (%.2f x); direct %.1f img/s; descriptor %.1f img/s\n",
		rate(dServer), w, h, median(dServer).Seconds()/median(dDirect).Seconds(), rate(dLarge),
		median(dLarge).Seconds()/median(dDirect).Seconds(), rate(dDirect), rate(dDesc))
}

func imageSize(b *testing.B, data []byte) (int, int) {
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	return cfg.Width, cfg.Height
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
