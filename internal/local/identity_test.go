package local

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scenedex/scenedex/internal/pipeline"
	"github.com/scenedex/scenedex/internal/scenedex"
)

// Objects put with boto3 under uploads/ are seen twice: by their Object
// Created event and by the drop-in sweep (here sweeping every 10 ms with no
// settle time, so it races each event). Both name the object by its ETag, so
// each object makes one record, whichever sees it first.
func TestDropInSweepAndEventAgree(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import boto3").Run(); err != nil {
		t.Fatal("python3-boto3 is missing: make test installs it (scripts/ensure-tools.sh --test)")
	}
	dir := t.TempDir()
	app, err := Start(context.Background(), Config{
		Addr: "127.0.0.1:0", Data: filepath.Join(dir, "data"),
		Pipeline: pipeline.Config{ChunkSeconds: chunkSecs, WindowChunks: 3},
		Runner:   Options{Poll: 10 * time.Millisecond, DropInSettle: time.Nanosecond, SweepEvery: 10 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	script := `
import os, boto3, botocore
s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"], config=botocore.config.Config(signature_version="s3v4"))
for i in range(8):
    s3.put_object(Bucket="scenedex", Key="uploads/dupb/%d.mp4" % i, Body=b"not a video %d" % i * 100)
print("put 8")
`
	cmd := exec.Command(python, "-c", script)
	cmd.Env = append(os.Environ(), "HOME="+dir, "AWS_ACCESS_KEY_ID="+app.S3.AccessKey, "AWS_SECRET_ACCESS_KEY="+app.S3.Secret,
		"AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "ENDPOINT="+app.URL)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "put 8") {
		t.Fatalf("boto3: %v\n%s", err, out)
	}
	ctx := context.Background()
	deadline := time.Now().Add(time.Minute)
	for {
		page, err := app.Catalog.List(ctx, scenedex.ListQuery{Collection: "dupb"})
		if err != nil {
			t.Fatal(err)
		}
		final := 0
		for _, v := range page.Videos {
			if v.Status.Final() {
				final++
			}
		}
		if final >= 8 && final == len(page.Videos) {
			time.Sleep(500 * time.Millisecond) // more sweeps: nothing new may appear
			if again, _ := app.Catalog.List(ctx, scenedex.ListQuery{Collection: "dupb"}); len(again.Videos) != 8 {
				keys := map[string]int{}
				for _, v := range again.Videos {
					keys[v.Key]++
				}
				t.Fatalf("%d records for 8 objects: %v", len(again.Videos), keys)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not all final: %+v", page.Videos)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
