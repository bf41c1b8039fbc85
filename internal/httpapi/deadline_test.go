package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/scenedex/scenedex/internal/scenedex"
)

// A handler stuck on a dependency that ignores its context (here a channel
// nobody sends on: the stand-in for a lock that is never released) is
// answered 503 in plain JSON when the deadline passes; a handler that
// answers in time is passed through unchanged. Real HTTP on 127.0.0.1.
func TestWithDeadline(t *testing.T) {
	hung := make(chan struct{})
	defer close(hung)
	mux := http.NewServeMux()
	mux.HandleFunc("/hung", func(w http.ResponseWriter, r *http.Request) {
		<-hung
		WriteJSON(w, http.StatusOK, "late")
	})
	mux.HandleFunc("/ctx", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		WriteError(w, scenedex.Wrap(scenedex.CodeInternal, r.Context().Err(), "gave up"))
	})
	mux.HandleFunc("/fine", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Check", "yes")
		WriteJSON(w, http.StatusCreated, map[string]string{"ok": "yes"})
	})
	srv := httptest.NewServer(WithDeadline(200*time.Millisecond, nil, mux))
	defer srv.Close()

	for _, tc := range []struct {
		path   string
		status int
		code   scenedex.Code
	}{
		{"/hung", http.StatusServiceUnavailable, scenedex.CodeUnavailable},
		{"/ctx", http.StatusServiceUnavailable, scenedex.CodeUnavailable},
		{"/fine", http.StatusCreated, ""},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if tc.code == "" {
				if resp.Header.Get("X-Check") != "yes" || string(body) != "{\n  \"ok\": \"yes\"\n}\n" {
					t.Errorf("answer changed on the way: %v %q", resp.Header, body)
				}
				return
			}
			var e ErrorBody
			if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != tc.code || e.Error.Message == "" {
				t.Errorf("body %s (%v), want code %s with a message", body, err, tc.code)
			}
		})
	}
}
