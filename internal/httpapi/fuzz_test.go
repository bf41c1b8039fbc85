package httpapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/scenedex/scenedex/internal/pipeline"
	"github.com/scenedex/scenedex/internal/scenedex"
)

// FuzzDecode feeds arbitrary bodies and content types to the request decoding
// every JSON route goes through, for each body type the API takes. A body is
// either taken (then it was one JSON object and nothing after it) or refused
// with a 400 or 413 in the API's error shape; nothing else, and never a panic.
// The seed corpus is testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Add(`{"text":"a red car","k":5}`, "application/json")
	f.Add(`{"filename":"a.mp4","size":10,"collection":"c","metadata":{"k":"v"}}`, "")
	f.Add(`{"like":{"video_id":"x","t":1.5}} {}`, "application/json; charset=utf-8")
	f.Add(`{"image":"!!notbase64"}`, "application/json")
	f.Add(`{"concepts":[{"text":"dog"}],"k":1e400}`, "application/json")
	f.Add(`[1,2,3]`, "text/plain")
	f.Add(`{"parts":[{"number":1,"etag":"\"x\""}],"unknown":1}`, "application/json")
	f.Fuzz(func(t *testing.T, body, contentType string) {
		a := &API{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		for _, into := range []func() any{
			func() any { return &scenedex.Query{} },
			func() any { return &pipeline.UploadRequest{} },
			func() any { return &pipeline.CompleteRequest{} },
			func() any { return &pipeline.SignPartsRequest{} },
			func() any { return &pipeline.ConceptsRequest{} },
			func() any { return &pipeline.ReindexRequest{} },
		} {
			r := httptest.NewRequest(http.MethodPost, "/v1/search", strings.NewReader(body))
			if contentType != "" {
				r.Header.Set("Content-Type", contentType)
			}
			w := httptest.NewRecorder()
			v := into()
			if a.decode(w, r, v) {
				if w.Body.Len() != 0 {
					t.Fatalf("a taken body wrote a response: %q", w.Body.String())
				}
				if !json.Valid([]byte(strings.TrimSpace(body))) {
					t.Fatalf("took %q (%T), which is not one JSON value", body, v)
				}
				if _, err := json.Marshal(v); err != nil {
					t.Fatalf("took %q into %T, which does not encode again: %v", body, v, err)
				}
				continue
			}
			if w.Code != http.StatusBadRequest && w.Code != http.StatusRequestEntityTooLarge {
				t.Fatalf("refused %q with %d, want 400 or 413", body, w.Code)
			}
			var eb ErrorBody
			if err := json.Unmarshal(w.Body.Bytes(), &eb); err != nil || eb.Error.Message == "" || eb.Error.Code == scenedex.CodeInternal {
				t.Fatalf("refusal of %q is not an error body with a message: %q (%v)", body, w.Body.String(), err)
			}
		}
	})
}
