package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"

	"github.com/scenedex/scenedex/internal/assets"
	"github.com/scenedex/scenedex/internal/clip"
	"github.com/scenedex/scenedex/internal/descriptor"
	"github.com/scenedex/scenedex/internal/ffmpeg"
	"github.com/scenedex/scenedex/internal/httpapi"
	"github.com/scenedex/scenedex/internal/modelserver"
	"github.com/scenedex/scenedex/internal/ocr"
	"github.com/scenedex/scenedex/internal/onnx"
	"github.com/scenedex/scenedex/internal/origin"
	"github.com/scenedex/scenedex/internal/pipeline"
	"github.com/scenedex/scenedex/internal/s3blob"
	"github.com/scenedex/scenedex/internal/s3local"
	"github.com/scenedex/scenedex/internal/sagemaker"
	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/sqlite"
	"github.com/scenedex/scenedex/internal/vecindex"
	"github.com/scenedex/scenedex/internal/webapp"
)

// Bucket is the local bucket's name.
const Bucket = "scenedex"

// Config configures the all-in-one server.
type Config struct {
	Addr  string // API and S3 endpoint, e.g. 127.0.0.1:8080 (port 0 picks one)
	Token string // bearer token required on /v1 ("" = none: loopback addresses only)
	// Hosts are further names the server answers to (serve --host); it
	// always answers to its listen address (and localhost on loopback).
	Hosts         []string
	Data          string // data folder
	ModelURL      string // an endpoint speaking the SageMaker runtime API; "" = the built-in model
	ModelEndpoint string // endpoint name (default scenedex-local)
	ModelOptions  modelserver.Options
	// OCR reads words on screen of every chunk: with the built-in model, by
	// PP-OCRv4 from Assets; with ModelURL, by that endpoint's OCR form.
	OCR bool
	// Model is a CLIP-family model folder (transformers.js export layout)
	// the built-in model server embeds with; "" keeps the built-in
	// descriptor. Text search then also answers by meaning.
	Model      string
	Assets     string // folder `make models` fills ("" = assets.Dir())
	OCRThreads int    // ONNX Runtime threads per call (0 = 1: the embed workers run calls side by side)
	FFmpegDir  string
	Pipeline   pipeline.Config
	Runner     Options
	// RequestDeadline bounds every API request on the server (0 =
	// httpapi.DefaultDeadline): past it the client gets 503.
	RequestDeadline time.Duration
	Log             *slog.Logger
}

// App is a running server.
type App struct {
	URL      string
	Pipeline *pipeline.Pipeline
	Runner   *Runner
	Index    *vecindex.Index
	Catalog  *sqlite.Catalog
	S3       *s3local.Server
	// Model is the folder of the model the server embeds with by default
	// ("" = the built-in descriptor).
	Model string
	// ModelSocket is the unix socket of the built-in model server ("" with
	// an outside endpoint).
	ModelSocket string
	closers     []func() error
	cancel      context.CancelFunc
	done        chan struct{}
}

