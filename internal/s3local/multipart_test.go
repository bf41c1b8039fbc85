package s3local

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/scenedex/scenedex/internal/s3blob"
)

func apiErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// Multipart uploads through the real SDK: parts are files on disk (not
// memory), an upload survives a restart of the endpoint, Complete checks the
// parts as S3 does and stores nothing when it refuses, ListParts and
// ListMultipartUploads answer, Abort removes the parts.
func TestMultipartOnDisk(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	client := s3blob.LocalClient(e.http.URL, e.srv.AccessKey, e.srv.Secret)
	bucket, key := aws.String("scenedex"), aws.String("uploads/ads/v1/big.mp4")
	up, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: key,
		ContentType: aws.String("video/mp4"), Metadata: map[string]string{"brand": "acme"}})
	if err != nil {
		t.Fatal(err)
	}
	bodies := [][]byte{bytes.Repeat([]byte("a"), 5<<20), bytes.Repeat([]byte("b"), 5<<20), []byte("tail")}
	etags := map[int32]*string{}
	put := func(c *s3.Client, n int32, body []byte) {
		t.Helper()
		p, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: key, UploadId: up.UploadId, PartNumber: aws.Int32(n), Body: bytes.NewReader(body)})
		if err != nil {
			t.Fatalf("part %d: %v", n, err)
		}
		etags[n] = p.ETag
	}
	put(client, 1, bytes.Repeat([]byte("x"), 5<<20)) // sent again below: the second one counts
	put(client, 1, bodies[0])
	put(client, 2, bodies[1])
	dir := filepath.Join(e.srv.cfg.Dir, "s3multipart", aws.ToString(up.UploadId))
	files, _ := filepath.Glob(filepath.Join(dir, "*.part"))
	if len(files) != 2 {
		t.Fatalf("parts on disk: %v", files)
	}

	// A restart: the same folder, a new endpoint; the upload goes on.
	srv2, err := New(Config{Dir: e.srv.cfg.Dir, Bucket: "scenedex", OnCreated: e.ev.add, Now: e.srv.cfg.Now})
	if err != nil {
		t.Fatal(err)
	}
	h2 := httptest.NewServer(srv2)
	defer h2.Close()
	client = s3blob.LocalClient(h2.URL, srv2.AccessKey, srv2.Secret)
	put(client, 3, bodies[2])

	listed, err := client.ListParts(ctx, &s3.ListPartsInput{Bucket: bucket, Key: key, UploadId: up.UploadId})
	if err != nil || len(listed.Parts) != 3 || aws.ToInt64(listed.Parts[0].Size) != 5<<20 || aws.ToString(listed.Parts[2].ETag) != aws.ToString(etags[3]) {
		t.Fatalf("list parts: %+v %v", listed, err)
	}
	uploads, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: bucket, Prefix: aws.String("uploads/ads/")})
	if err != nil || len(uploads.Uploads) != 1 || aws.ToString(uploads.Uploads[0].UploadId) != aws.ToString(up.UploadId) {
		t.Fatalf("list uploads: %+v %v", uploads, err)
	}

	complete := func(parts ...types.CompletedPart) error {
		_, err := client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: bucket, Key: key, UploadId: up.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
		return err
	}
	part := func(n int32, etag *string) types.CompletedPart {
		return types.CompletedPart{PartNumber: aws.Int32(n), ETag: etag}
	}
	for _, tc := range []struct {
		name  string
		parts []types.CompletedPart
		code  string
	}{
		{"a part never sent", []types.CompletedPart{part(1, etags[1]), part(4, etags[3])}, "InvalidPart"},
		{"the first part's first ETag", []types.CompletedPart{part(1, aws.String(`"0f343b0931126a20f133d67c2b018a3b"`)), part(2, etags[2])}, "InvalidPart"},
		{"out of order", []types.CompletedPart{part(2, etags[2]), part(1, etags[1])}, "InvalidPartOrder"},
		{"a small part not last", []types.CompletedPart{part(1, etags[1]), part(3, etags[3]), part(2, etags[2])}, "EntityTooSmall"},
	} {
		if err := complete(tc.parts...); apiErrorCode(err) != tc.code {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
	if _, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: key}); err == nil || len(e.ev.list()) != 0 {
		t.Fatalf("a refused Complete stored the object (events %v)", e.ev.list())
	}
	if err := complete(part(1, etags[1]), part(2, etags[2]), part(3, etags[3])); err != nil {
		t.Fatal(err)
	}
	got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(got.Body)
	if !bytes.Equal(b, bytes.Join(bodies, nil)) || aws.ToString(got.ContentType) != "video/mp4" || got.Metadata["Brand"]+got.Metadata["brand"] != "acme" || got.LastModified == nil {
		t.Errorf("object: %d bytes, type %q, meta %v, modified %v", len(b), aws.ToString(got.ContentType), got.Metadata, got.LastModified)
	}
	if evs := e.ev.list(); len(evs) != 1 || evs[0].Key != *key || evs[0].Size != int64(len(b)) {
		t.Errorf("events %+v", evs)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the completed upload's parts stay: %v", err)
	}
	if err := complete(part(1, etags[1])); apiErrorCode(err) != "NoSuchUpload" {
		t.Errorf("complete twice: %v", err)
	}
}

