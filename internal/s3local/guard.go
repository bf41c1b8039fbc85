package s3local

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"
)

// Sub-resources the emulator would mistake for object bodies (replacing or
// returning the object): refused with S3's own error for what it does not do.
var unsupported = []string{"tagging", "acl", "retention", "legal-hold", "torrent", "restore", "select"}

// guard answers, before the emulator sees them, the requests it would get
// wrong in ways that lose data, and stages object and part PUTs on disk so
// that an object appears whole or not at all and a body that is not the one
// signed (x-amz-content-sha256) or sent (Content-MD5) is refused. It returns the request to pass on (nil
// when it has answered) and what to release once the request is served.
func (s *Server) guard(w http.ResponseWriter, r *http.Request) (*http.Request, func()) {
	none := func() {}
	q := r.URL.Query()
	for _, sub := range unsupported {
		if q.Has(sub) {
			writeError(w, http.StatusNotImplemented, "NotImplemented", fmt.Sprintf("the local S3 endpoint does not implement ?%s", sub))
			return nil, none
		}
	}
	if s.listing(r) {
		s.list(w, r)
		return nil, none
	}
	key, isObject := s.objectKey(r)
	if msg := badKey(key); isObject && msg != "" {
		// Before anything is staged: no file can hold this key.
		s.cfg.Log.Warn("s3: refused a request for an invalid key", "method", r.Method, "key", fmt.Sprintf("%q", key), "reason", msg)
		writeError(w, http.StatusBadRequest, "InvalidArgument", msg)
		return nil, none
	}
	if r.Method == http.MethodPut && (r.URL.Path == "/"+s.cfg.Bucket || r.URL.Path == "/"+s.cfg.Bucket+"/") && len(q) == 0 {
		// CreateBucket on the bucket that exists: us-east-1 answers 200 to its owner.
		w.Header().Set("Location", "/"+s.cfg.Bucket)
		w.WriteHeader(http.StatusOK)
		return nil, none
	}
	creating := isObject && ((r.Method == http.MethodPut && !q.Has("partNumber") && !q.Has("uploadId")) ||
		(r.Method == http.MethodPost && q.Has("uploads")))
	if creating {
		if status, code, msg := s.keyFits(key); status != 0 {
			writeError(w, status, code, msg)
			return nil, none
		}
	}
	if s.multipart(w, r) {
		return nil, none
	}
	if !isObject || r.Method != http.MethodPut {
		return r, none
	}
	part := q.Has("partNumber") || q.Has("uploadId")
	if src := r.Header.Get("X-Amz-Copy-Source"); src != "" && !part {
		if unescaped, err := url.PathUnescape(strings.SplitN(src, "?", 2)[0]); err == nil && strings.TrimPrefix(unescaped, "/") == s.cfg.Bucket+"/"+key {
			// The emulator empties an object copied onto itself.
			writeError(w, http.StatusNotImplemented, "NotImplemented", "copying an object onto itself (to change its metadata) is not implemented by the local S3 endpoint; the object is unchanged")
			return nil, none
		}
		return r, none
	}
	if r.Header.Get("X-Amz-Copy-Source") != "" {
		return r, none // UploadPartCopy: no body
	}
	return s.stage(w, r)
}

// objectKey is the key a request addresses in the bucket, if any.
func (s *Server) objectKey(r *http.Request) (string, bool) {
	prefix := "/" + s.cfg.Bucket + "/"
	if !strings.HasPrefix(r.URL.Path, prefix) || len(r.URL.Path) == len(prefix) {
		return "", false
	}
	return strings.TrimPrefix(r.URL.Path, prefix), true
}

// staged is a request body received whole into a file of the data folder,
// with its MD5.
type staged struct {
	f    *os.File
	size int64
	md5  []byte
}

