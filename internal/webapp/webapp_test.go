package webapp

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler(Config{API: "https://api.example"}))
	defer srv.Close()
	for _, tc := range []struct {
		method, path string
		status       int
		ctype, body  string
	}{
		{"GET", "/", 200, "text/html", `<script type="module" src="/_app/app.js">`},
		{"GET", "/_app/app.js", 200, "text/javascript", `import * as L from "./logic.js"`},
		{"GET", "/_app/logic.js", 200, "text/javascript", "export function fmtTime"},
		{"GET", "/_app/style.css", 200, "text/css", ":root"},
		{"GET", "/_app/config.json", 200, "application/json", `{"api":"https://api.example"}`},
		{"GET", "/_app/", 404, "", ""},
		{"GET", "/_app/logic.test.mjs", 404, "", ""}, // tests are not embedded
		{"GET", "/_app/../webapp.go", 404, "", ""},
		{"POST", "/", 405, "", ""},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status != 200 {
				return
			}
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) || !strings.Contains(string(b), tc.body) {
				t.Errorf("%s: %q", resp.Header.Get("Content-Type"), b[:min(len(b), 200)])
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("CSP %q", csp)
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no nosniff")
			}
		})
	}
}

func TestIsPage(t *testing.T) {
	for _, tc := range []struct {
		method, target string
		auth           string
		want           bool
	}{
		{"GET", "/", "", true},
		{"HEAD", "/", "", true},
		{"GET", "/index.html", "", true},
		{"GET", "/", "AWS4-HMAC-SHA256 Credential=...", false}, // S3 ListBuckets
		{"GET", "/?X-Amz-Signature=abc", "", false},            // presigned ListBuckets
		{"GET", "/scenedex/uploads/a.mp4", "", false},          // an object
		{"PUT", "/", "", false},
	} {
		r := httptest.NewRequest(tc.method, tc.target, nil)
		if tc.auth != "" {
			r.Header.Set("Authorization", tc.auth)
		}
		if got := IsPage(r); got != tc.want {
			t.Errorf("%s %s auth=%q: %v, want %v", tc.method, tc.target, tc.auth, got, tc.want)
		}
	}
}
