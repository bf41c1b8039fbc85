package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scenedex/scenedex/client"
	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/sqlite"
	"github.com/scenedex/scenedex/internal/testvideo"
)

// Kill -9 while 12 DELETEs run at once (as soon as the first answers), then
// look inside: each video is gone or DELETING (its tombstone), never READY
// with part of it removed. Start again: every delete is completed — record,
// documents, chunk files, upload — and search answers for none of them.
func TestKillDuringDeletes(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	addr := freeAddr(t)
	url := "http://" + addr
	ctx := context.Background()
	video := testvideo.Make(t, dir, "v.mp4", testvideo.Spec{Scenes: []int{0, 1}, SceneSecs: 2})  // two chunks
	short := testvideo.Make(t, dir, "short.mp4", testvideo.Spec{Scenes: []int{2}, SceneSecs: 2}) // one: quicker

	server := startServe(t, addr, data, "--ocr=false")
	c := client.New(url)
	upload := func(path, collection string) client.Video {
		v, err := c.UploadFile(ctx, path, client.UploadOptions{Collection: collection})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	keep := upload(video, "kept")
	doomed := make([]client.Video, 12)
	for i := range doomed {
		doomed[i] = upload(short, "doomed")
	}
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for _, v := range append([]client.Video{keep}, doomed...) {
		if got, err := c.Wait(wctx, v.ID, 50*time.Millisecond, nil); err != nil || got.Status != scenedex.StatusReady {
			t.Fatalf("video %s: %+v %v", v.ID, got, err)
		}
	}
	var wg sync.WaitGroup
	answered := make(chan struct{}, len(doomed))
	for _, v := range doomed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.Delete(ctx, v.ID) == nil {
				answered <- struct{}{}
			}
		}()
	}
	select {
	case <-answered:
	case <-time.After(30 * time.Second):
		t.Fatal("no DELETE answered")
	}
	server.Process.Signal(syscall.SIGKILL)
	server.Wait()
	wg.Wait()

	cut := inspectDeletes(t, data, doomed)
	t.Logf("%d of %d deletes were cut short by the kill", len(cut), len(doomed))

	server = startServe(t, addr, data, "--ocr=false")
	for _, v := range doomed {
		deadline := time.Now().Add(30 * time.Second)
		for {
			got, err := c.Video(ctx, v.ID)
			if notFound(err) {
				break
			}
			if err == nil && !cut[v.ID] && got.Status == scenedex.StatusReady {
				// Its DELETE never reached the server: sent again, as a
				// user would.
				if err := c.Delete(ctx, v.ID); err != nil {
					t.Fatalf("delete %s again: %v", v.ID, err)
				}
				continue
			}
			if time.Now().After(deadline) {
				t.Fatalf("video %s after restart: %+v %v, want not found", v.ID, got, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	hits, err := c.Search(ctx, client.Query{Like: &scenedex.LikeRef{VideoID: keep.ID, T: 0.5}, K: 100})
	if err != nil || len(hits) == 0 {
		t.Fatalf("search after restart: %v %v", hits, err)
	}
	for _, h := range hits {
		if h.VideoID != keep.ID {
			t.Errorf("search answered with deleted video %s", h.VideoID)
		}
	}
	if _, err := c.Search(ctx, client.Query{Like: &scenedex.LikeRef{VideoID: doomed[0].ID, T: 0.5}}); !notFound(err) {
		t.Errorf("search from a deleted video: %v, want not found", err)
	}
	stop(server)
	ix := openIndex(t, data)
	if n := ix.Len(); n != 2 {
		t.Errorf("index holds %d documents, want the kept video's 2", n)
	}
	for _, v := range doomed {
		if _, err := os.Stat(filepath.Join(data, "scenedex", v.Key)); !os.IsNotExist(err) {
			t.Errorf("upload of deleted video %s is still there: %v", v.ID, err)
		}
		// Files, not folders: empty folders left behind are another item of #16.
		filepath.WalkDir(filepath.Join(data, "scenedex", "chunks", v.ID), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				t.Errorf("chunk file of deleted video %s is still there: %s", v.ID, p)
			}
			return nil
		})
	}
}

func notFound(err error) bool {
	var api *client.APIError
	return errors.As(err, &api) && api.Code == client.CodeNotFound
}

// inspectDeletes opens the catalog and index a killed server left and
// checks each video is gone (with its documents), DELETING, or whole; it
// returns the DELETING ones.
func inspectDeletes(t *testing.T, data string, vs []client.Video) map[string]bool {
	t.Helper()
	ctx := context.Background()
	cat, err := sqlite.OpenCatalog(ctx, filepath.Join(data, "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	ix := openIndex(t, data)
	defer ix.Close()
	cut := map[string]bool{}
	for _, v := range vs {
		got, err := cat.Get(ctx, v.ID)
		switch {
		case scenedex.ErrorCode(err) == scenedex.CodeNotFound:
			for i := range 4 { // more than a video has
				if _, err := ix.Get(ctx, scenedex.ChunkID(v.ID, i)); err == nil {
					t.Errorf("video %s has no record but its chunk %d is indexed", v.ID, i)
				}
			}
		case err != nil:
			t.Fatal(err)
		case got.Status == scenedex.StatusDeleting:
			cut[v.ID] = true
		default:
			// Untouched is fine only if whole: every document there.
			for i := range got.ChunksTotal {
				if _, err := ix.Get(ctx, scenedex.ChunkID(v.ID, i)); err != nil {
					t.Errorf("video %s is %s but its chunk %d is gone: %v", v.ID, got.Status, i, err)
				}
			}
		}
	}
	return cut
}
