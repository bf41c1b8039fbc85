package scenedex

import (
	"context"
	"encoding/json"
	"io"
	"time"
)

// Blobs is the object store (S3, or the local S3 endpoint).
type Blobs interface {
	// PresignPut returns a URL that accepts exactly one PUT of size bytes to key.
	PresignPut(ctx context.Context, key string, size int64, contentType string, ttl time.Duration) (string, error)
	// PresignGet returns a URL that reads key (ffmpeg, thumbnails, clips).
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
	Put(ctx context.Context, key string, body io.ReadSeeker, contentType string) error
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	Head(ctx context.Context, key string) (ObjectInfo, error)
	Delete(ctx context.Context, key string) error
	DeletePrefix(ctx context.Context, prefix string) error

	// Multipart uploads, for files above the single-PUT threshold.
	CreateMultipart(ctx context.Context, key, contentType string) (uploadID string, err error)
	// PresignPart signs a PUT of exactly size bytes as part n (1-based).
	PresignPart(ctx context.Context, key, uploadID string, n int, size int64, ttl time.Duration) (string, error)
	CompleteMultipart(ctx context.Context, key, uploadID string, parts []Part) error
	AbortMultipart(ctx context.Context, key, uploadID string) error
}

// Part is one uploaded part of a multipart upload.
type Part struct {
	Number int    `json:"number"`
	ETag   string `json:"etag"`
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key  string
	Size int64
	ETag string
}

// ObjectCreated is the event that starts a workflow: S3 Object Created through
// EventBridge in the cloud, the local endpoint's own event on one machine.
type ObjectCreated struct {
	Bucket  string `json:"bucket"`
	Key     string `json:"key"` // decoded key
	Size    int64  `json:"size"`
	ETag    string `json:"etag,omitempty"`
	Version string `json:"version,omitempty"`
}

// ObjectDeleted is an object's deletion: S3 Object Deleted through
// EventBridge in the cloud, the local endpoint's own event on one machine.
type ObjectDeleted struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"` // decoded key
}

// ChunkSender fans chunks out to the embedding workers (SQS, or the local queue).
// Sending the same chunk twice must be harmless.
type ChunkSender interface {
	SendChunks(ctx context.Context, chunks []Chunk) error
}

// Embedder turns images (JPEG bytes) or text into L2-normalised vectors.
type Embedder interface {
	EmbedImages(ctx context.Context, images [][]byte) ([][]float32, error)
	// EmbedText returns an error with CodeUnsupported if the model is image-only.
	EmbedText(ctx context.Context, text string) ([]float32, error)
}

// TextReader reads the words on screen of images (JPEG bytes): per image,
// its lines with their confidence (T is left to the caller).
type TextReader interface {
	ReadText(ctx context.Context, images [][]byte) ([][]TextLine, error)
}

// Index is the vector and words index (OpenSearch k-NN + BM25, or the
// embedded one: exact k-NN + SQLite FTS5).
type Index interface {
	// Upsert stores docs by Doc.ID(); storing an id again replaces it.
	Upsert(ctx context.Context, docs []Doc) error
	// Get returns the doc with id, or a CodeNotFound error.
	Get(ctx context.Context, id string) (Doc, error)
	// Search returns the k docs nearest to vec by cosine similarity, best first.
	Search(ctx context.Context, vec []float32, k int, f Filter) ([]Hit, error)
	// SearchWords returns the k docs whose words (on screen, filename,
	// metadata values) best match q by BM25, best first, with their lines.
	SearchWords(ctx context.Context, q WordQuery, k int, f Filter) ([]WordHit, error)
	DeleteVideo(ctx context.Context, videoID string) error
}

// Catalog keeps video records and chunk progress (DynamoDB, or SQLite).
type Catalog interface {
	// Create stores a new video; CodeConflict if the id exists.
	Create(ctx context.Context, v Video) error
	Get(ctx context.Context, id string) (Video, error)
	// List returns one page of videos, newest first; Next in the page is
	// the cursor of the following one ("" after the last).
	List(ctx context.Context, q ListQuery) (VideoPage, error)
	// Update applies fn to the stored record atomically and returns the result.
	Update(ctx context.Context, id string, fn func(*Video) error) (Video, error)
	Delete(ctx context.Context, id string) error
	// ByKey returns the videos whose object is key (none: an empty list).
	ByKey(ctx context.Context, key string) ([]Video, error)
	// ChunkDone marks chunk i done; doing it twice counts once. It returns the
	// record with ChunksDone updated.
	ChunkDone(ctx context.Context, videoID string, i int) (Video, error)
}

// WordQuery is a words search: Terms are matched in any order (more is
// better), each Phrase as an exact sequence of words. Terms and phrases are
// already tokenised (package words).
type WordQuery struct {
	Terms   []string
	Phrases [][]string
}

// WordHit is a hit of a words search with the doc's lines, so the caller can
// mark what matched.
type WordHit struct {
	Hit
	Lines []TextLine
}

