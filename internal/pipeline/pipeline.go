// Package pipeline holds the steps of scenedex as plain Go over the domain
// interfaces: CreateUpload, Register, Probe, ChunkWindow, ChunksPlanned,
// EmbedChunk, Finalize, MarkFailed, Search and Delete. The local runner calls
// them in-process; each Lambda function wraps one. Nothing here knows whether
// it runs on a laptop or in AWS.
package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/scenedex/scenedex/internal/ffmpeg"
	"github.com/scenedex/scenedex/internal/scenedex"
)

// Media probes and cuts videos (package ffmpeg).
type Media interface {
	Probe(ctx context.Context, input string) (ffmpeg.Probe, error)
	Cut(ctx context.Context, spec ffmpeg.CutSpec) ([]ffmpeg.Piece, error)
}

// DefaultEmbedEdge is the shortest edge of the frames the embedding model
// is sent: CLIP-family models' 224 px input, so their preprocessing only
// crops and the model server decodes a fraction of a 1280 px frame.
const DefaultEmbedEdge = 224

// Config holds the tunables; zero values take the defaults.
type Config struct {
	ChunkSeconds   float64 // target chunk length (10)
	WindowChunks   int     // chunks per window, one Chunk step each (6)
	FramesPerChunk int     // sampled frames embedded per chunk (4)
	FrameWidth     int     // largest frame and thumbnail width (1280: words on screen stay legible)
	// EmbedEdge is the shortest edge of the frames sent to the embedding
	// model (224: CLIP-family models' input; its preprocessing then only
	// crops). Negative: send the FrameWidth frames.
	EmbedEdge      int
	UploadTTL      time.Duration // presigned PUT lifetime (15m)
	ReadTTL        time.Duration // presigned GET lifetime for ffmpeg (1h)
	LinkTTL        time.Duration // presigned thumbnail/clip links in search hits (1h)
	MaxUploadBytes int64         // largest accepted upload (50 GiB)
	MultipartAbove int64         // uploads larger than this use multipart (100 MiB)
	PartSize       int64         // multipart part size (64 MiB; grows to stay within 10,000 parts)
	WorkDir        string        // scratch space for cutting ("" = system temp)
	SwitchPage     int           // videos one page message of a model switch queues (100)
	// SearchModelBudget bounds the model call of a words search (0: no
	// bound; the cloud's api sets DefaultSearchModelBudget): a model that
	// has not answered by then (a serverless endpoint starting after a while
	// idle) leaves the picture part out, and the words answer alone with a
	// note, well within API Gateway's 29 s.
	SearchModelBudget time.Duration
}

func (c Config) withDefaults() Config {
	if c.ChunkSeconds <= 0 {
		c.ChunkSeconds = 10
	}
	if c.WindowChunks <= 0 {
		c.WindowChunks = 6
	}
	if c.FramesPerChunk <= 0 {
		c.FramesPerChunk = 4
	}
	if c.FrameWidth <= 0 {
		c.FrameWidth = 1280
	}
	if c.EmbedEdge == 0 {
		c.EmbedEdge = DefaultEmbedEdge
	}
	if c.UploadTTL <= 0 {
		c.UploadTTL = 15 * time.Minute
	}
	if c.ReadTTL <= 0 {
		c.ReadTTL = time.Hour
	}
	if c.LinkTTL <= 0 {
		c.LinkTTL = time.Hour
	}
	if c.MaxUploadBytes <= 0 {
		c.MaxUploadBytes = 50 << 30
	}
	if c.MultipartAbove <= 0 {
		c.MultipartAbove = 100 << 20
	}
	if c.SwitchPage <= 0 {
		c.SwitchPage = 100
	}
	if c.PartSize < 5<<20 { // S3's minimum part size
		c.PartSize = 64 << 20
	}
	return c
}

// DefaultSearchModelBudget is how long a words search in the cloud waits for
// the model.
const DefaultSearchModelBudget = 8 * time.Second

// Pipeline wires the steps to their dependencies.
type Pipeline struct {
	Blobs    scenedex.Blobs
	Catalog  scenedex.Catalog
	Index    scenedex.Index
	Embedder scenedex.Embedder
	// Models serves embedders by model name where the model server serves
	// several; nil where it serves one (no model switch, then).
	Models scenedex.Models
	// Reader reads words on screen; nil means OCR is off.
	Reader scenedex.TextReader
	// Rerunner starts a FAILED video's workflow again (Reprocess); nil
	// where the process cannot start runs.
	Rerunner scenedex.Rerunner
	Sender   scenedex.ChunkSender
	Media    Media
	Log      *slog.Logger
	cfg      Config
}

// New returns a pipeline; cfg zero values take defaults.
func New(cfg Config, blobs scenedex.Blobs, catalog scenedex.Catalog, index scenedex.Index, embedder scenedex.Embedder,
	sender scenedex.ChunkSender, media Media, log *slog.Logger) *Pipeline {
	if log == nil {
		log = slog.Default()
	}
	return &Pipeline{Blobs: blobs, Catalog: catalog, Index: index, Embedder: embedder, Sender: sender, Media: media,
		Log: log, cfg: cfg.withDefaults()}
}

// UploadTTLFor is how long the presigned URLs of an upload of size bytes stay
// valid: the configured TTL, plus a minute per 100 MiB above the multipart
// threshold so that a large file can finish at a modest 2 MB/s.
func (c Config) UploadTTLFor(size int64) time.Duration {
	ttl := c.UploadTTL
	if size > c.MultipartAbove {
		ttl += time.Duration(size/(100<<20)) * time.Minute
	}
	return ttl
}

// UploadAbandoned reports whether v, still UPLOADING, is past its URLs'
// expiry plus a grace for a PUT that started just in time.
func (c Config) UploadAbandoned(v scenedex.Video, now time.Time) bool {
	return v.Status == scenedex.StatusUploading && now.Sub(v.UpdatedAt) > c.UploadTTLFor(v.Size)+min(time.Minute, c.UploadTTL)
}

// AbandonedReason is the reason an abandoned upload fails with.
const AbandonedReason = "the upload never completed before its URL expired; create a new upload"

// Config returns the effective configuration.
func (p *Pipeline) Config() Config { return p.cfg }

func newID() string {
	var b [10]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
