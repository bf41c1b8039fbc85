package s3local

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"strings"

	"github.com/scenedex/scenedex/internal/scenedex"
)

// deleting returns, for a request that deletes objects (DeleteObject, or
// DeleteObjects' POST ?delete), the keys under uploads/ it names that exist
// now — their deletion is an event; nil for any other request, or one that
// deletes none of them. A multi-object delete's body is read here (and
// handed on) to learn its keys.
func (s *Server) deleting(r *http.Request) []string {
	if s.cfg.OnDeleted == nil {
		return nil
	}
	q := r.URL.Query()
	var keys []string
	switch {
	case r.Method == http.MethodDelete && !q.Has("uploadId"):
		key, ok := s.objectKey(r)
		if !ok {
			return nil
		}
		keys = []string{key}
	case r.Method == http.MethodPost && q.Has("delete") && strings.TrimSuffix(r.URL.Path, "/") == "/"+s.cfg.Bucket:
		body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20)) // 1,000 keys of 1 KiB, and the XML around them
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err != nil {
			return nil
		}
		var req struct {
			Objects []struct {
				Key string `xml:"Key"`
			} `xml:"Object"`
		}
		if xml.Unmarshal(body, &req) != nil {
			return nil // the emulator answers MalformedXML
		}
		for _, o := range req.Objects {
			keys = append(keys, o.Key)
		}
	default:
		return nil
	}
	var doomed []string
	for _, k := range keys {
		if !strings.HasPrefix(k, scenedex.UploadsPrefix) {
			continue
		}
		if _, err := s.backend.HeadObject(s.cfg.Bucket, k); err == nil {
			doomed = append(doomed, k)
		}
	}
	return doomed
}

// deleteObjects serves a delete and then emits Object Deleted for each of
// doomed that is gone, before the client hears the answer.
func (s *Server) deleteObjects(w http.ResponseWriter, r *http.Request, doomed []string) {
	buf := &bufferedWriter{header: http.Header{}}
	s.fake.ServeHTTP(buf, r)
	if buf.status == 0 {
		buf.status = http.StatusOK
	}
	if buf.status < 300 {
		for _, key := range doomed {
			if _, err := s.backend.HeadObject(s.cfg.Bucket, key); err == nil {
				continue // still there: this one was not deleted
			}
			if err := s.cfg.OnDeleted(r.Context(), scenedex.ObjectDeleted{Bucket: s.cfg.Bucket, Key: key}); err != nil {
				s.cfg.Log.Error("object deleted event not recorded", "key", key, "err", err)
				writeError(w, http.StatusInternalServerError, "InternalError", "object deleted but its event was not recorded; retry the delete")
				return
			}
		}
	}
	buf.flush(w)
}
