package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scenedex/scenedex/client"
	"github.com/scenedex/scenedex/internal/pipeline"
	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/testvideo"
)

// stressBudget bounds the stress test: a search, an upload or a delete that
// has not come back by then is a hang (a lock held while waiting for a
// database connection, or the reverse), and the test fails with every
// goroutine's stack instead of waiting for go test's own timeout.
const stressBudget = 2 * time.Minute

// TestStressSearchDuringIngest runs searches of every kind (words, picture,
// like, concepts, with filters) without pause while videos are uploaded and
// indexed, reindexed in place and deleted, on the real server: real ffmpeg,
// the tiny CLIP model (it embeds text, so text search runs both the words
// index and k-NN), real SQLite. `make test` runs it with -race. It prints
// the worst search latency seen during ingest.
func TestStressSearchDuringIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("stress test")
	}
	dir := t.TempDir()
	app, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", Data: filepath.Join(dir, "data"), Model: tinyDir(t), Log: slog.New(slog.DiscardHandler),
		Pipeline: pipeline.Config{ChunkSeconds: 2, WindowChunks: 2},
		Runner:   Options{EmbedWorkers: 3, Poll: 20 * time.Millisecond, RetryBase: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	c := client.New(app.URL)

	// One video indexed first, so every kind of search has something to
	// find (and "like" a moment to start from).
	first := testvideo.Make(t, dir, "first.mp4", testvideo.Spec{Scenes: []int{3, 5}, SceneSecs: 2})
	firstID := uploadFile(t, c, first, "stress")
	if v := waitFinal(t, c, firstID); v.Status != scenedex.StatusReady {
		t.Fatalf("%+v", v)
	}
	frame := testvideo.Frame(t, first, 1)
	var videos []string
	for i := range 4 {
		videos = append(videos, testvideo.Make(t, dir, fmt.Sprintf("clip%d.mp4", i), testvideo.Spec{Scenes: []int{i, i + 2}, SceneSecs: 2}))
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &stressStats{}
	var searchers sync.WaitGroup
	queries := stressQueries(firstID, frame)
	for w := range 5 {
		searchers.Add(1)
		go func() {
			defer searchers.Done()
			for i := w; ctx.Err() == nil; i++ {
				s.record(queries[i%len(queries)](ctx, c))
			}
		}()
	}

	done := make(chan error, 1)
	go func() { done <- stressIngest(ctx, c, videos) }()
	select {
	case err := <-done:
		cancel()
		searchers.Wait()
		if err != nil {
			// A request past its server-side deadline (503) is a hang the
			// server answered for: show where everything waits.
			dumpGoroutines("ingest failed")
			t.Fatal(err)
		}
	case <-time.After(stressBudget):
		dumpGoroutines(fmt.Sprintf("hung after %v: %d searches done", stressBudget, s.count()))
		// The hung goroutines hold the server: closing it would hang too.
		panic(fmt.Sprintf("stress: searches or ingest hung for %v (lock-order deadlock?); goroutine dump above", stressBudget))
	}
	n, worst, errs := s.result()
	if len(errs) > 0 {
		dumpGoroutines("searches failed")
	}
	for _, e := range errs {
		t.Error(e)
	}
	if n == 0 {
		t.Fatal("no search ran")
	}
	fmt.Printf("stress: %d searches during ingest, reindex and deletes, worst %d ms\n", n, worst.Milliseconds())
}

// dumpGoroutines prints every goroutine's stack to stderr: a deadlock shows
// as goroutines waiting on a lock and on a database connection.
func dumpGoroutines(why string) {
	buf := make([]byte, 8<<20)
	fmt.Fprintf(os.Stderr, "stress: %s; goroutines:\n%s\n", why, buf[:runtime.Stack(buf, true)])
}

type stressQuery func(ctx context.Context, c *client.Client) (time.Duration, error)

// stressQueries is one query of each kind; a "like" of a deleted moment, or a
// search racing a delete, may answer not found: nothing else is allowed.
func stressQueries(firstID string, frame []byte) []stressQuery {
	timed := func(f func(ctx context.Context, c *client.Client) error) stressQuery {
		return func(ctx context.Context, c *client.Client) (time.Duration, error) {
			start := time.Now()
			err := f(ctx, c)
			if ctx.Err() != nil || apiCode(err) == scenedex.CodeNotFound {
				err = nil
			}
			return time.Since(start), err
		}
	}
	search := func(q scenedex.Query) stressQuery {
		return timed(func(ctx context.Context, c *client.Client) error { _, err := c.Search(ctx, q); return err })
	}
	return []stressQuery{
		search(scenedex.Query{Text: "clip first", K: 20}),
		search(scenedex.Query{Image: frame, K: 5}),
		search(scenedex.Query{Like: &scenedex.LikeRef{VideoID: firstID, T: 1}, K: 5}),
		search(scenedex.Query{Text: `"clip3"`, Collection: "stress", Filters: map[string]string{"n": "3"}}),
		search(scenedex.Query{Image: frame, Collection: "other"}),
		timed(func(ctx context.Context, c *client.Client) error {
			_, err := c.Concepts(ctx, pipeline.ConceptsRequest{Concepts: []pipeline.Concept{{Text: "red"}, {Image: frame}}})
			return err
		}),
		timed(func(ctx context.Context, c *client.Client) error { _, err := c.Videos(ctx, "stress"); return err }),
	}
}

// stressIngest uploads the videos two at a time, reindexes in place once
// half are in, deletes every other one, and waits until the rest are READY.
func stressIngest(ctx context.Context, c *client.Client, videos []string) error {
	var ids []string
	for i, path := range videos {
		v, err := c.UploadFile(ctx, path, client.UploadOptions{Collection: "stress", Metadata: map[string]string{"n": fmt.Sprint(i)}})
		if err != nil {
			return fmt.Errorf("upload %s: %w", path, err)
		}
		ids = append(ids, v.ID)
		if i == len(videos)/2 {
			if _, err := c.Reindex(ctx, pipeline.ReindexRequest{}); err != nil {
				return fmt.Errorf("reindex: %w", err)
			}
		}
		if i%2 == 1 {
			if err := waitStatus(ctx, c, ids[i-1]); err != nil {
				return err
			}
			if err := c.Delete(ctx, ids[i-1]); err != nil {
				return fmt.Errorf("delete %s: %w", ids[i-1], err)
			}
		}
	}
	for i := 1; i < len(ids); i += 2 {
		if err := waitStatus(ctx, c, ids[i]); err != nil {
			return err
		}
	}
	return nil
}

func waitStatus(ctx context.Context, c *client.Client, id string) error {
	v, err := c.Wait(ctx, id, 20*time.Millisecond, nil)
	if err != nil {
		return fmt.Errorf("wait for %s: %w", id, err)
	}
	if v.Status != scenedex.StatusReady {
		return fmt.Errorf("video %s ended %s: %s", id, v.Status, v.Reason)
	}
	return nil
}

type stressStats struct {
	mu    sync.Mutex
	n     atomic.Int64
	worst time.Duration
	errs  []error
}

func (s *stressStats) record(d time.Duration, err error) {
	s.n.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.worst = max(s.worst, d)
	if err != nil && len(s.errs) < 10 {
		s.errs = append(s.errs, errors.New("search: "+err.Error()))
	}
}

func (s *stressStats) count() int64 { return s.n.Load() }

func (s *stressStats) result() (int64, time.Duration, []error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n.Load(), s.worst, s.errs
}
