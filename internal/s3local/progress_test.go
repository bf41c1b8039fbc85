package s3local

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scenedex/scenedex/internal/s3blob"
)

// An upload that stops sending (a client gone quiet mid-body) is given up
// after the idle time without a byte, instead of holding its connection and
// its staging file for ever (issue 16: every request needs a bound; a big
// body cannot have a flat one). Nothing is stored and no staging file stays.
// An upload that keeps moving is not cut, and the connection serves the next
// request normally. Real HTTP on 127.0.0.1.
func TestStalledUploadGivenUp(t *testing.T) {
	now := time.Now()
	dir := t.TempDir()
	srv, err := New(Config{Dir: dir, Bucket: "scenedex", Now: func() time.Time { return now }, Idle: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	store := s3blob.New(s3blob.LocalClient(ts.URL, srv.AccessKey, srv.Secret), "scenedex")
	url, err := store.PresignPut(context.Background(), "docs/stalled.bin", 1<<20, "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	path := strings.TrimPrefix(url, ts.URL)
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\nonly a few bytes", path, strings.TrimPrefix(ts.URL, "http://"), 1<<20)
	// The client sends nothing more. The server must answer or close: the
	// test's own bound (a minute) only keeps a regression from hanging.
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("a stalled upload answered %d", resp.StatusCode)
		}
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server still waits on a stalled upload after a minute")
	}
	if _, err := store.Head(context.Background(), "docs/stalled.bin"); err == nil {
		t.Error("a stalled upload was stored")
	}
	if left, _ := os.ReadDir(srv.stageDir); len(left) > 0 {
		t.Errorf("staging files left: %d", len(left))
	}

	// A whole upload through the real SDK, on a reused connection, works.
	client := s3blob.LocalClient(ts.URL, srv.AccessKey, srv.Secret)
	for i := range 2 {
		if _, err := client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("scenedex"),
			Key: aws.String(fmt.Sprintf("docs/ok%d", i)), Body: strings.NewReader("fine")}); err != nil {
			t.Fatal(err)
		}
	}
}
