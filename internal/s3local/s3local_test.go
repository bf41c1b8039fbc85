package s3local

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

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

// What the emulator would get wrong, losing data, is answered before it: the
// object stays intact in every case, and refusals are S3's own errors.
func TestGuardsKeepObjectsIntact(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	client := s3blob.LocalClient(e.http.URL, e.srv.AccessKey, e.srv.Secret)
	key := "uploads/ads/keep.mp4"
	body := bytes.Repeat([]byte("video bytes "), 1000)
	if err := e.store.Put(ctx, key, bytes.NewReader(body), "video/mp4"); err != nil {
		t.Fatal(err)
	}
	intact := func(what string) {
		t.Helper()
		rc, err := e.store.Get(ctx, key)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, body) {
			t.Fatalf("%s: object now %d bytes", what, len(got))
		}
	}
	apiCode := func(err error) string {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			return ae.ErrorCode()
		}
		return fmt.Sprint(err)
	}
	_, err := client.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String("scenedex"), Key: aws.String(key),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}})
	if apiCode(err) != "NotImplemented" {
		t.Errorf("tagging: %v", err)
	}
	intact("put-object-tagging")
	if _, err := client.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: aws.String("scenedex"), Key: aws.String(key)}); apiCode(err) != "NotImplemented" {
		t.Errorf("get acl: %v", err)
	}
	_, err = client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("scenedex"), Key: aws.String(key), CopySource: aws.String("scenedex/" + key),
		MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"a": "b"}})
	if apiCode(err) != "NotImplemented" {
		t.Errorf("copy onto itself: %v", err)
	}
	intact("copy onto itself")
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("scenedex")}); err != nil {
		t.Errorf("create the existing bucket: %v", err)
	}
	// A wrong Content-MD5 stores nothing: the previous object stays.
	req, _ := http.NewRequest(http.MethodPut, mustPresign(t, e, key, 5), strings.NewReader("other"))
	req.ContentLength = 5
	req.Header.Set("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg==") // the MD5 of ""
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 400 {
		t.Fatalf("bad digest: %v %v", resp, err)
	}
	intact("wrong Content-MD5")
	// A PUT signed for one body that carries another (same length) is refused:
	// the signature covers x-amz-content-sha256, and the body must hash to it.
	// Signed by the SDK's own SigV4 signer; also for a multipart part.
	up, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("scenedex"), Key: aws.String("uploads/ads/signed.mp4")})
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"", "?partNumber=1&uploadId=" + url.QueryEscape(aws.ToString(up.UploadId))} {
		for _, tc := range []struct {
			body   string
			status int
		}{{"signed body", 200}, {"other body!", 400}} {
			signed := sha256.Sum256([]byte("signed body"))
			req, _ := http.NewRequest(http.MethodPut, e.http.URL+"/scenedex/uploads/ads/signed.mp4"+target, strings.NewReader(tc.body))
			req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(signed[:]))
			if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: e.srv.AccessKey, SecretAccessKey: e.srv.Secret},
				req, hex.EncodeToString(signed[:]), "s3", s3blob.LocalRegion, time.Now()); err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || (tc.status == 400 && !strings.Contains(string(msg), "XAmzContentSHA256Mismatch")) {
				t.Errorf("PUT%s of %q signed for \"signed body\": %d %s; want %d", target, tc.body, resp.StatusCode, msg, tc.status)
			}
		}
	}
	rc, err := e.store.Get(ctx, "uploads/ads/signed.mp4")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(rc); string(got) != "signed body" {
		t.Errorf("after a mismatched PUT the object is %q", got)
	}
	rc.Close()
	events := len(e.ev.list())
	// A PUT the client aborts half-way stores nothing and emits nothing.
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.http.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(mustPresign(t, e, "uploads/ads/aborted.mp4", 1000))
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 1000\r\n\r\n%s", u.RequestURI(), u.Host, strings.Repeat("x", 100))
	time.Sleep(100 * time.Millisecond)
	conn.Close()
	time.Sleep(200 * time.Millisecond)
	if _, err := e.store.Head(ctx, "uploads/ads/aborted.mp4"); scenedex.ErrorCode(err) != scenedex.CodeNotFound {
		t.Fatalf("an aborted PUT left an object: %v", err)
	}
	if len(e.ev.list()) != events {
		t.Fatal("an aborted PUT emitted an event")
	}
	if left, _ := os.ReadDir(filepath.Join(filepath.Dir(e.srv.ObjectsDir()), "s3staging")); len(left) != 0 {
		t.Fatalf("staging left %d files", len(left))
	}

	// A full disk: staging writes to /dev/full, where the kernel answers every
	// write with ENOSPC. The client hears 507 "no space left" (not a 400 about
	// its body, not a bare 500), the previous object stays, nothing is emitted.
	e.srv.openStage = func() (*os.File, error) { return os.OpenFile("/dev/full", os.O_RDWR, 0) }
	req, _ = http.NewRequest(http.MethodPut, mustPresign(t, e, key, 5), strings.NewReader("other"))
	req.ContentLength = 5
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInsufficientStorage || !strings.Contains(string(msg), "no space left") ||
		!strings.Contains(string(msg), "<Code>InsufficientStorage</Code>") {
		t.Errorf("disk full: %d %s; want 507 InsufficientStorage saying no space left", resp.StatusCode, msg)
	}
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Fatalf("the guard removed /dev/full: %v", err)
	}
	e.srv.openStage = nil
	intact("disk full")
	if len(e.ev.list()) != events {
		t.Fatal("a PUT onto a full disk emitted an event")
	}
}

