package s3local

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3"
)

// Multipart uploads live on disk, not in memory (the emulator held every part
// in RAM until completion): <data>/s3multipart/<upload id>/ holds
// upload.json and one file per part, named <number>-<md5>.part. Parts are
// received whole first (receive), so a part is there whole or not at all; an
// upload survives a restart, as S3's do; completing streams the parts, in
// order, into the object. Uploads left for a day are removed at start, as
// the stack's lifecycle rule aborts them in the cloud.

// MinPartSize is S3's smallest part but the last.
const MinPartSize = 5 << 20

// MultipartMaxAge is how long an upload that was neither completed nor
// aborted is kept.
const MultipartMaxAge = 24 * time.Hour

type uploadInfo struct {
	Key       string            `json:"key"`
	Meta      map[string]string `json:"meta,omitempty"` // by canonical header name
	Initiated time.Time         `json:"initiated"`
}

type partFile struct {
	number int
	md5hex string
	size   int64
	path   string
	mod    time.Time
}

// uploads serialises the operations of each upload (a part landing, its
// completion, its abort); different uploads never wait on each other.
// Lock order: an upload's lock, then (a completion's Object Created event)
// the runner's queue database; code holding a database connection never
// calls into this server, so the reverse cannot happen.
type uploads struct {
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

func (u *uploads) lock(id string) func() {
	u.mu.Lock()
	if u.locks == nil {
		u.locks = map[string]*sync.Mutex{}
	}
	l, ok := u.locks[id]
	if !ok {
		l = &sync.Mutex{}
		u.locks[id] = l
	}
	u.mu.Unlock()
	l.Lock()
	return l.Unlock
}

func (s *Server) uploadDir(id string) string { return filepath.Join(s.cfg.Dir, "s3multipart", id) }

// validUploadID: ids are ours (32 hex digits), so a crafted one names no
// other folder.
func validUploadID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// multipart answers the multipart requests itself (true) and leaves the rest.
func (s *Server) multipart(w http.ResponseWriter, r *http.Request) bool {
	q := r.URL.Query()
	key, isObject := s.objectKey(r)
	switch {
	case r.Method == http.MethodGet && q.Has("uploads") && !isObject && strings.TrimSuffix(r.URL.Path, "/") == "/"+s.cfg.Bucket:
		s.listUploads(w, r)
	case !isObject:
		return false
	case r.Method == http.MethodPost && q.Has("uploads"):
		s.createUpload(w, r, key)
	case q.Has("uploadId") && r.Method == http.MethodPut:
		if r.Header.Get("X-Amz-Copy-Source") != "" {
			writeError(w, http.StatusNotImplemented, "NotImplemented", "UploadPartCopy is not implemented by the local S3 endpoint")
			return true
		}
		s.uploadPart(w, r, key, q.Get("uploadId"), q.Get("partNumber"))
	case q.Has("uploadId") && r.Method == http.MethodPost:
		s.completeUpload(w, r, key, q.Get("uploadId"))
	case q.Has("uploadId") && r.Method == http.MethodDelete:
		s.abortUpload(w, key, q.Get("uploadId"))
	case q.Has("uploadId") && r.Method == http.MethodGet:
		s.listParts(w, key, q.Get("uploadId"))
	default:
		return false
	}
	return true
}

func writeXML(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	io.WriteString(w, xml.Header)
	xml.NewEncoder(w).Encode(v)
}

const s3ns = "http://s3.amazonaws.com/doc/2006-03-01/"

func (s *Server) createUpload(w http.ResponseWriter, r *http.Request, key string) {
	var raw [16]byte
	rand.Read(raw[:])
	id := hex.EncodeToString(raw[:])
	// The object's metadata, as the emulator keeps it for a PUT: user
	// metadata and the content headers, by canonical header name.
	info := uploadInfo{Key: key, Meta: map[string]string{}, Initiated: s.cfg.Now().UTC()}
	for k, v := range r.Header {
		if len(v) > 0 && (strings.HasPrefix(k, "X-Amz-Meta-") || k == "Content-Type" || k == "Content-Disposition" || k == "Content-Encoding") {
			info.Meta[k] = v[0]
		}
	}
	b, _ := json.Marshal(info)
	dir := s.uploadDir(id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		s.diskError(w, err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, "upload.json"), b, 0o644); err != nil {
		os.RemoveAll(dir)
		s.diskError(w, err)
		return
	}
	writeXML(w, http.StatusOK, struct {
		XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
		Xmlns    string   `xml:"xmlns,attr"`
		Bucket   string   `xml:"Bucket"`
		Key      string   `xml:"Key"`
		UploadID string   `xml:"UploadId"`
	}{Xmlns: s3ns, Bucket: s.cfg.Bucket, Key: key, UploadID: id})
}

// diskError answers, and logs, a failure of our own disk: 507 when it is
// full. Nothing was stored.
func (s *Server) diskError(w http.ResponseWriter, err error) {
	if isNoSpace(err) {
		s.cfg.Log.Error("s3: disk full, request refused", "err", err)
		writeError(w, http.StatusInsufficientStorage, "InsufficientStorage", "no space left on the local S3 endpoint's disk; nothing was stored: "+err.Error())
		return
	}
	s.cfg.Log.Error("s3: disk error, request refused", "err", err)
	writeError(w, http.StatusInternalServerError, "InternalError", err.Error())
}

// upload reads an upload's record; an unknown id, or one for another key,
// is S3's NoSuchUpload.
func (s *Server) upload(w http.ResponseWriter, key, id string) (uploadInfo, bool) {
	if validUploadID(id) {
		if info, err := s.readUpload(id); err == nil && info.Key == key {
			return info, true
		}
	}
	writeError(w, http.StatusNotFound, "NoSuchUpload", "the specified multipart upload does not exist: it was never started for this key, or it was completed or aborted")
	return uploadInfo{}, false
}

func (s *Server) parts(id string) ([]partFile, error) {
	entries, err := os.ReadDir(s.uploadDir(id))
	if err != nil {
		return nil, err
	}
	var out []partFile
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".part")
		num, sum, ok2 := strings.Cut(name, "-")
		n, err := strconv.Atoi(num)
		if !ok || !ok2 || err != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, err
		}
		out = append(out, partFile{number: n, md5hex: sum, size: info.Size(), path: filepath.Join(s.uploadDir(id), e.Name()), mod: info.ModTime()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].number < out[j].number })
	return out, nil
}

