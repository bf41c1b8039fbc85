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

// Upload tells the client where to send the bytes: one PUT to URL, or, for a
// large file, one PUT per part and then POST CompleteURL with the parts' ETags.
type Upload struct {
	Method      string            `json:"method"`
	URL         string            `json:"url,omitempty"`
	Headers     map[string]string `json:"headers"` // send exactly these
	Parts       []PartUpload      `json:"parts,omitempty"`
	CompleteURL string            `json:"complete_url,omitempty"` // API path, e.g. /v1/videos/{id}/complete
	// PartsURL re-signs parts (POST {"parts": [numbers]}): a URL signed with
	// temporary credentials dies with their session, whatever its expiry.
	PartsURL  string    `json:"parts_url,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
}

// SignPartsRequest is the body of POST /v1/videos/{id}/parts.
type SignPartsRequest struct {
	Parts []int `json:"parts"` // part numbers; empty: every part
}

// SignPartsResponse holds fresh URLs for the parts asked for.
type SignPartsResponse struct {
	Parts     []PartUpload `json:"parts"`
	ExpiresAt time.Time    `json:"expires_at"`
}

// PartUpload is one part of a multipart upload: bytes [Offset, Offset+Size)
// of the file go to URL.
type PartUpload struct {
	Number int    `json:"number"`
	Offset int64  `json:"offset"`
	Size   int64  `json:"size"`
	URL    string `json:"url"`
}

// CompleteRequest is the body of POST /v1/videos/{id}/complete.
type CompleteRequest struct {
	Parts []scenedex.Part `json:"parts"`
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
	up := Upload{Method: "PUT", Headers: map[string]string{"Content-Type": v.ContentType},
		ExpiresAt: time.Now().Add(p.cfg.UploadTTLFor(v.Size)).UTC().Truncate(time.Second)}
	if v.Size > p.cfg.MultipartAbove {
		uploadID, err := p.Blobs.CreateMultipart(ctx, v.Key, v.ContentType)
		if err != nil {
			return v, Upload{}, err
		}
		v.UploadID = uploadID
		if up.Parts, err = p.presignParts(ctx, v); err != nil {
			return v, Upload{}, err
		}
		up.Headers = map[string]string{} // parts carry no content type
		up.CompleteURL = "/v1/videos/" + id + "/complete"
		up.PartsURL = "/v1/videos/" + id + "/parts"
	} else {
		url, err := p.Blobs.PresignPut(ctx, v.Key, v.Size, v.ContentType, p.cfg.UploadTTL)
		if err != nil {
			return v, Upload{}, err
		}
		up.URL = url
	}
	if err := p.Catalog.Create(ctx, v); err != nil {
		return v, Upload{}, err
	}
	return v, up, nil
}

// presignParts signs the parts of v's multipart upload whose numbers want
// holds (every part when want is nil).
func (p *Pipeline) presignParts(ctx context.Context, v scenedex.Video, want ...int) ([]PartUpload, error) {
	layout := p.partLayout(v.Size)
	pick := map[int]bool{}
	for _, n := range want {
		if n < 1 || n > len(layout) {
			return nil, scenedex.Errorf(scenedex.CodeInvalid, "part %d does not exist: the upload has parts 1 to %d", n, len(layout))
		}
		pick[n] = true
	}
	var parts []PartUpload
	for _, part := range layout {
		if len(want) > 0 && !pick[part.Number] {
			continue
		}
		url, err := p.Blobs.PresignPart(ctx, v.Key, v.UploadID, part.Number, part.Size, p.cfg.UploadTTLFor(v.Size))
		if err != nil {
			return nil, err
		}
		part.URL = url
		parts = append(parts, part)
	}
	return parts, nil
}

// partLayout cuts size bytes into parts (at most S3's 10,000).
func (p *Pipeline) partLayout(size int64) []PartUpload {
	partSize := max(p.cfg.PartSize, (size+9999)/10000)
	var parts []PartUpload
	for off, n := int64(0), 1; off < size; off, n = off+partSize, n+1 {
		parts = append(parts, PartUpload{Number: n, Offset: off, Size: min(partSize, size-off)})
	}
	return parts
}

// SignParts gives fresh URLs for parts of a multipart upload in progress — a
// client whose part PUT was refused (its URL's signing session ended) asks
// again and goes on; the parts already sent stay.
func (p *Pipeline) SignParts(ctx context.Context, videoID string, req SignPartsRequest) (SignPartsResponse, error) {
	v, err := p.Catalog.Get(ctx, videoID)
	if err != nil {
		return SignPartsResponse{}, err
	}
	if v.UploadID == "" || v.Status != scenedex.StatusUploading {
		return SignPartsResponse{}, scenedex.Errorf(scenedex.CodeConflict, "video %s has no multipart upload in progress (status %s)", videoID, v.Status)
	}
	parts, err := p.presignParts(ctx, v, req.Parts...)
	if err != nil {
		return SignPartsResponse{}, err
	}
	return SignPartsResponse{Parts: parts, ExpiresAt: time.Now().Add(p.cfg.UploadTTLFor(v.Size)).UTC().Truncate(time.Second)}, nil
}

// CompleteUpload finishes a multipart upload; the object then exists and its
// Object Created event starts the workflow.
func (p *Pipeline) CompleteUpload(ctx context.Context, videoID string, req CompleteRequest) (scenedex.Video, error) {
	v, err := p.Catalog.Get(ctx, videoID)
	if err != nil {
		return v, err
	}
	if v.UploadID == "" || v.Status != scenedex.StatusUploading {
		return v, scenedex.Errorf(scenedex.CodeConflict, "video %s has no multipart upload in progress (status %s)", videoID, v.Status)
	}
	if len(req.Parts) == 0 {
		return v, scenedex.Errorf(scenedex.CodeInvalid, "parts is empty: give each part's number and the ETag its PUT returned")
	}
	for i, part := range req.Parts {
		if part.Number != i+1 || strings.TrimSpace(part.ETag) == "" {
			return v, scenedex.Errorf(scenedex.CodeInvalid, "parts must be numbered 1..n in order, each with its ETag (part %d)", i+1)
		}
	}
	// S3 completes an upload with any subset of its parts; the video's
	// record says how big it is, so every part must be there.
	if want := len(p.partLayout(v.Size)); len(req.Parts) != want {
		return v, scenedex.Errorf(scenedex.CodeInvalid, "the upload of %d bytes has %d parts; %d were given: send every part, then complete with all of them", v.Size, want, len(req.Parts))
	}
	if err := p.Blobs.CompleteMultipart(ctx, v.Key, v.UploadID, req.Parts); err != nil {
		return v, err
	}
	return p.Catalog.Update(ctx, videoID, func(v *scenedex.Video) error {
		v.UploadID = ""
		return nil
	})
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
		req.ContentType = GuessContentType(req.Filename)
	}
	mt, _, err := mime.ParseMediaType(req.ContentType)
	if err != nil {
		return scenedex.Errorf(scenedex.CodeInvalid, "content_type %q is not a media type", req.ContentType)
	}
	if !strings.HasPrefix(mt, "video/") && mt != "application/octet-stream" && mt != "application/mp4" && mt != "application/mxf" && mt != "image/gif" {
		return scenedex.Errorf(scenedex.CodeInvalid, "content_type %q is not a video type (video/*, image/gif for animated GIFs, or application/octet-stream)", req.ContentType)
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

// GuessContentType names a file's type from its extension: video containers
// first (system tables call .webm audio), then the system's MIME table, else
// application/octet-stream.
func GuessContentType(filename string) string {
	if t := scenedex.VideoContentType(filename); t != "" {
		return t
	}
	if t := mime.TypeByExtension(strings.ToLower(path.Ext(filename))); t != "" {
		return t
	}
	return "application/octet-stream"
}
