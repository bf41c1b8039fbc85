package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/scenedex/scenedex/internal/scenedex"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock                   { return &clock{t: time.Unix(1_700_000_000, 0)} }

// testQueue opens a queue of 3 attempts in a fresh database, on a clock the
// test moves.
func testQueue(t *testing.T, name string, visibility time.Duration) (*Queue, *clock) {
	t.Helper()
	qdb, err := OpenQueues(context.Background(), filepath.Join(t.TempDir(), "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { qdb.Close() })
	clk := newClock()
	q := qdb.Queue(name, visibility, 3)
	q.now = clk.now
	return q, clk
}

func TestQueueSQSSemantics(t *testing.T) {
	ctx := context.Background()
	q, clk := testQueue(t, "embed", 30*time.Second)

	if err := q.Send(ctx, Message{ID: "v:0", Body: []byte("a")}, Message{ID: "v:1", Body: []byte("b")}); err != nil {
		t.Fatal(err)
	}
	// Duplicate send is ignored.
	if err := q.Send(ctx, Message{ID: "v:0", Body: []byte("changed")}); err != nil {
		t.Fatal(err)
	}
	got, dead, err := q.Receive(ctx, 10)
	if err != nil || len(got) != 2 || len(dead) != 0 {
		t.Fatalf("receive: %v %v %v", got, dead, err)
	}
	if string(got[0].Body) != "a" || got[0].Attempt != 1 {
		t.Errorf("first delivery %+v", got[0])
	}
	// Invisible while leased.
	if again, _, _ := q.Receive(ctx, 10); len(again) != 0 {
		t.Fatalf("leased messages delivered again: %v", again)
	}
	if err := q.Ack(ctx, got[0]); err != nil {
		t.Fatal(err)
	}
	// v:1 never acked: back after the visibility timeout, up to 3 deliveries, then dead.
	for attempt := 2; attempt <= 3; attempt++ {
		clk.advance(31 * time.Second)
		again, _, err := q.Receive(ctx, 10)
		if err != nil || len(again) != 1 || again[0].ID != "v:1" || again[0].Attempt != attempt {
			t.Fatalf("attempt %d: %+v %v", attempt, again, err)
		}
		q.Nack(ctx, again[0], errors.New("model down"), 0)
	}
	clk.advance(time.Second)
	again, dead, err := q.Receive(ctx, 10)
	if err != nil || len(again) != 0 || len(dead) != 1 || dead[0].LastError != "model down" {
		t.Fatalf("after 3 attempts: got %v dead %+v err %v", again, dead, err)
	}
	list, _ := q.Dead(ctx)
	if len(list) != 1 || list[0].ID != "v:1" {
		t.Fatalf("dead list %+v", list)
	}
	// A done message is not re-queued by a duplicate send.
	q.Send(ctx, Message{ID: "v:0", Body: []byte("a")})
	if n, _ := q.Pending(ctx); n != 0 {
		t.Fatalf("pending = %d, want 0", n)
	}
	if n, err := q.Redrive(ctx); err != nil || n != 1 {
		t.Fatalf("redrive = %d %v", n, err)
	}
	again, _, _ = q.Receive(ctx, 10)
	if len(again) != 1 || again[0].Attempt != 1 {
		t.Fatalf("after redrive: %+v", again)
	}
	// A stale receipt cannot ack.
	stale := again[0]
	stale.Receipt = "old"
	q.Ack(ctx, stale)
	if n, _ := q.Pending(ctx); n != 1 {
		t.Fatalf("stale ack took effect")
	}
	// Leases survive a restart only until ReleaseLeases.
	if n, err := q.ReleaseLeases(ctx); err != nil || n != 1 {
		t.Fatalf("release = %d %v", n, err)
	}
	if again, _, _ := q.Receive(ctx, 10); len(again) != 1 || again[0].Attempt != 2 {
		t.Fatalf("after release: %+v", again)
	}
}

func TestCatalog(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	c, err := OpenCatalog(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	v := scenedex.Video{ID: "abc", Collection: "ads", Filename: "spot ü.mp4", Key: "uploads/ads/abc/spot_ü.mp4",
		Status: scenedex.StatusUploading, Metadata: map[string]string{"brand": "acme"}}
	if err := c.Create(ctx, v); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, v); scenedex.ErrorCode(err) != scenedex.CodeConflict {
		t.Fatalf("second create: %v", err)
	}
	if _, err := c.Get(ctx, "nope"); scenedex.ErrorCode(err) != scenedex.CodeNotFound {
		t.Fatalf("get unknown: %v", err)
	}
	if _, err := c.Update(ctx, "abc", func(v *scenedex.Video) error { v.Status = scenedex.StatusProcessing; v.ChunksTotal = 2; return nil }); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 0, 1, 1} {
		if _, err := c.ChunkDone(ctx, "abc", i); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	c, err = OpenCatalog(ctx, path) // durable across reopen
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, "abc")
	if err != nil {
		t.Fatal(err)
	}
	if got.ChunksDone != 2 || got.Status != scenedex.StatusProcessing || got.Metadata["brand"] != "acme" || got.Filename != "spot ü.mp4" {
		t.Errorf("got %+v", got)
	}
	if l, _ := c.List(ctx, scenedex.ListQuery{Collection: "ads"}); len(l.Videos) != 1 || l.Next != "" {
		t.Errorf("list ads = %+v", l)
	}
	if l, _ := c.List(ctx, scenedex.ListQuery{Collection: "other"}); len(l.Videos) != 0 {
		t.Errorf("list other = %+v", l)
	}
	if f, err := c.FindByKey(ctx, v.Key); err != nil || f.ID != "abc" {
		t.Errorf("find by key: %v %v", f, err)
	}
	if err := c.Delete(ctx, "abc"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "abc"); scenedex.ErrorCode(err) != scenedex.CodeNotFound {
		t.Fatalf("delete twice: %v", err)
	}
}

// Pages follow each other without gaps or repeats, newest first, also when
// videos share a creation time and while new ones arrive.
func TestListPages(t *testing.T) {
	ctx := context.Background()
	c, err := OpenCatalog(ctx, filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 25 {
		v := scenedex.Video{ID: fmt.Sprintf("v%02d", i), Collection: []string{"ads", "talks"}[i%2], Key: fmt.Sprint("k", i),
			Status: scenedex.StatusReady, CreatedAt: base.Add(time.Duration(i/3) * time.Second), UpdatedAt: base}
		if err := c.Create(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		page, err := c.List(ctx, scenedex.ListQuery{Limit: 4, Cursor: cursor})
		if err != nil || len(page.Videos) > 4 || pages > 10 {
			t.Fatalf("page %d: %+v %v", pages, page, err)
		}
		if pages == 0 { // a video arriving meanwhile is newer: it does not shift later pages
			c.Create(ctx, scenedex.Video{ID: "late", Collection: "ads", Key: "late", Status: scenedex.StatusUploading, CreatedAt: base.Add(time.Hour), UpdatedAt: base})
		}
		for _, v := range page.Videos {
			seen = append(seen, v.ID)
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	if len(seen) != 25 || seen[0] != "v24" || seen[24] != "v02" { // newest first; ties by id
		t.Fatalf("pages gave %v", seen)
	}
	uniq := map[string]bool{}
	for _, id := range seen {
		uniq[id] = true
	}
	if len(uniq) != 25 {
		t.Fatalf("repeats: %v", seen)
	}
	ads, _ := c.List(ctx, scenedex.ListQuery{Collection: "ads", Limit: 100})
	if len(ads.Videos) != 14 || ads.Next != "" {
		t.Fatalf("ads: %d videos, next %q", len(ads.Videos), ads.Next)
	}
	for _, bad := range []scenedex.ListQuery{{Limit: -1}, {Limit: 5000}, {Cursor: "garbage"}} {
		if _, err := c.List(ctx, bad); scenedex.ErrorCode(err) != scenedex.CodeInvalid {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

// A consumer still at work keeps its message: extended, it is not delivered
// again when the first timeout passes, and it is once the extension does;
// a stale receipt extends nothing.
func TestQueueExtend(t *testing.T) {
	ctx := context.Background()
	q, clk := testQueue(t, "workflow", 30*time.Second)
	q.Send(ctx, Message{ID: "long", Body: []byte("x")})
	got, _, _ := q.Receive(ctx, 1)
	if len(got) != 1 {
		t.Fatal("not received")
	}
	clk.advance(20 * time.Second)
	if ok, err := q.Extend(ctx, got[0]); !ok || err != nil {
		t.Fatalf("extend: %v %v", ok, err)
	}
	clk.advance(20 * time.Second) // 40 s after receipt, 20 s after the extension
	if again, _, _ := q.Receive(ctx, 1); len(again) != 0 {
		t.Fatalf("an extended message was delivered again: %+v", again)
	}
	clk.advance(11 * time.Second)
	again, _, _ := q.Receive(ctx, 1)
	if len(again) != 1 || again[0].Attempt != 2 {
		t.Fatalf("after the extension: %+v", again)
	}
	if ok, _ := q.Extend(ctx, got[0]); ok {
		t.Fatal("a stale receipt extended the lease")
	}
}
