package burst

import (
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scenedex/scenedex/harness/template"
	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/testvideo"
)

var (
	burstN       = flag.Int("burst.n", envInt("BURST_N", 300), "videos dropped at once (make burst N=...)")
	burstAccount = flag.Int("burst.account", envInt("BURST_ACCOUNT", 10), "the account's Lambda concurrency (10: a new account's; the issue's premise)")
	burstSlots   = flag.Int("burst.slots", envInt("BURST_SLOTS", 8), "handlers running for real at once")
	burstCdkOut  = flag.String("burst.cdkout", os.Getenv("BURST_CDK_OUT"), "a cdk.out folder to run (default: synthesize this repository's stack with cdk.json)")
)

func envInt(k string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return n
	}
	return def
}

// TestBurst drops N short videos into the bucket at once and runs the
// synthesized stack until every workflow run has ended. It passes only if
// every video is READY, none FAILED, the index holds no duplicate document
// and the limits bit (some invocation was throttled).
func TestBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("the burst runs hundreds of videos")
	}
	n := *burstN
	var st *template.Stack
	var err error
	if *burstCdkOut != "" {
		st, err = template.Parse(*burstCdkOut)
	} else {
		st, err = template.Load()
	}
	if err != nil {
		t.Fatal(err)
	}
	h := New(t, Config{Stack: st, AccountLimit: *burstAccount, Slots: *burstSlots, Seed: 1})
	ctx := context.Background()

	// One short real video; each upload is its own object: the same MP4
	// with a distinct trailing "free" box (ISO BMFF's skippable box type).
	src := testvideo.Make(t, t.TempDir(), "clip.mp4", testvideo.Spec{Scenes: []int{0}, SceneSecs: 2, Size: "160x120"})
	clip, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	client := s3.NewFromConfig(h.AWS, func(o *s3.Options) { o.UsePathStyle = true })
	for i := range n {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(h.Bucket),
			Key: aws.String(fmt.Sprintf("uploads/burst/video-%05d.mp4", i)), Body: bytes.NewReader(withFreeBox(clip, i))}); err != nil {
			t.Fatal(err)
		}
	}

	wall := time.Now()
	runCtx, cancel := context.WithCancel(ctx)
	if deadline, ok := t.Deadline(); ok { // stop a minute before go test's -timeout, to report
		runCtx, cancel = context.WithDeadline(ctx, deadline.Add(-time.Minute))
	}
	defer cancel()
	h.Sim.Run(runCtx, func() bool {
		closed, _ := h.Closed()
		return closed >= n || h.Sim.Elapsed() > 30*24*time.Hour
	})
	closed, last := h.Closed()

	videos := map[scenedex.Status]int{}
	var reasons []string
	cat := h.Catalog()
	cursor := ""
	for {
		page, err := cat.List(ctx, scenedex.ListQuery{Collection: "burst", Limit: 100, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range page.Videos {
			videos[v.Status]++
			if v.Status == scenedex.StatusFailed && len(reasons) < 5 {
				reasons = append(reasons, v.Key+": "+v.Reason)
			}
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	_, dups := h.Duplicates()
	ready, failed := videos[scenedex.StatusReady], videos[scenedex.StatusFailed]
	line := fmt.Sprintf("burst: %d videos, %d READY, %d FAILED, %d duplicate documents, %d throttled invocations, longest wait %.0f s",
		n, ready, failed, dups, h.Lambda.Throttled(), last.Seconds())
	fmt.Println(line)
	t.Logf("%s (runs ended %d of %d; %d invocations; virtual %v in %v of wall time; handlers' wall time %v)", line, closed, n,
		h.Lambda.Invoked(), h.Sim.Elapsed().Round(time.Second), time.Since(wall).Round(time.Second), h.Lambda.RealTime())
	if ready != n || failed != 0 || dups != 0 || h.Lambda.Throttled() == 0 {
		sort.Strings(reasons)
		t.Errorf("want %d READY, 0 FAILED, 0 duplicates and some throttling; statuses %v; first reasons %q; start failures %q; dead letters %v",
			n, videos, reasons, first(h.StartFailures(), 5), h.DeadLetters())
	}
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }

// withFreeBox appends an ISO BMFF "free" box holding i: players and ffprobe
// skip it, so the video is the same and the object's bytes differ.
func withFreeBox(mp4 []byte, i int) []byte {
	payload := []byte(fmt.Sprintf("burst copy %d", i))
	box := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint32(box, uint32(8+len(payload)))
	copy(box[4:], "free")
	return append(append(append([]byte{}, mp4...), box...), payload...)
}
