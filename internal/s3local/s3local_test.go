package s3local

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scenedex/scenedex/internal/s3blob"
	"github.com/scenedex/scenedex/internal/scenedex"
)

type events struct {
	mu  sync.Mutex
	got []scenedex.ObjectCreated
}

func (e *events) add(_ context.Context, ev scenedex.ObjectCreated) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, ev)
	return nil
}

func (e *events) list() []scenedex.ObjectCreated {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]scenedex.ObjectCreated(nil), e.got...)
}

type env struct {
	srv   *Server
	http  *httptest.Server
	store *s3blob.Store
	ev    *events
	clock *time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	now := time.Now()
	e := &env{ev: &events{}, clock: &now}
	srv, err := New(Config{Dir: t.TempDir(), Bucket: "scenedex", OnCreated: e.ev.add, Now: func() time.Time { return *e.clock }})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	e.http = httptest.NewServer(srv)
	t.Cleanup(e.http.Close)
	e.store = s3blob.New(s3blob.LocalClient(e.http.URL, srv.AccessKey, srv.Secret), "scenedex")
	return e
}

func TestSDKRoundTripAndEvents(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	keys := []string{"uploads/ads/id1/my clip ü+%.mp4", "chunks/id1/0000/clip.mp4"}
	for _, k := range keys {
		if err := e.store.Put(ctx, k, bytes.NewReader([]byte("hello "+k)), "video/mp4"); err != nil {
			t.Fatalf("put %q: %v", k, err)
		}
	}
	for _, k := range keys {
		rc, err := e.store.Get(ctx, k)
		if err != nil {
			t.Fatalf("get %q: %v", k, err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if string(b) != "hello "+k {
			t.Errorf("get %q = %q", k, b)
		}
	}
	got := e.ev.list()
	if len(got) != 1 || got[0].Key != keys[0] || got[0].Size != int64(len("hello "+keys[0])) || got[0].ETag == "" {
		t.Fatalf("events = %+v, want one for %q", got, keys[0])
	}
	if _, err := e.store.Head(ctx, "uploads/none"); scenedex.ErrorCode(err) != scenedex.CodeNotFound {
		t.Fatalf("head missing: %v", err)
	}
	if err := e.store.DeletePrefix(ctx, "chunks/id1/"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Head(ctx, keys[1]); scenedex.ErrorCode(err) != scenedex.CodeNotFound {
		t.Fatalf("after delete prefix: %v", err)
	}
	// Wrong secret: refused.
	bad := s3blob.New(s3blob.LocalClient(e.http.URL, e.srv.AccessKey, "wrong"), "scenedex")
	if err := bad.Put(ctx, "uploads/x", bytes.NewReader([]byte("x")), ""); err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Fatalf("wrong secret: %v", err)
	}
}

func TestPresignedURLs(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	body := []byte("0123456789abcdef")
	key := "uploads/default/vid/clip ü.mp4"
	url, err := e.store.PresignPut(ctx, key, int64(len(body)), "video/mp4", 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	put := func(u string, b []byte, ct string) int {
		req, _ := http.NewRequest(http.MethodPut, u, bytes.NewReader(b))
		req.Header.Set("Content-Type", ct)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tests := []struct {
		name string
		url  string
		body []byte
		ct   string
		want int
	}{
		{"other length", url, body[:5], "video/mp4", 403},
		{"tampered key", strings.Replace(url, "vid", "viX", 1), body, "video/mp4", 403},
		{"tampered signature", url[:len(url)-2] + "00", body, "video/mp4", 403},
		{"other content type", url, body, "text/plain", 403},
		{"no signature", strings.Split(url, "?")[0], body, "video/mp4", 403},
		{"good", url, body, "video/mp4", 200},
	}
	for _, tc := range tests {
		if got := put(tc.url, tc.body, tc.ct); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}
	if ev := e.ev.list(); len(ev) != 1 || ev[0].Key != key || ev[0].Size != int64(len(body)) {
		t.Fatalf("events = %+v", ev)
	}
	get, err := e.store.PresignGet(ctx, key, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, get, nil)
	req.Header.Set("Range", "bytes=4-7")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || string(b) != "4567" {
		t.Fatalf("ranged get: %d %q", resp.StatusCode, b)
	}
	// Expired: the server's clock moves past the URL's expiry.
	*e.clock = e.clock.Add(2 * time.Minute)
	resp, err = http.Get(get)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(b), "expired") {
		t.Fatalf("expired get: %d %s", resp.StatusCode, b)
	}
}

func TestDropIns(t *testing.T) {
	e := newEnv(t)
	dir := filepath.Join(e.srv.ObjectsDir(), "uploads", "talks", "week 1")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "lecture é.mp4"), []byte("data"), 0o644)
	if got, _ := e.srv.DropIns(time.Second); len(got) != 0 {
		t.Fatalf("a file still settling was listed: %+v", got)
	}
	*e.clock = e.clock.Add(5 * time.Second)
	got, err := e.srv.DropIns(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Key != "uploads/talks/week 1/lecture é.mp4" || got[0].Size != 4 {
		t.Fatalf("drop-ins = %+v", got)
	}
	// And the endpoint serves it as an object.
	rc, err := e.store.Get(context.Background(), got[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
}
