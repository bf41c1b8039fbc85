package s3local

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scenedex/scenedex/internal/s3blob"
)

// The same paths as TestAWSCLI with the other clients the README sets up —
// Debian's rclone 1.60, s3cmd 2.3 and boto3 1.26: put, get, multipart, sync,
// listing a missing prefix, paging, presign, copy onto itself and tagging
// (refused 501, the object intact), a wrong Content-MD5 (nothing stored), an
// upload killed halfway (nothing stored), and a throttled upload beside a fast
// one (the fast one is not held up). What a client cannot do says so.

type clientEnv struct {
	*env
	dir string
}

func newClientEnv(t *testing.T, tools ...string) *clientEnv {
	t.Helper()
	for _, tool := range tools {
		if _, err := os.Stat(tool); err != nil {
			t.Fatalf("%s is missing: make test installs it (scripts/ensure-tools.sh --test)", tool)
		}
	}
	return &clientEnv{env: newEnv(t), dir: t.TempDir()}
}

func (c *clientEnv) cmd(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	host := strings.TrimPrefix(c.http.URL, "http://")
	cmd.Env = append(os.Environ(), "HOME="+c.dir, "AWS_ACCESS_KEY_ID="+c.srv.AccessKey, "AWS_SECRET_ACCESS_KEY="+c.srv.Secret,
		"AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "ENDPOINT="+c.http.URL,
		"RCLONE_CONFIG=/dev/null", "RCLONE_CONFIG_L_TYPE=s3", "RCLONE_CONFIG_L_PROVIDER=Other", "RCLONE_CONFIG_L_ENDPOINT="+c.http.URL,
		"RCLONE_CONFIG_L_ACCESS_KEY_ID="+c.srv.AccessKey, "RCLONE_CONFIG_L_SECRET_ACCESS_KEY="+c.srv.Secret, "RCLONE_CONFIG_L_REGION=us-east-1",
		"S3HOST="+host)
	// rclone 1.60 will not start while AWS_CA_BUNDLE names a bundle.
	for i, kv := range cmd.Env {
		if strings.HasPrefix(kv, "AWS_CA_BUNDLE=") {
			cmd.Env[i] = "AWS_CA_BUNDLE_UNUSED=1"
		}
	}
	return cmd
}

func (c *clientEnv) run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	out, err := c.cmd(name, args...).CombinedOutput()
	return string(out), err
}

func (c *clientEnv) must(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := c.run(t, name, args...)
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return out
}

func (c *clientEnv) file(t *testing.T, name string, size int) string {
	t.Helper()
	b := make([]byte, size)
	rand.Read(b)
	p := filepath.Join(c.dir, name)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func (c *clientEnv) object(t *testing.T, key string) ([]byte, bool) {
	t.Helper()
	client := s3blob.LocalClient(c.http.URL, c.srv.AccessKey, c.srv.Secret)
	got, err := client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("scenedex"), Key: aws.String(key)})
	if err != nil {
		return nil, false
	}
	defer got.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(got.Body)
	return b.Bytes(), true
}

// sameAs fails unless key holds exactly the bytes of path.
func (c *clientEnv) sameAs(t *testing.T, key, path string) {
	t.Helper()
	want, _ := os.ReadFile(path)
	if got, ok := c.object(t, key); !ok || !bytes.Equal(got, want) {
		t.Errorf("%s: %d bytes stored (present %v), want %d", key, len(got), ok, len(want))
	}
}

// killedHalfway starts an upload throttled to 1 MB/s, kills it after a
// second, and checks nothing was stored under key; meanwhile a fast upload
// (fast, run in the same second) lands while the slow one is still going.
func (c *clientEnv) killedHalfway(t *testing.T, slow *exec.Cmd, key string, fast func()) {
	t.Helper()
	if err := slow.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	fast()
	exited := make(chan error, 1)
	go func() { exited <- slow.Wait() }()
	select {
	case err := <-exited:
		t.Fatalf("the throttled upload ended before the fast one was done (err %v): it was not running beside it", err)
	default:
	}
	time.Sleep(700 * time.Millisecond)
	slow.Process.Kill()
	<-exited
	time.Sleep(200 * time.Millisecond) // the server notices the dead connection
	if _, ok := c.object(t, key); ok {
		t.Errorf("an upload killed halfway left %s", key)
	}
}

