package local

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scenedex/scenedex/client"
	"github.com/scenedex/scenedex/internal/pipeline"
)

// The local server answers only to its own names and refuses changes a web
// page of another site makes a browser send (issue 16: a DELETE with
// Host: attacker.example answered 204). Real server, real HTTP.
func TestOnlyOwnOrigin(t *testing.T) {
	app, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", Data: filepath.Join(t.TempDir(), "data"), Hosts: []string{"scenedex.lan"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	ctx := context.Background()
	created, err := client.New(app.URL).CreateVideo(ctx, pipeline.UploadRequest{Filename: "a.mp4", Size: 10})
	if err != nil {
		t.Fatal(err)
	}
	id := created.Video.ID
	port := strings.TrimPrefix(app.URL, "http://127.0.0.1:")
	do := func(method, path, host string, header map[string]string) int {
		t.Helper()
		req, _ := http.NewRequest(method, app.URL+path, nil)
		req.Host = host
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name, method, path, host string
		header                   map[string]string
		want                     int
	}{
		{"rebound name deletes", "DELETE", "/v1/videos/" + id, "attacker.example:" + port, nil, 403},
		{"rebound name reads", "GET", "/v1/videos/" + id, "attacker.example:" + port, nil, 403},
		{"rebound name reads the bucket", "GET", "/scenedex/" + created.Video.Key, "attacker.example:" + port, nil, 403},
		{"rebound name opens the app", "GET", "/", "attacker.example:" + port, map[string]string{"Accept": "text/html"}, 403},
		{"another site's page deletes", "DELETE", "/v1/videos/" + id, "127.0.0.1:" + port,
			map[string]string{"Origin": "https://attacker.example", "Sec-Fetch-Site": "cross-site"}, 403},
		{"another site's form posts", "POST", "/v1/videos/" + id + "/reprocess", "127.0.0.1:" + port, map[string]string{"Origin": "null"}, 403},
		{"--host name reads", "GET", "/v1/videos/" + id, "scenedex.lan:" + port, nil, 200},
		{"localhost reads", "GET", "/v1/videos/" + id, "localhost:" + port, nil, 200},
	} {
		if got := do(tc.method, tc.path, tc.host, tc.header); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	if v, err := app.Catalog.Get(ctx, id); err != nil || v.ID != id {
		t.Fatalf("the video went: %v", err)
	}
	// The web app's own call (same origin) deletes.
	if got := do("DELETE", "/v1/videos/"+id, "127.0.0.1:"+port, map[string]string{"Origin": app.URL, "Sec-Fetch-Site": "same-origin"}); got != 204 {
		t.Fatalf("own page's delete: %d", got)
	}
}

// The in-process model server has no port: it listens on a unix socket in a
// folder only this user can open.
func TestModelServerOnPrivateSocket(t *testing.T) {
	app, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", Data: filepath.Join(t.TempDir(), "data")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	st, err := os.Stat(app.ModelSocket)
	if err != nil || st.Mode().Type() != os.ModeSocket {
		t.Fatalf("model server socket %q: %v %v", app.ModelSocket, st, err)
	}
	dir, err := os.Stat(filepath.Dir(app.ModelSocket))
	if err != nil || dir.Mode().Perm() != 0o700 {
		t.Fatalf("socket folder: %v %v", dir.Mode(), err)
	}
	tr := &http.Transport{Dial: func(_, _ string) (net.Conn, error) { return net.Dial("unix", app.ModelSocket) }}
	resp, err := (&http.Client{Transport: tr}).Get("http://model/ping")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("ping over the socket: %v", err)
	}
	resp.Body.Close()
}

// Tokens: at least 16 characters without spaces; the Bearer scheme in any
// case (RFC 9110 section 11.1).
func TestTokenRules(t *testing.T) {
	dir := t.TempDir()
	for _, bad := range []string{"s3cret", strings.Repeat(" ", 20), "sixteen chars ok", "0123456789abcde"} {
		if app, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", Data: filepath.Join(dir, "bad"), Token: bad}); err == nil {
			app.Close()
			t.Errorf("token %q taken", bad)
		}
	}
	const token = "0123456789abcdef"
	app, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", Data: filepath.Join(dir, "good"), Token: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	for _, tc := range []struct {
		auth string
		want int
	}{
		{"Bearer " + token, 200},
		{"bearer " + token, 200},
		{"BEARER " + token, 200},
		{"Basic " + token, 401},
		{"Bearer " + token + "x", 401},
		{token, 401},
	} {
		req, _ := http.NewRequest("GET", app.URL+"/v1/videos", nil)
		req.Header.Set("Authorization", tc.auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("Authorization %q: %d, want %d", tc.auth, resp.StatusCode, tc.want)
		}
	}
}
