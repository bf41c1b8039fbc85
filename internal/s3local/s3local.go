// Package s3local serves an S3-compatible endpoint in-process over a folder,
// so the local mode uses the real aws-sdk-go-v2 S3 client and presigner and
// plain curl works on presigned URLs. Objects are plain files under
// <dir>/<bucket>/ (a file copied there is an object, which is how drop-in
// works). The emulator (gofakes3) checks no signatures, so every request goes
// through a SigV4 verifier first. A completed upload emits the same Object
// Created event that S3 sends through EventBridge in the cloud.
package s3local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
	"github.com/spf13/afero"

	"github.com/scenedex/scenedex/internal/scenedex"
)

// Config configures the endpoint.
type Config struct {
	Dir    string // data folder
	Bucket string
	// OnCreated is called, before the client gets its 200, for every object
	// created under uploads/. An error turns the response into a 500 so the
	// client retries: no upload is acknowledged without its event.
	OnCreated func(context.Context, scenedex.ObjectCreated) error
	// OnDeleted is called, before the client hears of it, for every object
	// under uploads/ that a DELETE (or a multi-object delete) removed; an
	// error turns the response into a 500 so the client retries.
	OnDeleted func(context.Context, scenedex.ObjectDeleted) error
	Now       func() time.Time
	Log       *slog.Logger
	// Keys are more access keys the endpoint accepts (id -> secret) besides
	// its own: a caller per identity (the contract harness gives each
	// Lambda function its own, as each role's credentials differ in AWS).
	Keys map[string]string
}

// Server is the endpoint.
type Server struct {
	cfg       Config
	stageDir  string // PUT bodies wait here until whole
	backend   *s3afero.SingleBucketBackend
	fake      http.Handler
	verify    verifier
	AccessKey string
	Secret    string
	openStage func() (*os.File, error) // nil: a new file in stageDir (tests hand in /dev/full)
	multi     uploads
	objFs     atomicFs
}

// New opens the endpoint over cfg.Dir, creating it if needed. Credentials are
// made once and kept in <dir>/credentials so presigned URLs survive restarts.
func New(cfg Config) (*Server, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	objects := filepath.Join(cfg.Dir, cfg.Bucket)
	meta := filepath.Join(cfg.Dir, "s3meta")
	for _, d := range []string{objects, meta, filepath.Join(cfg.Dir, "s3multipart")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("s3local: %w", err)
		}
	}
	access, secret, err := credentials(cfg.Dir)
	if err != nil {
		return nil, err
	}
	osfs := afero.NewOsFs()
	removePartials(objects) // what a killed server was writing is no object
	objFs := atomicFs{Fs: afero.NewBasePathFs(osfs, objects), expected: &sync.Map{}}
	backend, err := s3afero.SingleBucket(cfg.Bucket, objFs, metaFs{afero.NewBasePathFs(osfs, meta)})
	if err != nil {
		return nil, fmt.Errorf("s3local: %w", err)
	}
	fake := gofakes3.New(backend, gofakes3.WithoutVersioning(), gofakes3.WithLogger(gofakes3.DiscardLog()))
	stage := filepath.Join(cfg.Dir, "s3staging")
	os.RemoveAll(stage) // what a killed server was staging is no object
	if err := os.MkdirAll(stage, 0o755); err != nil {
		return nil, fmt.Errorf("s3local: %w", err)
	}
	s := &Server{
		cfg: cfg, backend: backend, objFs: objFs, fake: fake.Server(), stageDir: stage,
		verify:    verifier{secrets: keys(access, secret, cfg.Keys), now: cfg.Now, maxSkew: 15 * time.Minute},
		AccessKey: access, Secret: secret,
	}
	s.dropStaleUploads()
	return s, nil
}

// keys is the endpoint's own key and the extra ones, id -> secret.
func keys(access, secret string, extra map[string]string) map[string]string {
	out := map[string]string{access: secret}
	for id, s := range extra {
		out[id] = s
	}
	return out
}

// ReadCredentials returns the access key and secret of the endpoint whose
// data folder is dir, without creating any: an error says to start the server
// first when it has never run there.
func ReadCredentials(dir string) (access, secret string, err error) {
	path := filepath.Join(dir, "credentials")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", fmt.Errorf("no local S3 credentials in %s: run `scenedex serve --data %s` once first", dir, dir)
	}
	if err != nil {
		return "", "", fmt.Errorf("s3local: read credentials: %w", err)
	}
	a, s, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
	if !ok || a == "" || s == "" {
		return "", "", fmt.Errorf("s3local: %s is not ACCESS:SECRET; delete it and restart the server for new credentials", path)
	}
	return a, s, nil
}