func (s *Server) uploadPart(w http.ResponseWriter, r *http.Request, key, id, number string) {
	n, err := strconv.Atoi(number)
	if err != nil || n < 1 || n > 10000 {
		writeError(w, http.StatusBadRequest, "InvalidArgument", "part number must be an integer between 1 and 10000")
		return
	}
	if _, ok := s.upload(w, key, id); !ok {
		return
	}
	st, release := s.receive(w, r)
	defer release()
	if st == nil {
		return
	}
	unlock := s.multi.lock(id)
	defer unlock()
	if _, ok := s.upload(w, key, id); !ok { // completed or aborted meanwhile
		return
	}
	old, err := s.parts(id)
	if err != nil {
		s.diskError(w, err)
		return
	}
	md5hex := hex.EncodeToString(st.md5)
	dst := filepath.Join(s.uploadDir(id), fmt.Sprintf("%05d-%s.part", n, md5hex))
	if err := os.Rename(st.f.Name(), dst); err != nil {
		s.diskError(w, err)
		return
	}
	for _, p := range old {
		if p.number == n && p.path != dst {
			os.Remove(p.path) // the part sent again replaces the first
		}
	}
	w.Header().Set("ETag", `"`+md5hex+`"`)
	w.WriteHeader(http.StatusOK)
}

type completeRequest struct {
	Parts []struct {
		PartNumber int    `xml:"PartNumber"`
		ETag       string `xml:"ETag"`
	} `xml:"Part"`
}

