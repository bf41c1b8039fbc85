// Command scenedex-model is the project's own model as a SageMaker inference
// container: it serves GET /ping and POST /invocations on port 8080 (the
// contract in docs/architecture.md): embeddings from the built-in descriptor
// and, with --ocr (the default), words on screen read by PP-OCRv4 through
// ONNX Runtime. SageMaker starts containers as `<image> serve`.
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/scenedex/scenedex/internal/assets"
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
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "serve" {
		args = args[1:]
	}
	fs.Parse(args)
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	opts := modelserver.Options{}
	if *useOCR {
		if err := onnx.Init(assets.Library(*dir)); err != nil {
			log.Error("ocr", "err", err, "fix", assets.ErrMissing.Error())
			os.Exit(1)
		}
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