// credentials reads dir's credentials, or makes new ones when there are none
// (or they are unreadable).
func credentials(dir string) (string, string, error) {
	if a, s, err := ReadCredentials(dir); err == nil {
		return a, s, nil
	}
	path := filepath.Join(dir, "credentials")
	var raw [20]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", "", err
	}
	access, secret := "SCENEDEXLOCAL", hex.EncodeToString(raw[:])
	if err := os.WriteFile(path, []byte(access+":"+secret+"\n"), 0o600); err != nil {
		return "", "", fmt.Errorf("s3local: save credentials: %w", err)
	}
	return access, secret, nil
}

// ObjectsDir is the folder holding the bucket's objects.
func (s *Server) ObjectsDir() string { return filepath.Join(s.cfg.Dir, s.cfg.Bucket) }

// ServeHTTP verifies the signature, serves the request, and emits Object
// Created for finished uploads.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions { // CORS preflight carries no signature
		s.fake.ServeHTTP(w, r)
		return
	}
	if err := s.verify.verify(r); err != nil {
		writeError(w, http.StatusForbidden, err.code, err.msg)
		return
	}
	r, release := s.guard(w, r)
	defer release()
	if r == nil {
		return
	}
	if doomed := s.deleting(r); doomed != nil {
		s.deleteObjects(w, r, doomed)
		return
	}
	key, creates := s.createdKey(r)
	if !creates {
		s.fake.ServeHTTP(w, r)
		return
	}
	// Hold the response until the event is recorded: buffer it.
	buf := &bufferedWriter{header: http.Header{}}
	s.fake.ServeHTTP(buf, r)
	if buf.status == 0 {
		buf.status = http.StatusOK
	}
	if buf.status == http.StatusOK {
		if _, err := s.created(r.Context(), key); err != nil {
			s.cfg.Log.Error("object created event not recorded", "key", key, "err", err)
			writeError(w, http.StatusInternalServerError, "InternalError", "upload stored but its event was not recorded; retry the upload")
			return
		}
	}
	buf.flush(w)
}

// created follows the storing of key: it returns the stored object's ETag
// (hex MD5) and, for an object under uploads/, emits its Object Created
// event.
func (s *Server) created(ctx context.Context, key string) (string, error) {
	obj, err := s.backend.HeadObject(s.cfg.Bucket, key)
	if err != nil {
		return "", fmt.Errorf("head %s: %w", key, err)
	}
	etag := hex.EncodeToString(obj.Hash)
	if !strings.HasPrefix(key, scenedex.UploadsPrefix) || s.cfg.OnCreated == nil {
		return etag, nil
	}
	return etag, s.cfg.OnCreated(ctx, scenedex.ObjectCreated{Bucket: s.cfg.Bucket, Key: key, Size: obj.Size, ETag: etag})
}

// createdKey reports whether r creates, through the emulator, an object whose
// Object Created event must be recorded before the answer (a PUT without a
// part number under uploads/; multipart uploads are ours), and its key.
// Other PUTs (chunk files) go straight through.
func (s *Server) createdKey(r *http.Request) (string, bool) {
	key, ok := s.objectKey(r)
	if !ok || s.cfg.OnCreated == nil || !strings.HasPrefix(key, scenedex.UploadsPrefix) {
		return "", false
	}
	q := r.URL.Query()
	return key, r.Method == http.MethodPut && !q.Has("partNumber") && !q.Has("uploadId")
}

// DropIns lists objects under uploads/ that were written straight into the
// folder (not through the endpoint) and have not changed for settle, so a file
// still being copied is left for a later scan.
func (s *Server) DropIns(settle time.Duration) ([]scenedex.ObjectCreated, error) {
	root := s.ObjectsDir()
	var out []scenedex.ObjectCreated
	cutoff := s.cfg.Now().Add(-settle)
	err := filepath.WalkDir(filepath.Join(root, strings.TrimSuffix(scenedex.UploadsPrefix, "/")), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		info, err := d.Info()
		if err != nil || info.ModTime().After(cutoff) {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return nil
		}
		out = append(out, scenedex.ObjectCreated{Bucket: s.cfg.Bucket, Key: filepath.ToSlash(rel), Size: info.Size(),
			Version: fmt.Sprintf("%d-%d", info.Size(), info.ModTime().UnixNano())})
		return nil
	})
	return out, err
}

type bufferedWriter struct {
	header http.Header
	status int
	body   []byte
}

func (b *bufferedWriter) Header() http.Header { return b.header }
func (b *bufferedWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	b.body = append(b.body, p...)
	return len(p), nil
}
func (b *bufferedWriter) flush(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	w.WriteHeader(b.status)
	w.Write(b.body)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	xml.NewEncoder(w).Encode(struct {
		XMLName xml.Name `xml:"Error"`
		Code    string   `xml:"Code"`
		Message string   `xml:"Message"`
	}{Code: code, Message: msg})
}