func (s *Server) completeUpload(w http.ResponseWriter, r *http.Request, key, id string) {
	info, ok := s.upload(w, key, id)
	if !ok {
		return
	}
	var req completeRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil || xml.Unmarshal(body, &req) != nil {
		writeError(w, http.StatusBadRequest, "MalformedXML", "the XML you provided was not well-formed or did not validate against our published schema")
		return
	}
	if len(req.Parts) == 0 {
		writeError(w, http.StatusBadRequest, "MalformedXML", "you must specify at least one part")
		return
	}
	unlock := s.multi.lock(id)
	defer unlock()
	if _, ok := s.upload(w, key, id); !ok {
		return
	}
	have, err := s.parts(id)
	if err != nil {
		s.diskError(w, err)
		return
	}
	byNumber := map[int]partFile{}
	for _, p := range have {
		byNumber[p.number] = p
	}
	var files []io.Reader
	var size int64
	for i, p := range req.Parts {
		if i > 0 && p.PartNumber <= req.Parts[i-1].PartNumber {
			writeError(w, http.StatusBadRequest, "InvalidPartOrder", "the list of parts was not in ascending order; parts must be ordered by part number")
			return
		}
		got, ok := byNumber[p.PartNumber]
		if !ok || strings.Trim(p.ETag, `" `) != got.md5hex {
			writeError(w, http.StatusBadRequest, "InvalidPart", fmt.Sprintf("part %d was not uploaded, or its ETag is not the one given", p.PartNumber))
			return
		}
		if i < len(req.Parts)-1 && got.size < MinPartSize {
			writeError(w, http.StatusBadRequest, "EntityTooSmall", fmt.Sprintf("part %d is %d bytes: every part but the last must be at least 5 MiB", p.PartNumber, got.size))
			return
		}
		f, err := os.Open(got.path)
		if err != nil {
			s.diskError(w, err)
			return
		}
		defer f.Close()
		files = append(files, f)
		size += got.size
	}
	meta := map[string]string{"Last-Modified": s.cfg.Now().UTC().Format("Mon, 02 Jan 2006 15:04:05") + " GMT"}
	for k, v := range info.Meta {
		meta[k] = v
	}
	done := s.objFs.expect(filepath.FromSlash(key), size)
	_, err = s.backend.PutObject(s.cfg.Bucket, key, meta, io.MultiReader(files...), size, nil)
	done()
	if err != nil {
		var gerr gofakes3.Error
		if errors.As(err, &gerr) {
			writeError(w, http.StatusBadRequest, string(gerr.ErrorCode()), err.Error())
			return
		}
		s.diskError(w, err)
		return
	}
	etag, err := s.created(r.Context(), key)
	if err != nil {
		// Stored, but its event is not recorded: the upload stays, so the
		// client's retry completes it again and the event follows.
		s.cfg.Log.Error("object created event not recorded", "key", key, "err", err)
		writeError(w, http.StatusInternalServerError, "InternalError", "upload stored but its event was not recorded; retry completing it")
		return
	}
	os.RemoveAll(s.uploadDir(id))
	writeXML(w, http.StatusOK, struct {
		XMLName  xml.Name `xml:"CompleteMultipartUploadResult"`
		Xmlns    string   `xml:"xmlns,attr"`
		Location string   `xml:"Location"`
		Bucket   string   `xml:"Bucket"`
		Key      string   `xml:"Key"`
		ETag     string   `xml:"ETag"`
	}{Xmlns: s3ns, Location: "/" + s.cfg.Bucket + "/" + key, Bucket: s.cfg.Bucket, Key: key, ETag: `"` + etag + `"`})
}