func TestRclone(t *testing.T) {
	const rclone = "/usr/bin/rclone"
	c := newClientEnv(t, rclone)
	small := c.file(t, "tree/a.txt", 1000)
	c.file(t, "tree/sub/b ü.txt", 2000)
	big := c.file(t, "big.bin", 12<<20)

	c.must(t, rclone, "copyto", small, "l:scenedex/docs/a.txt")
	c.sameAs(t, "docs/a.txt", small)
	if out := c.must(t, rclone, "cat", "l:scenedex/docs/a.txt"); len(out) != 1000 {
		t.Errorf("cat: %d bytes", len(out))
	}
	// Multipart: 5 MiB chunks above a 5 MiB cut-off.
	c.must(t, rclone, "copyto", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", big, "l:scenedex/docs/big.bin")
	c.sameAs(t, "docs/big.bin", big)
	// Sync into a folder that does not exist yet, then again after a local
	// mtime change: rclone updates the modification time by copying the
	// object onto itself, which is refused — and the object stays whole.
	c.must(t, rclone, "sync", filepath.Join(c.dir, "tree"), "l:scenedex/docs/tree")
	c.sameAs(t, "docs/tree/sub/b ü.txt", filepath.Join(c.dir, "tree/sub/b ü.txt"))
	later := time.Now().Add(time.Hour)
	os.Chtimes(small, later, later)
	c.run(t, rclone, "sync", filepath.Join(c.dir, "tree"), "l:scenedex/docs/tree")
	c.sameAs(t, "docs/tree/a.txt", small)
	// A missing prefix lists empty; paging by 1.
	if out, err := c.run(t, rclone, "lsf", "l:scenedex/uploads/new/"); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("lsf of a missing prefix: %v %q", err, out)
	}
	if out := c.must(t, rclone, "lsf", "-R", "--files-only", "--s3-list-chunk", "1", "l:scenedex/docs/"); strings.Count(out, "\n") != 4 {
		t.Errorf("paged listing:\n%s", out)
	}
	// Presign (rclone link): a SigV4 URL that works.
	link := strings.TrimSpace(c.must(t, rclone, "link", "--expire", "5m", "l:scenedex/docs/a.txt"))
	if out, err := exec.Command("curl", "-sf", link).Output(); err != nil || len(out) != 1000 {
		t.Errorf("rclone link %s: %v (%d bytes)", link, err, len(out))
	}
	// Killed halfway at 1 MB/s beside a fast copy.
	slowFile := c.file(t, "slow.bin", 5<<20)
	c.killedHalfway(t, c.cmd(rclone, "copyto", "--bwlimit", "1M", slowFile, "l:scenedex/docs/slow.bin"), "docs/slow.bin", func() {
		c.must(t, rclone, "copyto", small, "l:scenedex/docs/fast.txt")
	})
	c.sameAs(t, "docs/fast.txt", small)
}

func TestS3cmd(t *testing.T) {
	const s3cmd = "/usr/bin/s3cmd"
	c := newClientEnv(t, s3cmd)
	host := strings.TrimPrefix(c.http.URL, "http://")
	args := func(more ...string) []string {
		return append([]string{"-c", "/dev/null", "--access_key=" + c.srv.AccessKey, "--secret_key=" + c.srv.Secret,
			"--host=" + host, "--host-bucket=" + host, "--no-ssl", "--region=us-east-1"}, more...)
	}
	small := c.file(t, "tree/a.txt", 1000)
	c.file(t, "tree/sub/b.txt", 2000)
	big := c.file(t, "big.bin", 12<<20)

	c.must(t, s3cmd, args("put", small, "s3://scenedex/docs/a.txt")...)
	c.sameAs(t, "docs/a.txt", small)
	back := filepath.Join(c.dir, "back.txt")
	c.must(t, s3cmd, args("get", "s3://scenedex/docs/a.txt", back)...)
	if b, _ := os.ReadFile(back); len(b) != 1000 {
		t.Errorf("get: %d bytes", len(b))
	}
	// Multipart with 5 MiB chunks.
	c.must(t, s3cmd, args("put", "--multipart-chunk-size-mb=5", big, "s3://scenedex/docs/big.bin")...)
	c.sameAs(t, "docs/big.bin", big)
	c.must(t, s3cmd, args("sync", filepath.Join(c.dir, "tree")+"/", "s3://scenedex/docs/tree/")...)
	c.sameAs(t, "docs/tree/sub/b.txt", filepath.Join(c.dir, "tree/sub/b.txt"))
	if out := c.must(t, s3cmd, args("sync", filepath.Join(c.dir, "tree")+"/", "s3://scenedex/docs/tree/")...); strings.Contains(out, "upload:") {
		t.Errorf("a second sync of the same files uploads again (ETags differ?):\n%s", out)
	}
	if out := c.must(t, s3cmd, args("ls", "s3://scenedex/uploads/new/")...); strings.TrimSpace(out) != "" {
		t.Errorf("ls of a missing prefix: %q", out)
	}
	if out := c.must(t, s3cmd, args("ls", "--recursive", "s3://scenedex/docs/")...); strings.Count(out, "\n") != 4 {
		t.Errorf("recursive ls:\n%s", out)
	}
	// Copy onto itself with new headers: refused, object intact. (s3cmd 2.3
	// has no tagging command; an ACL change is what it has.)
	if out, err := c.run(t, s3cmd, args("modify", "--add-header=Cache-Control:max-age=60", "s3://scenedex/docs/a.txt")...); err == nil || !strings.Contains(out, "NotImplemented") {
		t.Errorf("modify (copy onto itself): %v\n%s", err, out)
	}
	if out, err := c.run(t, s3cmd, args("setacl", "--acl-public", "s3://scenedex/docs/a.txt")...); err == nil || !strings.Contains(out, "NotImplemented") {
		t.Errorf("setacl: %v\n%s", err, out)
	}
	c.sameAs(t, "docs/a.txt", small)
	// Killed halfway at 1 MB/s beside a fast put.
	slowFile := c.file(t, "slow.bin", 5<<20)
	c.killedHalfway(t, c.cmd(s3cmd, args("put", "--limit-rate=1m", "--disable-multipart", slowFile, "s3://scenedex/docs/slow.bin")...), "docs/slow.bin", func() {
		c.must(t, s3cmd, args("put", small, "s3://scenedex/docs/fast.txt")...)
	})
	c.sameAs(t, "docs/fast.txt", small)
	// signurl makes SigV2 URLs, which the endpoint (SigV4 only) refuses.
	link := strings.TrimSpace(c.must(t, s3cmd, args("signurl", "s3://scenedex/docs/a.txt", "+300")...))
	if out, err := exec.Command("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", link).Output(); err != nil || string(out) != "403" {
		t.Errorf("a SigV2 URL: %s %v", out, err)
	}
}