func mustPresign(t *testing.T, e *env, key string, size int64) string {
	t.Helper()
	u, err := e.store.PresignPut(context.Background(), key, size, "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Listing as S3 documents it, through the real SDK: pages of max-keys with
// continuation tokens (v2) and markers (v1), start-after, common prefixes,
// keys with spaces and unicode (encoding-type=url), and a prefix with nothing
// under it answering an empty page.
func TestListObjectsLikeS3(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	client := s3blob.LocalClient(e.http.URL, e.srv.AccessKey, e.srv.Secret)
	var want []string
	for i := range 23 {
		k := fmt.Sprintf("chunks/v%02d/clip ü+%d.mp4", i%3, i)
		want = append(want, k)
		if err := e.store.Put(ctx, k, strings.NewReader("x"), "video/mp4"); err != nil {
			t.Fatal(err)
		}
	}
	e.store.Put(ctx, "chunks-a.txt", strings.NewReader("x"), "text/plain") // '-' sorts before '/'
	sort.Strings(want)
	var got []string
	pages := 0
	p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String("scenedex"), Prefix: aws.String("chunks/"), MaxKeys: aws.Int32(10)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(page.Contents) > 10 {
			t.Fatalf("page of %d", len(page.Contents))
		}
		for _, o := range page.Contents {
			got = append(got, aws.ToString(o.Key))
		}
	}
	if pages != 3 || strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("%d pages: %q", pages, got)
	}
	// Common prefixes, in pages of 2.
	out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("scenedex"), Prefix: aws.String("chunks/"), Delimiter: aws.String("/"), MaxKeys: aws.Int32(2)})
	if err != nil || len(out.CommonPrefixes) != 2 || aws.ToString(out.CommonPrefixes[0].Prefix) != "chunks/v00/" || !aws.ToBool(out.IsTruncated) {
		t.Fatalf("prefixes %+v %v", out, err)
	}
	next, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("scenedex"), Prefix: aws.String("chunks/"), Delimiter: aws.String("/"),
		MaxKeys: aws.Int32(2), ContinuationToken: out.NextContinuationToken})
	if err != nil || len(next.CommonPrefixes) != 1 || aws.ToString(next.CommonPrefixes[0].Prefix) != "chunks/v02/" || aws.ToBool(next.IsTruncated) {
		t.Fatalf("next prefixes %+v %v", next, err)
	}
	// start-after, and v1 with a marker.
	if out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("scenedex"), StartAfter: aws.String(want[20])}); err != nil || len(out.Contents) != 2 {
		t.Fatalf("start-after: %+v %v", out, err)
	}
	v1, err := client.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("scenedex"), Prefix: aws.String("chunks/"), Marker: aws.String(want[5]), MaxKeys: aws.Int32(100)})
	if err != nil || len(v1.Contents) != 17 || aws.ToBool(v1.IsTruncated) {
		t.Fatalf("v1 marker: %d %v", len(v1.Contents), err)
	}
	// encoding-type=url (what aws-cli asks for): keys come encoded, and decode.
	encoded, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("scenedex"), Prefix: aws.String("chunks/"), EncodingType: types.EncodingTypeUrl, MaxKeys: aws.Int32(1)})
	if err != nil || len(encoded.Contents) != 1 {
		t.Fatalf("encoded: %+v %v", encoded, err)
	}
	if k, err := url.QueryUnescape(aws.ToString(encoded.Contents[0].Key)); err != nil || k != want[0] || strings.Contains(aws.ToString(encoded.Contents[0].Key), " ") {
		t.Fatalf("encoded key %q -> %q, want %q", aws.ToString(encoded.Contents[0].Key), k, want[0])
	}
	// Nothing under a prefix: an empty page (it was a 500).
	for _, prefix := range []string{"uploads/new/", "nothing/at/all/"} {
		out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("scenedex"), Prefix: aws.String(prefix), Delimiter: aws.String("/")})
		if err != nil || len(out.Contents) != 0 || len(out.CommonPrefixes) != 0 {
			t.Fatalf("%s: %+v %v", prefix, out, err)
		}
	}
}

