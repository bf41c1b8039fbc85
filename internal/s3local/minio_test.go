package s3local

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/scenedex/scenedex/internal/s3blob"
)

// minio-go (a real third-party S3 client) sends its uploads over plain HTTP
// as aws-chunked bodies with chained chunk signatures
// (STREAMING-AWS4-HMAC-SHA256-PAYLOAD), single PUTs and multipart parts
// alike: they are decoded and stored as the plain bytes, and a body altered
// in transit is refused 403 with nothing stored.
func TestStreamingSignaturesWithMinio(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	newClient := func(endpoint string, trailing bool) *minio.Client {
		u, _ := url.Parse(endpoint)
		mc, err := minio.New(u.Host, &minio.Options{Creds: miniocreds.NewStaticV4(e.srv.AccessKey, e.srv.Secret, ""),
			Secure: false, Region: "us-east-1", TrailingHeaders: trailing})
		if err != nil {
			t.Fatal(err)
		}
		return mc
	}
	mc := newClient(e.http.URL, false)
	sdk := s3blob.LocalClient(e.http.URL, e.srv.AccessKey, e.srv.Secret)
	check := func(key string, want []byte) {
		t.Helper()
		got, err := sdk.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("scenedex"), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("get %s: %v", key, err)
		}
		b, _ := io.ReadAll(got.Body)
		if !bytes.Equal(b, want) {
			t.Errorf("%s: %d bytes stored, want %d (%q...)", key, len(b), len(want), b[:min(len(b), 60)])
		}
		if enc := aws.ToString(got.ContentEncoding); strings.Contains(enc, "aws-chunked") {
			t.Errorf("%s keeps Content-Encoding %q", key, enc)
		}
	}

	small := []byte(strings.Repeat("scenedex ", 10000)) // 90 KB: two chunks of 64 KiB and a tail
	info, err := mc.PutObject(ctx, "scenedex", "docs/small.txt", bytes.NewReader(small), int64(len(small)), minio.PutObjectOptions{ContentType: "text/plain"})
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(small)
	if info.ETag != hex.EncodeToString(sum[:]) {
		t.Errorf("ETag %q", info.ETag)
	}
	check("docs/small.txt", small)

	big := bytes.Repeat([]byte("0123456789abcdef"), 12<<20/16+123) // 12 MiB + : three 5 MiB parts
	if _, err := mc.PutObject(ctx, "scenedex", "docs/big.bin", bytes.NewReader(big), int64(len(big)), minio.PutObjectOptions{PartSize: 5 << 20}); err != nil {
		t.Fatal(err)
	}
	check("docs/big.bin", big)

	// With trailing checksums (CRC32C after the last chunk).
	if _, err := newClient(e.http.URL, true).PutObject(ctx, "scenedex", "docs/crc.txt", bytes.NewReader(small), int64(len(small)),
		minio.PutObjectOptions{Checksum: minio.ChecksumCRC32C}); err != nil {
		t.Errorf("trailing checksum: %v", err)
	} else {
		check("docs/crc.txt", small)
	}

	// A proxy that alters one byte of every body on the way.
	target, _ := url.Parse(e.http.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	tamper := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			b, _ := io.ReadAll(r.Body)
			if i := bytes.Index(b, []byte("scenedex scenedex")); i >= 0 {
				b[i] = 'S'
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		proxy.ServeHTTP(w, r)
	}))
	defer tamper.Close()
	_, err = newClient(tamper.URL, false).PutObject(ctx, "scenedex", "docs/tampered.txt", bytes.NewReader(small), int64(len(small)), minio.PutObjectOptions{})
	if resp := minio.ToErrorResponse(err); resp.StatusCode != http.StatusForbidden || resp.Code != "SignatureDoesNotMatch" {
		t.Errorf("tampered body: %v (%+v)", err, resp)
	}
	if _, err := sdk.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("scenedex"), Key: aws.String("docs/tampered.txt")}); err == nil {
		t.Error("a tampered body was stored")
	}
}
