package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/scenedex/scenedex/internal/assets"
	"github.com/scenedex/scenedex/internal/descriptor"
	"github.com/scenedex/scenedex/internal/local"
	"github.com/scenedex/scenedex/internal/modelserver"
	"github.com/scenedex/scenedex/internal/ocr"
	"github.com/scenedex/scenedex/internal/pipeline"
)

func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "address of the API and the local S3 endpoint")
	token := fs.String("token", os.Getenv("SCENEDEX_TOKEN"), "bearer token required on /v1, at least 16 characters without spaces, or `auto` to have one made and printed (required to listen beyond loopback)")
	var hosts hostList
	fs.Var(&hosts, "host", "a further name the server answers to (a LAN name, a proxy's); repeat it or give a comma list. It always answers to its listen address, and to localhost on loopback")
	data := fs.String("data", "./.scenedex", "data folder (blobs, catalog, queue, index)")
	modelURL := fs.String("model-url", os.Getenv("SCENEDEX_MODEL_URL"), "SageMaker-runtime-compatible model endpoint base URL (default: the built-in model)")
	modelName := fs.String("model-endpoint", "scenedex-local", "endpoint name sent to the model")
	chunk := fs.Float64("chunk-seconds", 10, "target chunk length in seconds")
	frames := fs.Int("frames-per-chunk", 4, "sampled frames embedded per chunk")
	workers := fs.Int("embed-workers", 2, "concurrent embedding workers")
	failRate := fs.Float64("model-fail-rate", 0, "testing: fraction of built-in model calls that fail with a 500")
	delay := fs.Duration("model-delay", 0, "testing: delay added to every built-in model call")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	useOCR := fs.Bool("ocr", true, "read words on screen of every chunk (PP-OCRv4), so text search answers from them")
	model := fs.String("model", "", "a CLIP-family model to embed with — a name `scenedex model pull` fetched, or a folder (transformers.js export: onnx/, tokenizer.json, preprocessor_config.json); text search then also answers by meaning")
	assetsDir := fs.String("assets", assets.Dir(), "folder of ONNX Runtime and the OCR models (`make models` fills third_party/)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", pos[0])}
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return usageError{"bad --log-level: " + err.Error()}
	}
	if *model != "" {
		dir, err := modelStore(*data).Resolve(*model)
		if err != nil {
			return err
		}
		*model = dir
	}
	if *token == "auto" {
		*token = rand.Text() // 26 base32 characters: 130 random bits
		fmt.Fprintf(os.Stderr, "token: %s (give it to clients as SCENEDEX_TOKEN)\n", *token)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	app, err := local.Start(ctx, local.Config{
		Addr: *addr, Token: *token, Hosts: hosts, Data: *data, ModelURL: *modelURL, ModelEndpoint: *modelName,
		ModelOptions: modelserver.Options{FailRate: *failRate, Delay: *delay, Seed: uint64(time.Now().UnixNano())},
		Pipeline:     pipeline.Config{ChunkSeconds: *chunk, FramesPerChunk: *frames},
		Runner:       local.Options{EmbedWorkers: *workers},
		OCR:          *useOCR, Assets: *assetsDir, Model: *model,
		Log: log,
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, modelSummary(*modelURL, *modelName, app.Model, *useOCR))
	fmt.Fprintf(os.Stderr, "scenedex is serving on %s (data in %s). Open it in a browser, or try: scenedex upload VIDEO --wait\n", app.URL, *data)
	<-ctx.Done()
	log.Info("shutting down")
	return app.Close()
}

// modelSummary says which models answer and whether text search works.
func modelSummary(modelURL, endpoint, modelDir string, useOCR bool) string {
	model := fmt.Sprintf("model: %s (built-in, images only: no text embedding)", descriptor.Name)
	switch {
	case modelURL != "":
		model = fmt.Sprintf("model: endpoint %q at %s", endpoint, modelURL)
	case modelDir != "":
		model = fmt.Sprintf("model: %s (CLIP family: text search by meaning)", modelDir)
	}
	switch {
	case useOCR && modelURL == "" && modelDir != "":
		return model + fmt.Sprintf("; words on screen: %s, fused with the picture", ocr.Name)
	case useOCR && modelURL == "":
		return model + fmt.Sprintf("; words on screen: %s, so text search answers from the words read", ocr.Name)
	case useOCR:
		return model + "; words on screen: read by that endpoint's OCR form"
	case modelURL == "" && modelDir != "":
		return model + "; OCR off"
	case modelURL == "":
		return model + "; OCR off: text search is refused (search with --image or --like)"
	default:
		return model + "; OCR off: text search works only if that endpoint embeds text"
	}
}

// hostList is --host: repeatable, each a name or a comma list of names.
type hostList []string

func (h *hostList) String() string { return strings.Join(*h, ",") }

func (h *hostList) Set(v string) error {
	for _, n := range strings.Split(v, ",") {
		if n = strings.TrimSpace(n); n != "" {
			*h = append(*h, n)
		}
	}
	return nil
}
