// Command scenedex-model is the project's own model as a SageMaker inference
// container: it serves GET /ping and POST /invocations on port 8080 (the
// contract in DESIGN.md). SageMaker starts containers as `<image> serve`.
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

	"github.com/scenedex/scenedex/internal/modelserver"
)

func main() {
	fs := flag.NewFlagSet("scenedex-model", flag.ExitOnError)
	addr := fs.String("addr", ":8080", "listen address (SageMaker requires 8080)")
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "serve" {
		args = args[1:]
	}
	fs.Parse(args)
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	srv := &http.Server{Addr: *addr, Handler: modelserver.New(modelserver.Options{}), ReadHeaderTimeout: 10 * time.Second}
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