// Start opens the data folder and serves until Close (or ctx ends).
func Start(ctx context.Context, cfg Config) (app *App, err error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.ModelEndpoint == "" {
		cfg.ModelEndpoint = "scenedex-local"
	}
	if err := os.MkdirAll(cfg.Data, 0o755); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	tool, err := ffmpeg.Find(cfg.FFmpegDir)
	if err != nil {
		return nil, err
	}
	app = &App{done: make(chan struct{})}
	opened := app // the error returns below set app to nil
	defer func() {
		if err != nil {
			opened.closeAll()
		}
	}()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	if cfg.Token != "" {
		if err := httpapi.CheckToken(cfg.Token); err != nil {
			ln.Close()
			return nil, fmt.Errorf("--token: %w", err)
		}
	}
	if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() && cfg.Token == "" {
		ln.Close()
		return nil, fmt.Errorf("refusing to serve on %s without a token: anyone who can reach it could read and delete your videos; "+
			"set --token (SCENEDEX_TOKEN) or listen on 127.0.0.1", ln.Addr())
	}
	app.closers = append(app.closers, ln.Close)
	app.URL = "http://" + publicHost(ln.Addr().(*net.TCPAddr))

	if app.Catalog, err = sqlite.OpenCatalog(ctx, filepath.Join(cfg.Data, "catalog.db")); err != nil {
		return nil, err
	}
	app.closers = append(app.closers, app.Catalog.Close)
	queues, err := sqlite.OpenQueues(ctx, filepath.Join(cfg.Data, "queue.db"))
	if err != nil {
		return nil, err
	}
	app.closers = append(app.closers, queues.Close)
	if app.Index, err = vecindex.Open(ctx, filepath.Join(cfg.Data, "index.db")); err != nil {
		return nil, err
	}
	app.closers = append(app.closers, app.Index.Close)
	if cfg.ModelURL == "" && cfg.Model == "" {
		// The index's own model, where a switch made it live: serve
		// starts with it without being told again.
		live, source, err := app.Index.LiveModel(ctx)
		if err != nil {
			return nil, err
		}
		if live != "" && live != descriptor.Name && source != "" {
			cfg.Log.Info("loading the index's model", "model", live, "folder", source)
			cfg.Model = source
		}
	}
	app.Model = cfg.Model
	modelURL := cfg.ModelURL
	var modelClient *sagemakerruntime.Client
	if modelURL != "" {
		modelClient = sagemaker.LocalClient(modelURL)
	}
	var ms *modelserver.Server // the built-in model server, when it runs
	if modelURL == "" && cfg.Model != "" {
		m, err := openModel(cfg)
		if err != nil {
			return nil, err
		}
		app.closers = append(app.closers, m.Close)
		cfg.ModelOptions.Embedder, cfg.ModelOptions.EmbedderName = m, m.Name
	}
	if modelURL == "" {
		if cfg.OCR {
			reader, err := openOCR(cfg)
			if err != nil {
				return nil, err
			}
			app.closers = append(app.closers, reader.Close)
			cfg.ModelOptions.OCR, cfg.ModelOptions.OCRModel = reader, ocr.Name
		}
		// The built-in model server listens on a unix socket in a folder
		// only this user can open: no port that another user of the
		// machine, or a web page, could call.
		sockDir, err := os.MkdirTemp("", "scenedex-model-")
		if err != nil {
			return nil, fmt.Errorf("model server: %w", err)
		}
		app.closers = append(app.closers, func() error { return os.RemoveAll(sockDir) })
		sock := filepath.Join(sockDir, "model.sock")
		mln, err := net.Listen("unix", sock)
		if err != nil {
			return nil, fmt.Errorf("model server: %w", err)
		}
		ms = modelserver.New(cfg.ModelOptions)
		msrv := &http.Server{Handler: ms, ReadHeaderTimeout: 10 * time.Second}
		go msrv.Serve(mln)
		app.closers = append(app.closers, msrv.Close)
		modelURL, modelClient, app.ModelSocket = "unix:"+sock, sagemaker.UnixClient(sock), sock
	}

	// Vectors of two models cannot be compared: a server embedding with
	// another model than the index's would fail every new video and refuse
	// every search. Say so now (an external endpoint's model is known only
	// from its answers: the index checks those).
	serving := descriptor.Name
	if cfg.ModelOptions.Embedder != nil {
		serving = cfg.ModelOptions.EmbedderName
	}
	if indexed := app.Index.Model(); indexed != "" && cfg.ModelURL == "" && indexed != serving {
		if sw, err := app.Index.Switch(ctx); err == nil && sw != nil {
			return nil, fmt.Errorf("the index in %s is switching from model %s to %s: serve with the live model (%s) and the switch goes on; "+
				"search answers with %s until it is done (`scenedex reindex --status`)", cfg.Data, indexed, sw.To, indexModelHint(indexed), indexed)
		}
		return nil, fmt.Errorf("the index in %s holds vectors of model %s, and this server would embed with %s: vectors of two models "+
			"cannot be compared. Serve with the index's model (%s) and switch it with `scenedex reindex --model %s`, "+
			"or start the new model on a fresh data folder (--data)",
			cfg.Data, indexed, serving, indexModelHint(indexed), switchTarget(cfg.Model, serving))
	}

	var runner *Runner
	s3srv, err := s3local.New(s3local.Config{Dir: cfg.Data, Bucket: Bucket, Log: cfg.Log,
		OnCreated: func(ctx context.Context, ev scenedex.ObjectCreated) error { return runner.OnCreated(ctx, ev) },
		OnDeleted: func(ctx context.Context, ev scenedex.ObjectDeleted) error { return runner.OnDeleted(ctx, ev) }})
	if err != nil {
		return nil, err
	}
	app.S3 = s3srv
	blobs := s3blob.New(s3blob.LocalClient(app.URL, s3srv.AccessKey, s3srv.Secret), Bucket)
	embedder := sagemaker.New(modelClient, cfg.ModelEndpoint)
	if cfg.Pipeline.WorkDir == "" {
		cfg.Pipeline.WorkDir = filepath.Join(cfg.Data, "tmp")
	}
	os.RemoveAll(cfg.Pipeline.WorkDir) // scratch left by a killed run
	if err := os.MkdirAll(cfg.Pipeline.WorkDir, 0o755); err != nil {
		return nil, err
	}
	// The pipeline's sender is the runner's chunk queue; the runner is built
	// right after, over the same queue database.
	sender := &lateSender{}
	p := pipeline.New(cfg.Pipeline, blobs, app.Catalog, app.Index, embedder, sender, tool, cfg.Log)
	if cfg.OCR {
		p.Reader = embedder // the contract's OCR form, on the same endpoint
	}
	if ms != nil {
		served := newServedModels(cfg, ms, embedder)
		served.served(serving, cfg.Model)
		app.closers = append(app.closers, served.Close)
		p.Models = served
	}
	runner = New(p, app.Catalog, queues, s3srv, cfg.Runner, cfg.Log)
	runner.Bucket = Bucket
	p.Rerunner = runner
	p.Work = runner
	sender.s = runner
	app.Pipeline, app.Runner = p, runner

	api := httpapi.New(p, cfg.Log)
	api.DeadLetters = app
	var apiHandler http.Handler = api
	if cfg.Token != "" {
		apiHandler = httpapi.RequireToken(cfg.Token, api)
	}
	if cfg.RequestDeadline <= 0 {
		cfg.RequestDeadline = httpapi.DefaultDeadline
	}
	apiHandler = httpapi.WithDeadline(cfg.RequestDeadline, cfg.Log, apiHandler)
	mux := http.NewServeMux()
	mux.Handle("/v1/", apiHandler)
	mux.Handle("/healthz", apiHandler)
	page := webapp.Handler(webapp.Config{})
	mux.Handle(webapp.Prefix, page)
	// Everything else is the S3 endpoint (path-style /<bucket>/<key>), but
	// for a browser's plain GET of "/": the web app. S3 requests skip the
	// ServeMux, which would redirect a key with "." or ".." parts to
	// another key (307); the endpoint refuses those keys itself (400).
	routes := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case strings.HasPrefix(p, "/v1/") || p == "/healthz" || strings.HasPrefix(p, webapp.Prefix):
			mux.ServeHTTP(w, r)
		case webapp.IsPage(r):
			page.ServeHTTP(w, r)
		default:
			s3srv.ServeHTTP(w, r)
		}
	})
	guard, err := origin.New(ln.Addr().(*net.TCPAddr), cfg.Hosts)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: logRequests(cfg.Log, guard.Wrap(routes)), ReadHeaderTimeout: 30 * time.Second,
		ErrorLog: slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug)}
	go srv.Serve(ln)
	app.closers = append([]func() error{srv.Close}, app.closers...)

	if err := p.ResumeSwitch(ctx); err != nil {
		cfg.Log.Error("the model switch under way cannot go on; search answers with the live model. "+
			"Put the model back and restart, or cancel with `scenedex reindex --cancel`", "err", err)
	}

	rctx, cancel := context.WithCancel(ctx)
	app.cancel = cancel
	go func() {
		defer close(app.done)
		runner.Run(rctx)
	}()
	cfg.Log.Info("scenedex serving", "url", app.URL, "data", cfg.Data, "model", modelURL)
	return app, nil
}

