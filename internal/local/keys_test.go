package local

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/scenedex/scenedex/internal/s3blob"
)

// Keys no file can hold (a NUL, bytes that are not UTF-8, "." or ".." parts)
// are refused 400 through the server's own front door (issue 16: a NUL key
// answered 500, unlogged, and left a staging file of the body's size per try;
// a ".." key answered 307 to another key), before anything is staged, and
// the refusal is logged. Staging files a killed server left are removed at
// start. The real S3 SDK against the real server.
func TestInvalidKeysRefusedBeforeStaging(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	// What a killed server was writing.
	for _, f := range []string{filepath.Join(data, Bucket, "uploads", ".s3partial-0123"), filepath.Join(data, "s3staging", "put-1")} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	logs := &lockedBuffer{}
	app, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", Data: data, Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	if left := staging(t, data); len(left) > 0 {
		t.Fatalf("left from before the start: %v", left)
	}
	ctx := context.Background()
	client := s3blob.LocalClient(app.URL, app.S3.AccessKey, app.S3.Secret, func(o *s3.Options) { o.RetryMaxAttempts = 1 })
	body := strings.Repeat("x", 1<<20)
	for _, key := range []string{"uploads/a\x00b.mp4", "uploads/bad-\xff.mp4", "uploads/../secret.mp4", "uploads/./a.mp4", "uploads/x/../../b.mp4"} {
		_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(Bucket), Key: aws.String(key), Body: strings.NewReader(body)})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidArgument" {
			t.Errorf("put %q: %v; want 400 InvalidArgument", key, err)
		}
		_, err = client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(Bucket), Key: aws.String(key)})
		if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidArgument" {
			t.Errorf("get %q: %v; want 400 InvalidArgument", key, err)
		}
	}
	if left := staging(t, data); len(left) > 0 {
		t.Errorf("staging files left: %v", left)
	}
	if n := strings.Count(logs.String(), "invalid key"); n < 10 {
		t.Errorf("%d refusals logged, want 10:\n%s", n, logs)
	}
}

// staging lists the temporary files of uploads under data.
func staging(t *testing.T, data string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(data, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasPrefix(d.Name(), ".s3partial-") || filepath.Base(filepath.Dir(p)) == "s3staging") {
			out = append(out, p)
		}
		return nil
	})
	return out
}
