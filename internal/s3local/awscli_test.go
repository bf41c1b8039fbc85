package s3local

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Debian's aws-cli 2.9 (the client the README sets up) against the local
// endpoint, on the paths issue #10 found broken: paged listing, listing a
// prefix with nothing under it, multipart cp, sync, presign, tagging and copy
// onto itself (refused, the object intact), a wrong Content-MD5 (refused,
// nothing stored), and the bucket's make-bucket.
func TestAWSCLI(t *testing.T) {
	aws := "/usr/bin/aws" // not a pyenv shim: Debian's v2
	if _, err := os.Stat(aws); err != nil {
		t.Fatal("Debian's awscli is missing: make test installs it (scripts/ensure-tools.sh --test)")
	}
	e := newEnv(t)
	dir := t.TempDir()
	run := func(args ...string) (string, error) {
		cmd := exec.Command(aws, append([]string{"--endpoint-url", e.http.URL, "--no-cli-pager"}, args...)...)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+e.srv.AccessKey, "AWS_SECRET_ACCESS_KEY="+e.srv.Secret,
			"AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "HOME="+dir)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := run(args...)
		if err != nil {
			t.Fatalf("aws %v: %v\n%s", args, err, out)
		}
		return out
	}
	big := make([]byte, 20<<20) // above the CLI's 8 MiB multipart threshold
	rand.Read(big)
	os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o644)
	must("s3", "cp", filepath.Join(dir, "big.bin"), "s3://scenedex/docs/big one.bin")
	os.MkdirAll(filepath.Join(dir, "tree", "sub"), 0o755)
	for _, f := range []string{"a.txt", "b.txt", "sub/c ü.txt"} {
		os.WriteFile(filepath.Join(dir, "tree", f), []byte("content of "+f), 0o644)
	}
	must("s3", "sync", filepath.Join(dir, "tree"), "s3://scenedex/docs/tree")
	if out := must("s3", "ls", "--recursive", "s3://scenedex/docs/"); strings.Count(out, "\n") != 4 || !strings.Contains(out, "c ü.txt") {
		t.Fatalf("ls:\n%s", out)
	}
	if out := must("s3api", "list-objects-v2", "--bucket", "scenedex", "--page-size", "1", "--query", "Contents[].Key", "--output", "text"); strings.Count(out, "docs/") != 4 {
		t.Fatalf("paged listing: %q", out)
	}
	// A prefix with nothing under it: exit 1 and no error, as S3 answers.
	if out, err := run("s3", "ls", "s3://scenedex/uploads/new/"); err == nil || strings.Contains(out, "Error") {
		t.Fatalf("missing prefix: %v %q", err, out)
	}
	got := filepath.Join(dir, "back.bin")
	must("s3", "cp", "s3://scenedex/docs/big one.bin", got)
	if b, _ := os.ReadFile(got); !bytes.Equal(b, big) {
		t.Fatal("the multipart object came back different")
	}
	url := strings.TrimSpace(must("s3", "presign", "s3://scenedex/docs/tree/a.txt", "--expires-in", "60"))
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "content of a.txt" {
		t.Fatalf("presigned GET %d %q", resp.StatusCode, body)
	}
	intact := func(key, want string) {
		t.Helper()
		out := must("s3", "cp", "s3://scenedex/"+key, "-")
		if out != want {
			t.Fatalf("%s is now %q", key, out)
		}
	}
	if out, err := run("s3api", "put-object-tagging", "--bucket", "scenedex", "--key", "docs/tree/a.txt", "--tagging", "TagSet=[{Key=k,Value=v}]"); err == nil || !strings.Contains(out, "NotImplemented") {
		t.Fatalf("tagging: %v %s", err, out)
	}
	intact("docs/tree/a.txt", "content of a.txt")
	if out, err := run("s3api", "copy-object", "--bucket", "scenedex", "--key", "docs/tree/b.txt", "--copy-source", "scenedex/docs/tree/b.txt",
		"--metadata-directive", "REPLACE", "--metadata", "x=y"); err == nil || !strings.Contains(out, "NotImplemented") {
		t.Fatalf("copy onto itself: %v %s", err, out)
	}
	intact("docs/tree/b.txt", "content of b.txt")
	os.WriteFile(filepath.Join(dir, "new.txt"), []byte("new"), 0o644)
	if out, err := run("s3api", "put-object", "--bucket", "scenedex", "--key", "docs/tree/b.txt", "--body", filepath.Join(dir, "new.txt"),
		"--content-md5", "1B2M2Y8AsgTpgAmY7PhCfg=="); err == nil || !strings.Contains(out, "BadDigest") {
		t.Fatalf("wrong Content-MD5: %v %s", err, out)
	}
	intact("docs/tree/b.txt", "content of b.txt")
	must("s3", "mb", "s3://scenedex")
}