// A multipart upload's ETag is the same wherever the client reads it:
// Complete, HEAD and the listing agree (the MD5 of the whole object, the only
// one the emulator knows), so sync tools comparing ETags see no change, and
// the Object Created event carries it too.
func TestMultipartETagAgrees(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	client := s3blob.LocalClient(e.http.URL, e.srv.AccessKey, e.srv.Secret)
	bucket, key := aws.String("scenedex"), aws.String("uploads/ads/multi part.mp4")
	up, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	var whole []byte
	var parts []types.CompletedPart
	for i, size := range []int{5<<20 + 7, 1234} {
		body := bytes.Repeat([]byte{byte('a' + i)}, size)
		whole = append(whole, body...)
		p, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: key, UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{ETag: p.ETag, PartNumber: aws.Int32(int32(i + 1))})
	}
	done, err := client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: bucket, Key: key, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		t.Fatal(err)
	}
	head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	list, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: bucket, Prefix: key})
	if err != nil || len(list.Contents) != 1 {
		t.Fatalf("list: %v %+v", err, list)
	}
	sum := md5.Sum(whole)
	want := `"` + hex.EncodeToString(sum[:]) + `"`
	evs := e.ev.list()
	if aws.ToString(done.ETag) != want || aws.ToString(head.ETag) != want || aws.ToString(list.Contents[0].ETag) != want ||
		len(evs) != 1 || `"`+evs[0].ETag+`"` != want || aws.ToInt64(head.ContentLength) != int64(len(whole)) {
		t.Errorf("ETags: complete %s, head %s, list %s, event %+v; want all %s (%d bytes, head says %d)",
			aws.ToString(done.ETag), aws.ToString(head.ETag), aws.ToString(list.Contents[0].ETag), evs, want,
			len(whole), aws.ToInt64(head.ContentLength))
	}
}

// Keys S3 takes but plain files cannot hold are refused with a clear S3 error
// (they were 500 InternalError, which clients retried), and what is stored
// stays as it was.
func TestKeysFilesCannotHold(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	client := s3blob.LocalClient(e.http.URL, e.srv.AccessKey, e.srv.Secret, func(o *s3.Options) { o.RetryMaxAttempts = 1 })
	put := func(key string) error {
		_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("scenedex"), Key: aws.String(key), Body: strings.NewReader("x")})
		return err
	}
	// Long keys that files can hold are stored (their side-car metadata name
	// was too long: a 500 from 223 bytes on): one 255-byte part, and 1,000 bytes.
	long := "docs/" + strings.Repeat(strings.Repeat("l", 240)+"/", 3) + strings.Repeat("m", 200) + "/" + strings.Repeat("n", 71)
	for _, k := range []string{"docs/a", "docs/dir/b", "docs/" + strings.Repeat("k", 255), long} {
		if err := put(k); err != nil {
			t.Fatalf("put %.40s (%d bytes): %v", k, len(k), err)
		}
	}
	if len(long) != 1000 {
		t.Fatalf("long key is %d bytes", len(long))
	}
	if info, err := e.store.Head(ctx, long); err != nil || info.Size != 1 {
		t.Errorf("head the 1,000-byte key: %+v %v", info, err)
	}
	if list, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("scenedex"), Prefix: aws.String(long)}); err != nil ||
		len(list.Contents) != 1 || aws.ToString(list.Contents[0].Key) != long {
		t.Errorf("list the 1,000-byte key: %v", err)
	}
	for _, tc := range []struct {
		key, code, says string
	}{
		{"docs/" + strings.Repeat("k", 256), "KeyTooLongError", "at most 255 bytes"},
		{strings.Repeat("k/", 513), "KeyTooLongError", "1,024 bytes"},
		{"docs/folder/", "NotImplemented", "folder markers"},
		{"docs/a/b", "InvalidArgument", `"docs/a" is an object`},
		{"docs/dir", "InvalidArgument", `objects under "docs/dir/"`},
		{"docs//x", "InvalidArgument", "empty"},
	} {
		err := put(tc.key)
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != tc.code || !strings.Contains(ae.ErrorMessage(), tc.says) {
			t.Errorf("put %.40s: %v; want %s saying %q", tc.key, err, tc.code, tc.says)
		}
		_, err = client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("scenedex"), Key: aws.String(tc.key)})
		if !errors.As(err, &ae) || ae.ErrorCode() != tc.code {
			t.Errorf("create multipart %.40s: %v; want %s", tc.key, err, tc.code)
		}
	}
	for _, k := range []string{"docs/a", "docs/dir/b"} {
		if info, err := e.store.Head(ctx, k); err != nil || info.Size != 1 {
			t.Errorf("%s after the refusals: %+v %v", k, info, err)
		}
	}
}

