package s3local

import (
	"encoding/base64"
	"encoding/xml"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// listing reports whether r lists the bucket (ListObjects or ListObjectsV2):
// a GET of the bucket with no sub-resource but the listing parameters.
func (s *Server) listing(r *http.Request) bool {
	if r.Method != http.MethodGet || (r.URL.Path != "/"+s.cfg.Bucket && r.URL.Path != "/"+s.cfg.Bucket+"/") {
		return false
	}
	for k := range r.URL.Query() {
		switch k {
		case "list-type", "prefix", "delimiter", "max-keys", "marker", "encoding-type", "start-after", "continuation-token", "fetch-owner", "x-id":
		default:
			return false // ?uploads, ?location, ?versioning, ...: the emulator's
		}
	}
	return true
}

type listEntry struct {
	Key          string `xml:"Key"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
	StorageClass string `xml:"StorageClass"`
}

type commonPrefix struct {
	Prefix string `xml:"Prefix"`
}

type listResult struct {
	XMLName               xml.Name       `xml:"ListBucketResult"`
	Xmlns                 string         `xml:"xmlns,attr"`
	Name                  string         `xml:"Name"`
	Prefix                string         `xml:"Prefix"`
	Marker                *string        `xml:"Marker,omitempty"`
	NextMarker            string         `xml:"NextMarker,omitempty"`
	StartAfter            string         `xml:"StartAfter,omitempty"`
	ContinuationToken     string         `xml:"ContinuationToken,omitempty"`
	NextContinuationToken string         `xml:"NextContinuationToken,omitempty"`
	KeyCount              *int           `xml:"KeyCount,omitempty"`
	MaxKeys               int            `xml:"MaxKeys"`
	Delimiter             string         `xml:"Delimiter,omitempty"`
	EncodingType          string         `xml:"EncodingType,omitempty"`
	IsTruncated           bool           `xml:"IsTruncated"`
	Contents              []listEntry    `xml:"Contents"`
	CommonPrefixes        []commonPrefix `xml:"CommonPrefixes"`
}

// list answers ListObjects and ListObjectsV2 as S3 documents them: keys in
// byte order, prefix and delimiter (common prefixes), max-keys (at most
// 1,000), marker / start-after / continuation-token, encoding-type=url. A
// prefix with nothing under it is an empty listing, not an error.
func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	v2 := q.Get("list-type") == "2"
	prefix, delim := q.Get("prefix"), q.Get("delimiter")
	maxKeys := 1000
	if m := q.Get("max-keys"); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "InvalidArgument", "max-keys must be a non-negative integer")
			return
		}
		maxKeys = min(n, 1000)
	}
	after := q.Get("marker")
	if v2 {
		after = q.Get("start-after")
		if tok := q.Get("continuation-token"); tok != "" {
			b, err := base64.RawURLEncoding.DecodeString(tok)
			if err != nil {
				writeError(w, http.StatusBadRequest, "InvalidArgument", "the continuation token is not one this endpoint gave")
				return
			}
			after = string(b)
		}
	}
	keys, err := s.keysUnder(prefix)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "InternalError", err.Error())
		return
	}
	res := listResult{Xmlns: "http://s3.amazonaws.com/doc/2006-03-01/", Name: s.cfg.Bucket, Prefix: prefix, MaxKeys: maxKeys, Delimiter: delim}
	enc := func(s string) string { return s }
	if q.Get("encoding-type") == "url" {
		res.EncodingType = "url"
		enc = func(s string) string {
			return strings.ReplaceAll(strings.ReplaceAll(url.QueryEscape(s), "+", "%20"), "%2F", "/")
		}
	}
	res.Prefix, res.Delimiter = enc(prefix), enc(delim)
	seenPrefix := map[string]bool{}
	last := ""
	count := 0
	for _, k := range keys {
		if k <= after || !strings.HasPrefix(k, prefix) {
			continue
		}
		entry := k
		isPrefix := false
		if delim != "" {
			if i := strings.Index(k[len(prefix):], delim); i >= 0 {
				entry, isPrefix = k[:len(prefix)+i+len(delim)], true
				if seenPrefix[entry] || entry <= after {
					continue
				}
			}
		}
		if count == maxKeys {
			res.IsTruncated = true
			break
		}
		count++
		last = entry
		if isPrefix {
			seenPrefix[entry] = true
			res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: enc(entry)})
			continue
		}
		obj, err := s.backend.HeadObject(s.cfg.Bucket, k)
		if err != nil {
			count--
			continue // gone meanwhile
		}
		st, _ := os.Stat(filepath.Join(s.ObjectsDir(), filepath.FromSlash(k)))
		mod := time.Now()
		if st != nil {
			mod = st.ModTime()
		}
		res.Contents = append(res.Contents, listEntry{Key: enc(k), LastModified: mod.UTC().Format("2006-01-02T15:04:05.000Z"),
			ETag: `"` + hexString(obj.Hash) + `"`, Size: obj.Size, StorageClass: "STANDARD"})
	}
	if v2 {
		res.KeyCount = &count
		res.StartAfter = enc(q.Get("start-after"))
		res.ContinuationToken = q.Get("continuation-token")
		if res.IsTruncated {
			// A prefix entry resumes after every key under it.
			res.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(resumeAfter(last, delim)))
		}
	} else {
		m := q.Get("marker")
		res.Marker = &m
		if res.IsTruncated {
			res.NextMarker = enc(resumeAfter(last, delim))
		}
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(xml.Header))
	xml.NewEncoder(w).Encode(res)
}

// resumeAfter is where the next page starts: after a common prefix, past
// every key it stands for.
func resumeAfter(last, delim string) string {
	if delim != "" && strings.HasSuffix(last, delim) {
		return last + "\U0010FFFF"
	}
	return last
}

// keysUnder lists the object keys under the folder part of prefix, in byte
// order (only that subtree is walked).
func (s *Server) keysUnder(prefix string) ([]string, error) {
	root := s.ObjectsDir()
	dir := path.Dir(prefix + "x") // the folder the prefix's last segment is in
	start := root
	if dir != "." {
		start = filepath.Join(root, filepath.FromSlash(dir))
	}
	var keys []string
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return filepath.SkipAll
			}
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), partialPrefix) {
			return nil // a folder, or an object still being written
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		keys = append(keys, filepath.ToSlash(rel))
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	sort.Strings(keys)
	return keys, nil
}
