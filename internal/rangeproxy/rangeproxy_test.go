package rangeproxy

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A real upstream (net/http's ServeContent: ranges, HEAD, validators) behind
// the proxy, read by a real client.
func TestProxy(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789"), 1000)
	var sawQuery string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawQuery = r.URL.RawQuery
		if r.Header.Get("Accept-Encoding") == "gzip" {
			t.Error("the proxy asked for gzip: ranges would not be byte ranges")
		}
		http.ServeContent(w, r, "v.mp4", time.Unix(0, 0), bytes.NewReader(content))
	}))
	defer up.Close()
	p, err := Start(up.URL+"/uploads/ads/my%20clip.mp4?X-Amz-Signature=abc&X-Amz-Expires=60", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if !strings.HasPrefix(p.URL, "http://127.0.0.1:") || !strings.HasSuffix(p.URL, "/my%20clip.mp4") {
		t.Fatalf("local URL %s", p.URL)
	}
	cases := []struct {
		method, rng string
		status      int
		body        string
		header      map[string]string
	}{
		{"GET", "", 200, string(content), map[string]string{"Content-Length": "10000", "Accept-Ranges": "bytes"}},
		{"GET", "bytes=5-14", 206, "5678901234", map[string]string{"Content-Range": "bytes 5-14/10000", "Content-Length": "10"}},
		{"GET", "bytes=9995-", 206, "56789", nil},
		{"GET", "bytes=20000-", 416, "", nil},
		{"HEAD", "", 200, "", map[string]string{"Content-Length": "10000"}},
		{"POST", "", 405, "", nil},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, p.URL, nil)
		if c.rng != "" {
			req.Header.Set("Range", c.rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || (c.status < 300 && string(body) != c.body) {
			t.Errorf("%s %s: %d %q", c.method, c.rng, resp.StatusCode, trim(body))
		}
		for k, v := range c.header {
			if resp.Header.Get(k) != v {
				t.Errorf("%s %s: %s = %q, want %q", c.method, c.rng, k, resp.Header.Get(k), v)
			}
		}
	}
	if sawQuery != "X-Amz-Signature=abc&X-Amz-Expires=60" {
		t.Errorf("the presigned query reached upstream as %q", sawQuery)
	}
}

// An unreachable upstream is a 502 (ffmpeg: "Server returned 5XX", which
// scenedex retries) whose text carries no credentials.
func TestUpstreamDown(t *testing.T) {
	up := httptest.NewServer(http.NotFoundHandler())
	url := up.URL + "/v.mp4?X-Amz-Signature=secret"
	up.Close()
	p, err := Start(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	resp, err := http.Get(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 502 || strings.Contains(string(body), "secret") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func TestRefusesNonHTTP(t *testing.T) {
	for _, u := range []string{"file:///etc/passwd", "/tmp/v.mp4", "::"} {
		if p, err := Start(u, nil); err == nil {
			p.Close()
			t.Errorf("%q accepted", u)
		}
	}
}

func trim(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}