func TestBoto3(t *testing.T) {
	const python = "/usr/bin/python3"
	c := newClientEnv(t, python)
	if err := exec.Command(python, "-c", "import boto3").Run(); err != nil {
		t.Fatal("python3-boto3 is missing: make test installs it (scripts/ensure-tools.sh --test)")
	}
	big := c.file(t, "big.bin", 12<<20)
	script := `
import base64, hashlib, os, sys, urllib.request
import boto3, botocore
from boto3.s3.transfer import TransferConfig
s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"], config=botocore.config.Config(signature_version="s3v4"))
B = "scenedex"
def refused(code, f, *a, **k):
    try:
        f(*a, **k)
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == code, e.response["Error"]
        return
    raise AssertionError("not refused: want " + code)
s3.put_object(Bucket=B, Key="docs/a.txt", Body=b"a" * 1000)
assert s3.get_object(Bucket=B, Key="docs/a.txt")["Body"].read() == b"a" * 1000
s3.upload_file(sys.argv[1], B, "docs/big.bin", Config=TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20))
for i in range(5):
    s3.put_object(Bucket=B, Key="docs/page/%d.txt" % i, Body=b"x")
keys = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=B, Prefix="docs/page/", PaginationConfig={"PageSize": 2}) for o in p.get("Contents", [])]
assert len(keys) == 5, keys
assert s3.list_objects_v2(Bucket=B, Prefix="uploads/new/", Delimiter="/")["KeyCount"] == 0
url = s3.generate_presigned_url("get_object", Params={"Bucket": B, "Key": "docs/a.txt"}, ExpiresIn=60)
assert urllib.request.urlopen(url).read() == b"a" * 1000
refused("NotImplemented", s3.copy_object, Bucket=B, Key="docs/a.txt", CopySource={"Bucket": B, "Key": "docs/a.txt"}, MetadataDirective="REPLACE", Metadata={"k": "v"})
refused("NotImplemented", s3.put_object_tagging, Bucket=B, Key="docs/a.txt", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
assert s3.get_object(Bucket=B, Key="docs/a.txt")["Body"].read() == b"a" * 1000
wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
refused("BadDigest", s3.put_object, Bucket=B, Key="docs/md5.txt", Body=b"hello", ContentMD5=wrong)
refused("NoSuchKey", s3.get_object, Bucket=B, Key="docs/md5.txt")
print("boto3 ok")
`
	if out := c.must(t, python, "-c", script, big); !strings.Contains(out, "boto3 ok") {
		t.Errorf("boto3:\n%s", out)
	}
	c.sameAs(t, "docs/big.bin", big)
}