// receive reads a PUT's body into a file of the data folder first: a body
// that ends short (the client aborted, the disk filled) stores nothing, and a
// Content-MD5 or x-amz-content-sha256 that does not match is refused before
// anything is stored. It answers the client itself when it returns nil; the
// release func removes the file (unless it was moved on).
func (s *Server) receive(w http.ResponseWriter, r *http.Request) (*staged, func()) {
	none := func() {}
	open := s.openStage
	if open == nil {
		open = func() (*os.File, error) { return os.CreateTemp(s.stageDir, "put-") }
	}
	tmp, err := open()
	if err != nil {
		s.diskError(w, fmt.Errorf("cannot stage the upload: %w", err))
		return nil, none
	}
	release := func() {
		tmp.Close()
		if filepath.Dir(tmp.Name()) == s.stageDir { // never what a test handed in
			os.Remove(tmp.Name())
		}
	}
	sum, sha := md5.New(), sha256.New()
	disk := &errWriter{w: tmp}
	payload := r.Header.Get("X-Amz-Content-Sha256")
	var n int64
	switch {
	case payload == streamingSigned || payload == streamingSignedTrailer || payload == streamingUnsigned:
		var seed *chunkSeed
		if payload != streamingUnsigned {
			sd, aerr := s.verify.seed(r)
			if aerr != nil {
				writeError(w, http.StatusForbidden, aerr.code, aerr.msg)
				return nil, release
			}
			seed = &sd
		}
		n, err = decodeChunks(r.Body, io.MultiWriter(disk, sum, sha), seed, r.Header.Get("X-Amz-Trailer"))
		var ce *chunkError
		if disk.err == nil && errors.As(err, &ce) {
			status := http.StatusBadRequest
			switch ce.code {
			case "SignatureDoesNotMatch", "AccessDenied":
				status = http.StatusForbidden
			case "NotImplemented":
				status = http.StatusNotImplemented
			}
			writeError(w, status, ce.code, ce.msg+"; nothing was stored")
			return nil, release
		}
		if want := r.Header.Get("X-Amz-Decoded-Content-Length"); err == nil && disk.err == nil && want != strconv.FormatInt(n, 10) {
			writeError(w, http.StatusBadRequest, "IncompleteBody", fmt.Sprintf("the chunks hold %d bytes, x-amz-decoded-content-length says %s; nothing was stored", n, want))
			return nil, release
		}
	case strings.HasPrefix(payload, "STREAMING-"):
		writeError(w, http.StatusNotImplemented, "NotImplemented", fmt.Sprintf("the local S3 endpoint does not take %s bodies", payload))
		return nil, release
	default:
		n, err = io.Copy(io.MultiWriter(disk, sum, sha), r.Body)
		if err == nil && r.ContentLength >= 0 && n != r.ContentLength {
			err = io.ErrUnexpectedEOF
		}
	}
	if disk.err != nil {
		// Our disk, not the client's body: say so, with a status clients retry.
		s.diskError(w, fmt.Errorf("cannot stage the upload: %w", disk.err))
		return nil, release
	}
	if err != nil {
		// The connection is gone or short: nothing is stored.
		writeError(w, http.StatusBadRequest, "IncompleteBody", fmt.Sprintf("the body ended after %d of %d bytes; nothing was stored", n, r.ContentLength))
		return nil, release
	}
	if want := r.Header.Get("Content-Md5"); want != "" {
		if got := base64.StdEncoding.EncodeToString(sum.Sum(nil)); got != want {
			writeError(w, http.StatusBadRequest, "BadDigest", "the Content-MD5 you specified did not match what was received; nothing was stored")
			return nil, release
		}
	}
	// The signature covers x-amz-content-sha256; a body that does not hash to
	// it is not the body that was signed.
	if want := strings.ToLower(r.Header.Get("X-Amz-Content-Sha256")); len(want) == sha256.Size*2 {
		if got := hex.EncodeToString(sha.Sum(nil)); got != want {
			writeError(w, http.StatusBadRequest, "XAmzContentSHA256Mismatch", "the provided 'x-amz-content-sha256' header does not match what was computed; nothing was stored")
			return nil, release
		}
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		writeError(w, http.StatusInternalServerError, "InternalError", err.Error())
		return nil, release
	}
	return &staged{f: tmp, size: n, md5: sum.Sum(nil)}, release
}