// switchTarget is what `scenedex reindex --model` takes to switch to the
// model in folder dir (named name).
func switchTarget(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir
}

// indexModelHint says how to serve with model name again.
func indexModelHint(name string) string {
	if name == descriptor.Name {
		return "serve without --model"
	}
	return "--model with that model's folder"
}

// initONNX loads ONNX Runtime from the assets folder (cfg.Assets, or the
// default one) and returns that folder.
func initONNX(cfg Config) (string, error) {
	dir := cfg.Assets
	if dir == "" {
		dir = assets.Dir()
	}
	return dir, onnx.Init(assets.Library(dir))
}

// openModel loads a CLIP-family model folder through ONNX Runtime.
func openModel(cfg Config) (*clip.Model, error) {
	if _, err := initONNX(cfg); err != nil {
		return nil, fmt.Errorf("model %s: %w; %w", cfg.Model, err, assets.ErrMissing)
	}
	m, err := clip.Open(cfg.Model, 1)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", cfg.Model, err)
	}
	return m, nil
}

// openOCR loads ONNX Runtime and PP-OCRv4 from the assets folder.
func openOCR(cfg Config) (*ocr.Reader, error) {
	dir, err := initONNX(cfg)
	if err != nil {
		return nil, fmt.Errorf("ocr: %w; %w", err, assets.ErrMissing)
	}
	threads := cfg.OCRThreads
	if threads <= 0 {
		threads = 1 // measured: 2 workers x 1 thread beat 2 x 2 threads on 2 cores by 30 %
	}
	r, err := ocr.Open(assets.OCRModels(dir), ocr.Options{Threads: threads})
	if err != nil {
		return nil, fmt.Errorf("ocr: %w; %w", err, assets.ErrMissing)
	}
	return r, nil
}