// One slow upload does not hold up the others: while a PUT trickles in (the
// client sends its body in pieces and waits between them), a fast PUT and a
// GET finish, and then the slow one completes whole. Nothing here is timed:
// the slow body is only finished after the fast requests have answered.
func TestSlowUploadDoesNotBlockOthers(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.store.Put(ctx, "docs/read.bin", bytes.NewReader([]byte("read me")), ""); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.CloseWithError(errors.New("test over")) }) // before the server closes: it waits for this request
	req, _ := http.NewRequest(http.MethodPut, mustPresign(t, e, "uploads/ads/slow.mp4", 3000), pr)
	req.ContentLength = 3000
	slow := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 200 {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		slow <- err
	}()
	pw.Write(bytes.Repeat([]byte("s"), 1000)) // returns once the server has read it
	// Not a speed bound: a deadline so that a lock held by the slow PUT fails
	// the test instead of hanging it (the slow body waits for these to finish).
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := e.store.Put(ctx, "uploads/ads/fast.mp4", bytes.NewReader([]byte("fast")), "video/mp4"); err != nil {
		t.Fatalf("fast PUT beside a slow one: %v", err)
	}
	rc, err := e.store.Get(ctx, "docs/read.bin")
	if err != nil {
		t.Fatalf("GET beside a slow PUT: %v", err)
	}
	rc.Close()
	select {
	case err := <-slow:
		t.Fatalf("the slow PUT ended before its body was sent: %v", err)
	default:
	}
	pw.Write(bytes.Repeat([]byte("s"), 2000))
	pw.Close()
	if err := <-slow; err != nil {
		t.Fatalf("slow PUT: %v", err)
	}
	if info, err := e.store.Head(ctx, "uploads/ads/slow.mp4"); err != nil || info.Size != 3000 {
		t.Fatalf("slow object: %+v %v", info, err)
	}
}

// TestMoreKeys: an extra key pair of Config.Keys is accepted with its own
// secret (header-signed and presigned), not with another's; an unknown key
// is refused.
func TestMoreKeys(t *testing.T) {
	srv, err := New(Config{Dir: t.TempDir(), Bucket: "scenedex", Keys: map[string]string{"AKIDEMBED": "embed-secret"}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	ctx := context.Background()
	embed := s3blob.New(s3blob.LocalClient(hs.URL, "AKIDEMBED", "embed-secret"), "scenedex")
	if err := embed.Put(ctx, "chunks/a", bytes.NewReader([]byte("a")), ""); err != nil {
		t.Fatalf("extra key: %v", err)
	}
	url, err := embed.PresignGet(ctx, "chunks/a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(url)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("presigned with the extra key: %v %v", resp, err)
	}
	resp.Body.Close()
	for _, c := range []struct{ id, secret, want string }{
		{"AKIDEMBED", srv.Secret, "SignatureDoesNotMatch"},
		{"AKIDOTHER", "embed-secret", "InvalidAccessKeyId"},
	} {
		s := s3blob.New(s3blob.LocalClient(hs.URL, c.id, c.secret), "scenedex")
		if err := s.Put(ctx, "chunks/b", bytes.NewReader([]byte("b")), ""); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %s", c.id, err, c.want)
		}
	}
}