// ModelSwitch is a change of the model the index's vectors come from, under
// way: beside each live vector (of From, which search keeps answering with)
// the index gathers one of To; when every doc has one they become the live
// vectors at once.
type ModelSwitch struct {
	From string `json:"from"`
	To   string `json:"to"`
	// Source is where To loads from when the process serving it starts
	// again (a local model folder); "" where the endpoint carries it.
	Source  string    `json:"source,omitempty"`
	Queued  bool      `json:"queued"` // every doc there was at the start has been queued
	Started time.Time `json:"started"`
}

// ModelSwitcher is an index that can hold a second vector per doc while the
// model changes. Search answers from the live vectors until Promote.
type ModelSwitcher interface {
	// LiveModel is the model of the live vectors and where it loads from
	// ("" while the index has not recorded one).
	LiveModel(ctx context.Context) (model, source string, err error)
	// Switch is the switch under way (nil: none).
	Switch(ctx context.Context) (*ModelSwitch, error)
	// BeginSwitch records s; CodeConflict if another is under way.
	BeginSwitch(ctx context.Context, s ModelSwitch) error
	// SwitchQueued records that every doc has been queued.
	SwitchQueued(ctx context.Context) error
	// UpsertNext stores d — a live doc as it is, with the next model's
	// vector — beside the live one; a doc that is gone is skipped (nil).
	UpsertNext(ctx context.Context, d Doc) error
	// SwitchProgress counts the docs that have a next vector, of all docs.
	SwitchProgress(ctx context.Context) (done, total int, err error)
	// Promote makes the next vectors live in one step and ends the switch,
	// if every doc has one (false: some still lack theirs).
	Promote(ctx context.Context) (bool, error)
	// CancelSwitch drops the next vectors and the switch.
	CancelSwitch(ctx context.Context) error
}

// Models gives the embedder of a named model, where the model server
// serves several (the live one and a switch's next one).
type Models interface {
	// Load makes nameOrSource served (locally: loads a model folder or a
	// pulled model's name) and says its name and where it loads from.
	Load(ctx context.Context, nameOrSource string) (name, source string, err error)
	// Embedder embeds with the named model.
	Embedder(name string) Embedder
}

// HybridIndex is an Index that fuses words and picture in one query of its
// own (OpenSearch's hybrid query with its normalization processor); each hit
// says in Matched which of the two found it. An error with CodeUnsupported
// means this index cannot, and the caller fuses the two searches itself.
type HybridIndex interface {
	SearchHybrid(ctx context.Context, q WordQuery, vec []float32, k int, f Filter) ([]WordHit, error)
}

// ListQuery asks for a page of videos: of Collection ("" = all), at most
// Limit (0 = DefaultListLimit), after Cursor (a previous page's Next).
type ListQuery struct {
	Collection string
	Limit      int
	Cursor     string
}

// VideoPage is one page of videos.
type VideoPage struct {
	Videos []Video `json:"videos"`
	Next   string  `json:"next_cursor,omitempty"`
}

// List limits.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// PageSize is q's limit, checked.
func (q ListQuery) PageSize() (int, error) {
	switch {
	case q.Limit == 0:
		return DefaultListLimit, nil
	case q.Limit < 0 || q.Limit > MaxListLimit:
		return 0, Errorf(CodeInvalid, "limit must be between 1 and %d", MaxListLimit)
	}
	return q.Limit, nil
}

// Rerunner starts the workflow of an object again (a FAILED video's second
// chance): locally the runner's queue, in the cloud a Step Functions run. tag
// makes the run new (the first run's name is taken).
type Rerunner interface {
	Rerun(ctx context.Context, key string, size int64, etag, tag string) error
}

// WorkCanceller ends the work in flight for a video that is being deleted:
// locally the runner cancels the context of its running steps (killing their
// ffmpeg children) and drops its queued work. CancelWork returns when none of
// the video's steps runs any more (or ctx ends), so what they made is there
// for the delete to remove.
type WorkCanceller interface {
	CancelWork(ctx context.Context, videoID string)
}

// DeadLetterQueues are where work that ran out of attempts waits: Object
// Created events whose run never started (Workflow) and chunk messages
// (Chunks). Locally the runner's queues, in the cloud the SQS DLQs.
type DeadLetterQueues interface {
	DeadLetters(ctx context.Context) (DeadLetters, error)
	// Redrive puts every dead letter back to work and says how many.
	Redrive(ctx context.Context) (int, error)
}

// DeadLetters is the body of GET /v1/dead-letters.
type DeadLetters struct {
	Workflow []DeadLetter `json:"workflow"`
	Chunks   []DeadLetter `json:"chunks"`
}

// DeadLetter is one message that ran out of attempts.
type DeadLetter struct {
	ID        string          `json:"id"`
	Attempts  int             `json:"attempts"`
	LastError string          `json:"last_error,omitempty"`
	Body      json.RawMessage `json:"body"`
}