func TestMultipartAbortAndRefusals(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	client := s3blob.LocalClient(e.http.URL, e.srv.AccessKey, e.srv.Secret)
	bucket, key := aws.String("scenedex"), aws.String("uploads/ads/v2/small.mp4")
	up, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	var parts []types.CompletedPart
	for n := int32(1); n <= 2; n++ {
		p, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: key, UploadId: up.UploadId, PartNumber: aws.Int32(n), Body: strings.NewReader("tiny")})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(n), ETag: p.ETag})
	}
	_, err = client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: bucket, Key: key, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if apiErrorCode(err) != "EntityTooSmall" {
		t.Errorf("4-byte first part: %v", err)
	}
	// Another key, a made-up id, a bad part number.
	for _, tc := range []struct {
		key, id string
		n       int32
		code    string
	}{
		{"uploads/ads/v2/other.mp4", aws.ToString(up.UploadId), 1, "NoSuchUpload"},
		{*key, "0123456789abcdef0123456789abcdef", 1, "NoSuchUpload"},
		{*key, "../../scenedex", 1, "NoSuchUpload"},
		{*key, aws.ToString(up.UploadId), 10001, "InvalidArgument"},
	} {
		_, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: aws.String(tc.key), UploadId: aws.String(tc.id), PartNumber: aws.Int32(tc.n), Body: strings.NewReader("x")})
		if apiErrorCode(err) != tc.code {
			t.Errorf("part %d of %s to %s: %v, want %s", tc.n, tc.id, tc.key, err, tc.code)
		}
	}
	if _, err := client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: bucket, Key: key, UploadId: up.UploadId}); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(filepath.Join(e.srv.cfg.Dir, "s3multipart")); len(entries) != 0 {
		t.Errorf("abort left %v", entries)
	}
	if _, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: key, UploadId: up.UploadId, PartNumber: aws.Int32(3), Body: strings.NewReader("x")}); apiErrorCode(err) != "NoSuchUpload" {
		t.Errorf("part after abort: %v", err)
	}
	if len(e.ev.list()) != 0 {
		t.Errorf("events %v", e.ev.list())
	}

	// An upload left for over a day is gone after a restart.
	if _, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: key}); err != nil {
		t.Fatal(err)
	}
	later := *e.clock
	later = later.Add(MultipartMaxAge + time.Minute)
	if _, err := New(Config{Dir: e.srv.cfg.Dir, Bucket: "scenedex", Now: func() time.Time { return later }}); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(filepath.Join(e.srv.cfg.Dir, "s3multipart")); len(entries) != 0 {
		t.Errorf("a day-old upload stays after a restart: %v", entries)
	}
}

// pattern is an endless reader of a repeating byte pattern (no memory).
type pattern struct{ n, limit int64 }

func (p *pattern) Read(b []byte) (int, error) {
	if p.n >= p.limit {
		return 0, io.EOF
	}
	m := min(int64(len(b)), p.limit-p.n)
	for i := range m {
		b[i] = byte((p.n + i) % 251)
	}
	p.n += m
	return int(m), nil
}

// A 256 MiB multipart upload goes through the endpoint on a bounded heap:
// parts are files, never memory (the emulator held them all in RAM). Heap in
// use is sampled while the parts and the completion stream through, in the
// same process as the client.
func TestMultipartMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 512 MiB")
	}
	e := newEnv(t)
	ctx := context.Background()
	client := s3blob.LocalClient(e.http.URL, e.srv.AccessKey, e.srv.Secret)
	bucket, key := aws.String("scenedex"), aws.String("docs/big.bin")
	up, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	var peak uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
		}
	}()
	const partSize, parts = 16 << 20, 16
	var done []types.CompletedPart
	for n := int32(1); n <= parts; n++ {
		// Each part is a seekable file so the SDK can sign its hash.
		f, err := os.CreateTemp(t.TempDir(), "part")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(f, &pattern{limit: partSize})
		f.Seek(0, io.SeekStart)
		p, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: key, UploadId: up.UploadId, PartNumber: aws.Int32(n), Body: f})
		f.Close()
		os.Remove(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(n), ETag: p.ETag})
	}
	if _, err := client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: bucket, Key: key, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done}}); err != nil {
		t.Fatal(err)
	}
	close(stop)
	<-sampled
	st, err := os.Stat(filepath.Join(e.srv.ObjectsDir(), "docs", "big.bin"))
	if err != nil || st.Size() != partSize*parts {
		t.Fatalf("object %v %v", st, err)
	}
	t.Logf("peak heap in use %d MiB for a %d MiB upload", peak>>20, partSize*parts>>20)
	if peak > 64<<20 {
		t.Errorf("peak heap in use %d MiB while %d MiB went up: parts are being held in memory", peak>>20, partSize*parts>>20)
	}
}