// Close stops the workers and the servers.
func (a *App) Close() error {
	if a.cancel != nil {
		a.cancel()
		<-a.done
	}
	return a.closeAll()
}

func (a *App) closeAll() error {
	var errs []error
	for _, c := range a.closers {
		if err := c(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	a.closers = nil
	return errors.Join(errs...)
}

func publicHost(addr *net.TCPAddr) string {
	if addr.IP.IsUnspecified() {
		return fmt.Sprintf("127.0.0.1:%d", addr.Port)
	}
	return addr.String()
}

type lateSender struct{ s scenedex.ChunkSender }

func (l *lateSender) SendChunks(ctx context.Context, c []scenedex.Chunk) error {
	return l.s.SendChunks(ctx, c)
}

// DeadLetters lists the runner's dead-lettered messages
// (scenedex.DeadLetterQueues).
func (a *App) DeadLetters(ctx context.Context) (scenedex.DeadLetters, error) {
	out := scenedex.DeadLetters{Workflow: []scenedex.DeadLetter{}, Chunks: []scenedex.DeadLetter{}}
	for _, q := range []struct {
		q   *sqlite.Queue
		dst *[]scenedex.DeadLetter
	}{{a.Runner.Workflow, &out.Workflow}, {a.Runner.Chunks, &out.Chunks}} {
		ds, err := q.q.Dead(ctx)
		if err != nil {
			return out, err
		}
		for _, d := range ds {
			*q.dst = append(*q.dst, scenedex.DeadLetter{ID: d.ID, Attempts: d.Attempt, LastError: d.LastError, Body: d.Body})
		}
	}
	return out, nil
}

// Redrive puts every dead letter back on its queue.
func (a *App) Redrive(ctx context.Context) (int, error) { return a.Runner.Redrive(ctx) }

func logRequests(log *slog.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h.ServeHTTP(w, r)
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			log.Debug("request", "method", r.Method, "path", r.URL.Path, "took", time.Since(start))
		}
	})
}