// stage receives an object PUT's body whole (receive), then hands the
// emulator a request that reads it from the file.
func (s *Server) stage(w http.ResponseWriter, r *http.Request) (*http.Request, func()) {
	st, release := s.receive(w, r)
	if st == nil {
		return nil, release
	}
	if key, ok := s.objectKey(r); ok {
		done := s.objFs.expect(filepath.FromSlash(key), st.size) // written whole, or not at all
		prev := release
		release = func() { done(); prev() }
	}
	r2 := r.Clone(r.Context())
	r2.Body, r2.ContentLength = io.NopCloser(st.f), st.size
	if strings.HasPrefix(r.Header.Get("X-Amz-Content-Sha256"), "STREAMING-") {
		// Decoded and checked: the emulator gets the plain bytes, and the
		// object keeps no trace of the transfer encoding (as on S3).
		r2.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		r2.Header.Set("Content-Length", strconv.FormatInt(st.size, 10))
		r2.Header.Del("X-Amz-Decoded-Content-Length")
		r2.Header.Del("X-Amz-Trailer")
		var enc []string
		for _, e := range strings.Split(r.Header.Get("Content-Encoding"), ",") {
			if e = strings.TrimSpace(e); e != "" && !strings.EqualFold(e, "aws-chunked") {
				enc = append(enc, e)
			}
		}
		if r2.Header.Del("Content-Encoding"); len(enc) > 0 {
			r2.Header.Set("Content-Encoding", strings.Join(enc, ","))
		}
	}
	return r2, release
}

// keyFits refuses, with a clear error instead of the emulator's 500, the keys
// S3 takes but objects kept as plain files cannot: a path part longer than a
// file name may be, a folder marker, ".", ".." or empty parts, and an object
// where a folder of objects is (or the reverse). It returns status 0 if key fits.
func (s *Server) keyFits(key string) (int, string, string) {
	if len(key) > 1024 {
		return http.StatusBadRequest, "KeyTooLongError", "your key is too long: S3 keys are at most 1,024 bytes"
	}
	if strings.HasSuffix(key, "/") {
		return http.StatusNotImplemented, "NotImplemented", "folder markers (keys ending in /) are not stored by the local S3 endpoint: a folder exists through the objects under it"
	}
	parts := strings.Split(key, "/")
	for i, p := range parts {
		if len(p) > 255 {
			return http.StatusBadRequest, "KeyTooLongError", fmt.Sprintf("the local S3 endpoint keeps objects as files: each /-separated part of a key must be at most 255 bytes (part %d has %d)", i+1, len(p))
		}
	}
	path := s.ObjectsDir()
	for i, p := range parts {
		path = filepath.Join(path, p)
		st, err := os.Stat(path)
		if err != nil {
			return 0, "", "" // nothing there yet: it fits
		}
		last := i == len(parts)-1
		if !last && !st.IsDir() {
			return http.StatusBadRequest, "InvalidArgument", fmt.Sprintf("the local S3 endpoint keeps objects as files: %q is an object, so nothing can be stored under %q", strings.Join(parts[:i+1], "/"), strings.Join(parts[:i+1], "/")+"/")
		}
		if last && st.IsDir() {
			return http.StatusBadRequest, "InvalidArgument", fmt.Sprintf("the local S3 endpoint keeps objects as files: there are objects under %q, so %q cannot be an object too", key+"/", key)
		}
	}
	return 0, "", ""
}

// badKey says why no object can have key, for any request ("" if it can):
// S3 keys are UTF-8 (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html),
// and objects kept as files cannot have a NUL in their name, nor an empty,
// "." or ".." part (a path would name another file, or none).
func badKey(key string) string {
	switch {
	case !utf8.ValidString(key):
		return "an object key must be UTF-8"
	case strings.ContainsRune(key, 0):
		return "the local S3 endpoint keeps objects as files: a key cannot contain a NUL character"
	}
	parts := strings.Split(key, "/")
	for i, p := range parts {
		last := i == len(parts)-1 && i > 0 // "a/": a folder marker (keyFits says what of it)
		if p == "." || p == ".." || (p == "" && !last) {
			return fmt.Sprintf("the local S3 endpoint keeps objects as files: a key cannot have an empty, \".\" or \"..\" part (%q)", key)
		}
	}
	return ""
}

// errWriter remembers the error its writer returned, so a failing disk is
// told apart from a failing request body.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil {
		e.err = err
	}
	return n, err
}

func isNoSpace(err error) bool { return errors.Is(err, syscall.ENOSPC) }

func hexString(b []byte) string { return hex.EncodeToString(b) }
