package pipeline

import (
	"context"
	"mime"
	"path"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/scenedex/scenedex/internal/scenedex"
)

// UploadRequest is the body of POST /v1/videos.
type UploadRequest struct {
	Filename    string            `json:"filename"`
	Size        int64             `json:"size"`
	ContentType string            `json:"content_type"`
	Collection  string            `json:"collection"`
	Metadata    map[string]string `json:"metadata"`
}

// Upload tells the client where to send the bytes.
type Upload struct {
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"` // send exactly these
	ExpiresAt time.Time         `json:"expires_at"`
}

var metaKeyRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,64}$`)

// CreateUpload validates the request, records the video as UPLOADING and
// returns a presigned PUT for exactly its key and size.
func (p *Pipeline) CreateUpload(ctx context.Context, req UploadRequest) (scenedex.Video, Upload, error) {
	if err := p.validateUpload(&req); err != nil {
		return scenedex.Video{}, Upload{}, err
	}
	id := newID()
	v := scenedex.Video{
		ID: id, Collection: req.Collection, Filename: req.Filename, ContentType: req.ContentType, Size: req.Size,
		Key:      scenedex.UploadsPrefix + req.Collection + "/" + id + "/" + scenedex.SafeFilename(req.Filename),
		Metadata: req.Metadata, Status: scenedex.StatusUploading, Stage: "awaiting upload",
	}
	if err := p.Catalog.Create(ctx, v); err != nil {
		return v, Upload{}, err
	}
	url, err := p.Blobs.PresignPut(ctx, v.Key, v.Size, v.ContentType, p.cfg.UploadTTL)
	if err != nil {
		return v, Upload{}, err
	}
	return v, Upload{Method: "PUT", URL: url, Headers: map[string]string{"Content-Type": v.ContentType},
		ExpiresAt: time.Now().Add(p.cfg.UploadTTL).UTC().Truncate(time.Second)}, nil
}

func (p *Pipeline) validateUpload(req *UploadRequest) error {
	req.Filename = strings.TrimSpace(req.Filename)
	switch {
	case req.Filename == "":
		return scenedex.Errorf(scenedex.CodeInvalid, "filename is required")
	case !utf8.ValidString(req.Filename) || len(req.Filename) > 255 || strings.ContainsAny(req.Filename, "\x00\r\n"):
		return scenedex.Errorf(scenedex.CodeInvalid, "filename must be valid UTF-8, at most 255 bytes, without control characters")
	case req.Size <= 0:
		return scenedex.Errorf(scenedex.CodeInvalid, "size must be the file's length in bytes (> 0); an empty file is not a video")
	case req.Size > p.cfg.MaxUploadBytes:
		return scenedex.Errorf(scenedex.CodeTooLarge, "size %d exceeds the limit of %d bytes", req.Size, p.cfg.MaxUploadBytes)
	}
	if req.Collection == "" {
		req.Collection = scenedex.DefaultCollection
	}
	if !scenedex.ValidCollection(req.Collection) {
		return scenedex.Errorf(scenedex.CodeInvalid, "collection %q is invalid: use 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit", req.Collection)
	}
	if req.ContentType == "" {
		req.ContentType = mime.TypeByExtension(strings.ToLower(path.Ext(req.Filename)))
		if req.ContentType == "" {
			req.ContentType = "application/octet-stream"
		}
	}
	mt, _, err := mime.ParseMediaType(req.ContentType)
	if err != nil {
		return scenedex.Errorf(scenedex.CodeInvalid, "content_type %q is not a media type", req.ContentType)
	}
	if !strings.HasPrefix(mt, "video/") && mt != "application/octet-stream" && mt != "application/mp4" {
		return scenedex.Errorf(scenedex.CodeInvalid, "content_type %q is not a video type (video/* or application/octet-stream)", req.ContentType)
	}
	if len(req.Metadata) > 32 {
		return scenedex.Errorf(scenedex.CodeInvalid, "metadata has %d keys; at most 32", len(req.Metadata))
	}
	for k, v := range req.Metadata {
		if !metaKeyRE.MatchString(k) {
			return scenedex.Errorf(scenedex.CodeInvalid, "metadata key %q is invalid: 1-64 of letters, digits, '_', '.', '-'", k)
		}
		if len(v) > 1024 || !utf8.ValidString(v) {
			return scenedex.Errorf(scenedex.CodeInvalid, "metadata value of %q must be UTF-8 and at most 1024 bytes", k)
		}
	}
	return nil
}
