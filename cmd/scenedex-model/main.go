// Command scenedex-model is the project's own model as a SageMaker inference
// container: it serves GET /ping and POST /invocations on port 8080 (the
// contract in docs/architecture.md): embeddings from a CLIP-family model when
// the image carries one (<assets>/models/clip, fetched while the image is
// built: `scenedex-model pull NAME DIR`), else the built-in descriptor; and,
// with --ocr (the default), words on screen read by PP-OCRv4 through ONNX
// Runtime. SageMaker starts containers as `<image> serve`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/scenedex/scenedex/internal/assets"
	"github.com/scenedex/scenedex/internal/clip"
	"github.com/scenedex/scenedex/internal/models"
	"github.com/scenedex/scenedex/internal/modelserver"
	"github.com/scenedex/scenedex/internal/ocr"
	"github.com/scenedex/scenedex/internal/onnx"
)

func main() {
	fs := flag.NewFlagSet("scenedex-model", flag.ExitOnError)
	addr := fs.String("addr", ":8080", "listen address (SageMaker requires 8080)")
	useOCR := fs.Bool("ocr", true, "answer the OCR form of requests (PP-OCRv4)")
	dir := fs.String("assets", assets.Dir(), "folder of ONNX Runtime and the OCR models ($"+assets.Env+")")
	threads := fs.Int("threads", 0, "ONNX Runtime threads per request (0: all cores)")
	model := fs.String("model", "", "a CLIP-family model folder (default: <assets>/models/clip when it holds one, else the built-in descriptor)")
	args := os.Args[1:]
	if len(args) == 3 && args[0] == "pull" {
		// While the image is built: fetch a model (resumable, checksummed).
		spec, ok := models.Registry[args[1]]
		if !ok {
			fmt.Fprintf(os.Stderr, "scenedex-model pull: unknown model %q; known: %v\n", args[1], models.Known())
			os.Exit(2)
		}
		if err := models.NewPuller(os.Getenv("SCENEDEX_HUB")).Pull(context.Background(), spec, args[2]); err != nil {
			fmt.Fprintf(os.Stderr, "scenedex-model pull %s: %v\n%s\n", spec.Name, err, models.ManualHint(spec, args[2]))
			os.Exit(1)
		}
		return
	}
	if len(args) > 0 && args[0] == "serve" {
		args = args[1:]
	}
	fs.Parse(args)
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	opts := modelserver.Options{}
	if *model == "" {
		if in := models.Inspect(filepath.Join(*dir, "models", "clip")); in.Ready {
			*model = in.Dir
		}
	}
	if *useOCR || *model != "" {
		if err := onnx.Init(assets.Library(*dir)); err != nil {
			log.Error("onnx runtime", "err", err, "fix", assets.ErrMissing.Error())
			os.Exit(1)
		}
	}
	if *model != "" {
		m, err := clip.Open(*model, *threads)
		if err != nil {
			log.Error("model", "dir", *model, "err", err)
			os.Exit(1)
		}
		defer m.Close()
		opts.Embedder, opts.EmbedderName = m, m.Name
		log.Info("model loaded", "model", m.Name, "text", true)
	} else {
		log.Info("model", "model", "built-in descriptor", "text", false)
	}
	if *useOCR {
		reader, err := ocr.Open(assets.OCRModels(*dir), ocr.Options{Threads: *threads})
		if err != nil {
			log.Error("ocr", "err", err)
			os.Exit(1)
		}
		defer reader.Close()
		opts.OCR, opts.OCRModel = reader, ocr.Name
		log.Info("ocr loaded", "model", ocr.Name, "onnxruntime", onnx.Version())
	}
	srv := &http.Server{Addr: *addr, Handler: modelserver.New(opts), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	log.Info("model serving", "addr", *addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
}
