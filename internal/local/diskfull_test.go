package local

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/scenedex/scenedex/client"
	"github.com/scenedex/scenedex/internal/pipeline"
	"github.com/scenedex/scenedex/internal/s3blob"
	"github.com/scenedex/scenedex/internal/scenedex"
)

// A full disk answers the documented codes (issue 16: 500 for both, and
// unlogged): a presigned PUT 507 InsufficientStorage, POST /v1/videos 503
// unavailable naming the cause; both logged; and once space is freed the
// same upload goes through. The data folder is a real 32 MiB tmpfs filled to
// the last byte (mounting it needs root: the test says so and skips
// otherwise).
func TestDiskFull(t *testing.T) {
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	logs := &lockedBuffer{}
	app, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", Data: filepath.Join(mnt, "data"), Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	ctx := context.Background()
	c := client.New(app.URL)
	body := bytes.Repeat([]byte("v"), 2<<20)
	created, err := c.CreateVideo(ctx, pipeline.UploadRequest{Filename: "a.mp4", Size: int64(len(body))})
	if err != nil {
		t.Fatal(err)
	}
	filler := fill(t, mnt)

	put := func() (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPut, created.Upload.URL, bytes.NewReader(body))
		for k, v := range created.Upload.Headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, answer := put(); status != http.StatusInsufficientStorage || !strings.Contains(answer, "InsufficientStorage") {
		t.Errorf("PUT on a full disk: %d %s; want 507 InsufficientStorage", status, answer)
	}
	_, err = c.CreateVideo(ctx, pipeline.UploadRequest{Filename: "b.mp4", Size: 10})
	if code := apiCode(err); code != scenedex.CodeUnavailable || !strings.Contains(err.Error(), "no space left") {
		t.Errorf("POST /v1/videos on a full disk: %v; want 503 unavailable naming the full disk", err)
	}
	// A pipeline step storing a file (a chunk's frames) keeps the cause, so
	// the FAILED reason it ends in says the disk is full.
	blobs := s3blob.New(s3blob.LocalClient(app.URL, app.S3.AccessKey, app.S3.Secret), Bucket)
	err = blobs.Put(ctx, "chunks/v/0/frame.jpg", bytes.NewReader(body), "image/jpeg")
	if scenedex.ErrorCode(err) != scenedex.CodeUnavailable || !strings.Contains(scenedex.Message(err), "no space left") {
		t.Errorf("storing a chunk file on a full disk: %q (%v); want unavailable naming the full disk", scenedex.Message(err), err)
	}
	if l := logs.String(); !strings.Contains(l, "disk full") || !strings.Contains(l, "no space left") {
		t.Errorf("the full disk is not logged:\n%s", l)
	}
	if left := staging(t, filepath.Join(mnt, "data")); len(left) > 0 {
		t.Errorf("staging files left: %v", left)
	}

	// Room for the staged body but not for the object beside it: the
	// emulator's write is the one that fails.
	st, err := os.Stat(filler)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filler, st.Size()-int64(len(body))-(512<<10)); err != nil {
		t.Fatal(err)
	}
	if status, answer := put(); status != http.StatusInsufficientStorage || !strings.Contains(answer, "InsufficientStorage") {
		t.Errorf("PUT with room to stage only: %d %s; want 507 InsufficientStorage", status, answer)
	}

	os.Remove(filler)
	if status, answer := put(); status != http.StatusOK {
		t.Errorf("PUT after space was freed: %d %s", status, answer)
	}
}

// fill writes a file into dir until the disk is full and returns its path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			t.Fatal(err)
		}
	}
	for n := 4096; n > 0; n /= 2 { // the last partial blocks
		for {
			if _, err := f.Write(chunk[:n]); err != nil {
				break
			}
		}
	}
	return path
}
