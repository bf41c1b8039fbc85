package vecindex

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/words"
)

// Readers of every kind (words, picture, get) and writers (upsert, delete,
// next vectors) side by side on one index, over its one SQLite connection:
// nobody may hold the connection while waiting for the index lock, or the
// reverse (issue 16: SearchWords held the connection and waited for mu;
// Upsert held mu and waited for the connection). A deadlock fails the test
// with every goroutine's stack; the bound only turns a hang into a failure.
func TestNoLockOrderDeadlock(t *testing.T) {
	ctx := context.Background()
	ix, err := Open(ctx, filepath.Join(t.TempDir(), "ix.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	var seed []scenedex.Doc
	for i := range 300 {
		seed = append(seed, wordDoc("seed", i, "ads", "beach.mp4", "summer sale", fmt.Sprint("line ", i)))
	}
	if err := ix.Upsert(ctx, seed); err != nil {
		t.Fatal(err)
	}
	const rounds = 150
	var wg sync.WaitGroup
	run := func(f func(i int) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				if err := f(i); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	q := words.Parse("summer sale")
	for range 3 {
		run(func(int) error { _, err := ix.SearchWords(ctx, q, 250, scenedex.Filter{Collection: "ads"}); return err })
		run(func(int) error { _, err := ix.Search(ctx, []float32{1, 2, 0}, 5, scenedex.Filter{}); return err })
		run(func(i int) error {
			_, err := ix.Get(ctx, scenedex.ChunkID("seed", i))
			return err
		})
	}
	run(func(i int) error {
		return ix.Upsert(ctx, []scenedex.Doc{wordDoc(fmt.Sprint("new", i%5), i, "ads", "x.mp4", "summer sale")})
	})
	run(func(i int) error { return ix.DeleteVideo(ctx, fmt.Sprint("new", (i+2)%5)) })
	run(func(i int) error { return ix.UpsertNext(ctx, wordDoc("seed", i, "ads", "beach.mp4")) })

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		buf := make([]byte, 4<<20)
		fmt.Fprintf(os.Stderr, "%s\n", buf[:runtime.Stack(buf, true)])
		panic("index readers and writers deadlocked (lock order); goroutines above")
	}
}