func (s *Server) abortUpload(w http.ResponseWriter, key, id string) {
	if _, ok := s.upload(w, key, id); !ok {
		return
	}
	unlock := s.multi.lock(id)
	defer unlock()
	if err := os.RemoveAll(s.uploadDir(id)); err != nil {
		s.diskError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listParts(w http.ResponseWriter, key, id string) {
	info, ok := s.upload(w, key, id)
	if !ok {
		return
	}
	have, err := s.parts(id)
	if err != nil {
		s.diskError(w, err)
		return
	}
	type part struct {
		PartNumber   int    `xml:"PartNumber"`
		LastModified string `xml:"LastModified"`
		ETag         string `xml:"ETag"`
		Size         int64  `xml:"Size"`
	}
	res := struct {
		XMLName     xml.Name `xml:"ListPartsResult"`
		Xmlns       string   `xml:"xmlns,attr"`
		Bucket      string   `xml:"Bucket"`
		Key         string   `xml:"Key"`
		UploadID    string   `xml:"UploadId"`
		MaxParts    int      `xml:"MaxParts"`
		IsTruncated bool     `xml:"IsTruncated"`
		Parts       []part   `xml:"Part"`
	}{Xmlns: s3ns, Bucket: s.cfg.Bucket, Key: info.Key, UploadID: id, MaxParts: 10000}
	for _, p := range have {
		res.Parts = append(res.Parts, part{PartNumber: p.number, LastModified: p.mod.UTC().Format(time.RFC3339), ETag: `"` + p.md5hex + `"`, Size: p.size})
	}
	writeXML(w, http.StatusOK, res)
}

func (s *Server) listUploads(w http.ResponseWriter, r *http.Request) {
	prefix := r.URL.Query().Get("prefix")
	type upload struct {
		Key       string `xml:"Key"`
		UploadID  string `xml:"UploadId"`
		Initiated string `xml:"Initiated"`
	}
	res := struct {
		XMLName     xml.Name `xml:"ListMultipartUploadsResult"`
		Xmlns       string   `xml:"xmlns,attr"`
		Bucket      string   `xml:"Bucket"`
		Prefix      string   `xml:"Prefix"`
		MaxUploads  int      `xml:"MaxUploads"`
		IsTruncated bool     `xml:"IsTruncated"`
		Uploads     []upload `xml:"Upload"`
	}{Xmlns: s3ns, Bucket: s.cfg.Bucket, Prefix: prefix, MaxUploads: 1000}
	for _, u := range s.allUploads() {
		if strings.HasPrefix(u.info.Key, prefix) {
			res.Uploads = append(res.Uploads, upload{Key: u.info.Key, UploadID: u.id, Initiated: u.info.Initiated.Format(time.RFC3339)})
		}
	}
	sort.Slice(res.Uploads, func(i, j int) bool { return res.Uploads[i].Key < res.Uploads[j].Key })
	writeXML(w, http.StatusOK, res)
}

type knownUpload struct {
	id   string
	info uploadInfo
}

// readUpload reads the record of upload id.
func (s *Server) readUpload(id string) (uploadInfo, error) {
	var info uploadInfo
	b, err := os.ReadFile(filepath.Join(s.uploadDir(id), "upload.json"))
	if err == nil {
		err = json.Unmarshal(b, &info)
	}
	return info, err
}

func (s *Server) allUploads() []knownUpload {
	entries, _ := os.ReadDir(filepath.Join(s.cfg.Dir, "s3multipart"))
	var out []knownUpload
	for _, e := range entries {
		if info, err := s.readUpload(e.Name()); err == nil {
			out = append(out, knownUpload{id: e.Name(), info: info})
		}
	}
	return out
}

// dropStaleUploads removes uploads started more than MultipartMaxAge ago
// (and folders that hold no upload record).
func (s *Server) dropStaleUploads() {
	entries, err := os.ReadDir(filepath.Join(s.cfg.Dir, "s3multipart"))
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	cutoff := s.cfg.Now().Add(-MultipartMaxAge)
	for _, e := range entries {
		if info, err := s.readUpload(e.Name()); err != nil || info.Initiated.Before(cutoff) {
			os.RemoveAll(s.uploadDir(e.Name()))
		}
	}
}
