package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scenedex/scenedex/client"
	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/testvideo"
)

// `eval "$(scenedex s3 env)"` and then the README's set-ups, with the real
// tools make test installs from Debian: aws-cli 2.9 drops a video into
// uploads/ (it becomes READY), rclone lists and copies through the remote the
// exports define, s3cmd reads it back, and boto3 pages the listing and reads
// it too.
func TestS3EnvWithRealClients(t *testing.T) {
	for _, tool := range []string{"/usr/bin/aws", "/usr/bin/rclone", "/usr/bin/s3cmd", "/usr/bin/python3"} {
		if _, err := os.Stat(tool); err != nil {
			t.Fatalf("%s is missing: make test installs it (scripts/ensure-tools.sh --test)", tool)
		}
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import boto3").Run(); err != nil {
		t.Fatal("python3-boto3 is missing: make test installs it (scripts/ensure-tools.sh --test)")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	addr := freeAddr(t)
	url := "http://" + addr

	// Before the server has ever run there are no credentials to print.
	if out, err := cli(t, url, "s3", "env", "--data", data).CombinedOutput(); err == nil || !strings.Contains(string(out), "scenedex serve --data") {
		t.Errorf("s3 env before serve: err=%v out=%s; want an error saying to start serve", err, out)
	}
	startServe(t, addr, data)
	env, err := cli(t, url, "s3", "env", "--data", data).Output()
	if err != nil {
		t.Fatalf("s3 env: %v", err)
	}
	testvideo.Make(t, dir, "clip one.mp4", testvideo.Spec{Scenes: []int{0, 1}, SceneSecs: 2})
	os.WriteFile(filepath.Join(dir, "note.txt"), []byte("hello from rclone\n"), 0o644)
	script := string(env) + `
set -euo pipefail
export PATH="/usr/bin:$PATH" HOME="$TMP" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null RCLONE_CONFIG=/dev/null
aws --endpoint-url "$AWS_ENDPOINT_URL" --no-cli-pager s3 cp "$TMP/clip one.mp4" "s3://$SCENEDEX_BUCKET/uploads/tools/clip one.mp4"
env -u AWS_CA_BUNDLE rclone copyto "$TMP/note.txt" "scenedex:$SCENEDEX_BUCKET/notes/new folder/note.txt"
echo "rclone: $(env -u AWS_CA_BUNDLE rclone lsf -R --files-only "scenedex:$SCENEDEX_BUCKET/" --include 'notes/**' --include 'uploads/**' | sort | tr '\n' ' ')"
host=${AWS_ENDPOINT_URL#http://}
s3cmd -c /dev/null --access_key="$AWS_ACCESS_KEY_ID" --secret_key="$AWS_SECRET_ACCESS_KEY" --host="$host" --host-bucket="$host" --no-ssl \
  get "s3://$SCENEDEX_BUCKET/notes/new folder/note.txt" "$TMP/back.txt"
echo "s3cmd: $(cat "$TMP/back.txt")"
/usr/bin/python3 - <<'PY'
import os, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])  # boto3 1.26 ignores AWS_ENDPOINT_URL too
keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=os.environ["SCENEDEX_BUCKET"], Prefix="notes/", PaginationConfig={"PageSize": 1}) for o in page.get("Contents", [])]
body = s3.get_object(Bucket=os.environ["SCENEDEX_BUCKET"], Key="notes/new folder/note.txt")["Body"].read().decode()
print("boto3:", keys, body.strip())
PY
`
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = append(os.Environ(), "TMP="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's client set-ups: %v\n%s", err, out)
	}
	for _, want := range []string{
		"rclone: notes/new folder/note.txt uploads/tools/clip one.mp4",
		"boto3: ['notes/new folder/note.txt'] hello from rclone",
		"s3cmd: hello from rclone",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// The video aws-cli dropped in is processed like an API upload.
	c := client.New(url)
	deadline := time.Now().Add(60 * time.Second)
	for {
		vs, err := c.Videos(t.Context(), "tools")
		if err == nil && len(vs) == 1 && (vs[0].Status == scenedex.StatusReady || vs[0].Status == scenedex.StatusFailed) {
			if vs[0].Status != scenedex.StatusReady || vs[0].Filename != "clip one.mp4" {
				t.Fatalf("dropped-in video: %+v; want READY clip one.mp4", vs[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dropped-in video did not end READY or FAILED: %+v, %v", vs, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
