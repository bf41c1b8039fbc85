// Package scenedex holds the domain: videos, chunks, windows, hits, the errors
// every layer shares, and the small interfaces the pipeline steps depend on.
// It imports nothing from the project; every adapter (S3, SQLite, SageMaker,
// the local index, ...) implements an interface declared here.
package scenedex

import (
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Status is where a video is in its life.
type Status string

const (
	StatusUploading  Status = "UPLOADING"  // record exists, object not yet in the bucket
	StatusProcessing Status = "PROCESSING" // object arrived, pipeline running
	StatusReady      Status = "READY"      // every chunk indexed
	StatusFailed     Status = "FAILED"     // see Video.Reason
	// StatusDeleting is a delete under way: the record is its tombstone,
	// written before anything is removed and removed last, so a delete
	// cut short (a crash, a timeout) is completed on restart or by the
	// sweep. To every step the video is gone; search leaves it out.
	StatusDeleting Status = "DELETING"
)

// What a DELETING video's Stage says goes with it.
const (
	StageDeleting = "deleting" // the video and its object (a delete through the API)
	StageRetiring = "retiring" // the video only: its object is gone, or holds a newer version's bytes
)

// BeingDeleted is the error a catalog answers a change of a DELETING video
// with: to the steps it is gone (CodeNotFound).
func BeingDeleted(id string) *Error {
	return Errorf(CodeNotFound, "video %q is being deleted", id)
}

// Final reports whether no step will change the status again.
func (s Status) Final() bool { return s == StatusReady || s == StatusFailed }

// Video is the catalog record of one uploaded object.
type Video struct {
	ID          string            `json:"id"`
	Collection  string            `json:"collection"`
	Filename    string            `json:"filename"`
	Key         string            `json:"key"`                 // object key under uploads/
	UploadID    string            `json:"upload_id,omitempty"` // multipart upload in progress
	ContentType string            `json:"content_type,omitempty"`
	Size        int64             `json:"size"`
	ETag        string            `json:"etag,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	Status      Status            `json:"status"`
	Stage       string            `json:"stage,omitempty"` // finer progress: probing, chunking, embedding
	Reason      string            `json:"reason,omitempty"`
	Duration    float64           `json:"duration_seconds,omitempty"`
	Width       int               `json:"width,omitempty"`
	Height      int               `json:"height,omitempty"`
	// Run names the video's current run when it is not the first (a
	// reprocess); its chunk messages carry it so queues take them anew.
	Run         string    `json:"run,omitempty"`
	ChunksTotal int       `json:"chunks_total"` // 0 until chunking finished
	ChunksDone  int       `json:"chunks_done"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Window is one slice of a video that a single Chunk step cuts.
type Window struct {
	Index int     `json:"index"`
	Start float64 `json:"start"`
	End   float64 `json:"end"`
}

// Plan is the result of probing: what the Chunk steps must do.
type Plan struct {
	VideoID        string   `json:"video_id"`
	Duration       float64  `json:"duration"`
	ChunkSeconds   float64  `json:"chunk_seconds"`
	ChunksPerWin   int      `json:"chunks_per_window"`
	CopyVideo      bool     `json:"copy_video"` // stream copy possible for the video codec
	CopyAudio      bool     `json:"copy_audio"`
	HasAudio       bool     `json:"has_audio"`
	Windows        []Window `json:"windows"`
	FramesPerChunk int      `json:"frames_per_chunk"`
}

// Chunk is one cut piece of a video and what is needed to embed it. It is the
// body of a queue message.
type Chunk struct {
	VideoID    string    `json:"video_id"`
	Index      int       `json:"index"`
	Start      float64   `json:"start"`
	End        float64   `json:"end"`
	ClipKey    string    `json:"clip_key"`
	ThumbKey   string    `json:"thumb_key"`
	FrameKeys  []string  `json:"frame_keys"`
	FrameTimes []float64 `json:"frame_times,omitempty"` // second of the video each frame shows
	// EmbedKeys are the same frames scaled for the embedding model (shortest
	// edge 224), one per frame key; chunks cut before they existed have none
	// and are embedded from FrameKeys.
	EmbedKeys  []string          `json:"embed_keys,omitempty"`
	Collection string            `json:"collection"`
	Filename   string            `json:"filename"`
	Metadata   map[string]string `json:"metadata,omitempty"`
	// Run names the run that sent this chunk when it is not the video's
	// first (a reprocess, a re-index), so a queue that deduplicates by
	// message id takes it.
	Run string `json:"run,omitempty"`
	// NextModel, set on the messages of a model switch, asks only for the
	// vector of that model (the switch's next one): the live doc, its words
	// and the video's progress stay as they are.
	NextModel string `json:"next_model,omitempty"`
	// SwitchPage, on a model switch's page message (no chunk), is the
	// catalog page whose chunks it queues ("start": the first).
	SwitchPage string `json:"switch_page,omitempty"`
}

// ID is the deterministic document id: retries overwrite, never duplicate.
func (c Chunk) ID() string { return ChunkID(c.VideoID, c.Index) }

// FrameTime is the second of the video frame i of c shows; chunks indexed
// before frame times were recorded spread their frames evenly.
func (c Chunk) FrameTime(i int) float64 {
	if i < len(c.FrameTimes) {
		return c.FrameTimes[i]
	}
	n := max(1, len(c.FrameKeys))
	return c.Start + (c.End-c.Start)*(float64(i)+0.5)/float64(n)
}

// Doc is what the index stores for one chunk: its picture (Vector) and the
// words read on screen (Lines).
type Doc struct {
	Chunk
	Vector []float32  `json:"vector"`
	Model  string     `json:"model,omitempty"` // the model that made Vector
	Lines  []TextLine `json:"lines,omitempty"`
}

// TextLine is one line of text read on screen.
type TextLine struct {
	Text       string  `json:"text"`
	Confidence float64 `json:"confidence"`
	T          float64 `json:"t"` // second of the video it is first seen
}

// MatchedLine is a line of a hit that matched the query's words; Marks are
// the byte ranges [start, end) of Text that matched.
type MatchedLine struct {
	Text  string   `json:"text"`
	T     float64  `json:"t"`
	Marks [][2]int `json:"marks"`
}

// Why a hit matched.
const (
	MatchWords   = "words"   // words on screen, the filename or metadata
	MatchPicture = "picture" // the query's embedding near the chunk's
)

// Hit is one search result.
type Hit struct {
	VideoID    string  `json:"video_id"`
	Chunk      int     `json:"chunk"`
	Filename   string  `json:"filename"`
	Collection string  `json:"collection"`
	Start      float64 `json:"start"`
	End        float64 `json:"end"`
	Score      float64 `json:"score"`
	// Matched says why the hit matched (MatchWords, MatchPicture); Scores
	// holds each retriever's own score (BM25, cosine) when there were several
	// and Score is their fusion.
	Matched  []string           `json:"matched,omitempty"`
	Scores   map[string]float64 `json:"scores,omitempty"`
	Text     []MatchedLine      `json:"text,omitempty"`
	Metadata map[string]string  `json:"metadata,omitempty"`
	ThumbKey string             `json:"-"`
	ClipKey  string             `json:"-"`
	ThumbURL string             `json:"thumbnail_url,omitempty"`
	ClipURL  string             `json:"clip_url,omitempty"`
	// VideoURL reads the whole source video (a player opens it at Start).
	VideoURL string `json:"video_url,omitempty"`
}

// Query is a search request: exactly one of Text, Image, Like.
type Query struct {
	Text       string            `json:"text,omitempty"`
	Image      []byte            `json:"image,omitempty"` // JPEG or PNG bytes (base64 in JSON)
	Like       *LikeRef          `json:"like,omitempty"`
	Collection string            `json:"collection,omitempty"`
	K          int               `json:"k,omitempty"`
	Filters    map[string]string `json:"filters,omitempty"` // metadata equality filters
}

// LikeRef points at a moment of an indexed video: "more like this scene".
type LikeRef struct {
	VideoID string  `json:"video_id"`
	T       float64 `json:"t"`
}

// Filter narrows a k-NN search.
type Filter struct {
	Collection string
	Metadata   map[string]string
	ExcludeID  string // a document id left out (the scene a --like query starts from)
}

const (
	// Bucket prefixes: the layout both modes share.
	UploadsPrefix = "uploads/"
	ChunksPrefix  = "chunks/"
	// DefaultCollection is used when none is given.
	DefaultCollection = "default"
)

var collectionRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidCollection reports whether name is a usable collection name:
// lowercase letters, digits, '-' and '_', 1 to 63 characters, starting with a
// letter or digit.
func ValidCollection(name string) bool { return collectionRE.MatchString(name) }

var videoTypes = map[string]string{
	".mp4": "video/mp4", ".m4v": "video/x-m4v", ".mov": "video/quicktime", ".qt": "video/quicktime",
	".mkv": "video/x-matroska", ".webm": "video/webm", ".avi": "video/x-msvideo", ".mpg": "video/mpeg",
	".mpeg": "video/mpeg", ".ts": "video/mp2t", ".m2ts": "video/mp2t", ".mts": "video/mp2t", ".3gp": "video/3gpp",
	".flv": "video/x-flv", ".wmv": "video/x-ms-wmv", ".ogv": "video/ogg", ".mxf": "application/mxf",
	".gif": "image/gif", // animated GIFs are video to social teams
}

// VideoContentType is the content type of a video file by its extension, or
// "" for an extension that is not a video container's. (System MIME tables
// disagree: some map .webm to audio/webm.)
func VideoContentType(filename string) string {
	if i := strings.LastIndexByte(filename, '.'); i >= 0 {
		return videoTypes[strings.ToLower(filename[i:])]
	}
	return ""
}

// SafeFilename keeps letters (any script), digits, '.', '-' and '_' and
// replaces everything else with '_', so the name can sit in an object key and a
// URL without surprises. It never returns an empty string or a dot-only name.
func SafeFilename(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	for _, r := range name {
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r), r == '.', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteRune('_')
		}
	}
	s := strings.TrimLeft(b.String(), ".")
	if s == "" {
		s = "video"
	}
	if len(s) > 200 {
		// Keep the last 200 bytes (the extension), cut at a rune boundary.
		cut := len(s) - 200
		for cut < len(s) && !utf8.RuneStart(s[cut]) {
			cut++
		}
		s = s[cut:]
	}
	return s
}
