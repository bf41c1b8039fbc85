package s3local

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/scenedex/scenedex/internal/s3blob"
)

// Deleting objects removes the folders they leave empty (issue 16: a deleted
// video left its empty folders behind), and only those; a new object in a
// removed folder is stored again. The real SDK.
func TestDeleteRemovesEmptyFolders(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	client := s3blob.LocalClient(e.http.URL, e.srv.AccessKey, e.srv.Secret)
	bucket := aws.String("scenedex")
	put := func(key string) {
		t.Helper()
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String(key), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"chunks/v1/0/a.jpg", "chunks/v1/1/b.jpg", "chunks/v2/0/c.jpg", "docs/deep/er/d.txt"} {
		put(k)
	}
	if _, err := client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: bucket, Delete: &types.Delete{Objects: []types.ObjectIdentifier{
		{Key: aws.String("chunks/v1/0/a.jpg")}, {Key: aws.String("chunks/v1/1/b.jpg")}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: aws.String("docs/deep/er/d.txt")}); err != nil {
		t.Fatal(err)
	}
	root := e.srv.ObjectsDir()
	var dirs []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			dirs = append(dirs, filepath.ToSlash(rel))
		}
		return nil
	})
	if want := []string{".", "chunks", "chunks/v2", "chunks/v2/0"}; strings.Join(dirs, " ") != strings.Join(want, " ") {
		t.Errorf("folders left %v, want %v", dirs, want)
	}
	put("docs/deep/er/d.txt") // into folders that went
	if info, err := e.store.Head(ctx, "docs/deep/er/d.txt"); err != nil || info.Size != 1 {
		t.Errorf("put again: %+v %v", info, err)
	}
}
