package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scenedex/scenedex/client"
	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/sqlite"
	"github.com/scenedex/scenedex/internal/testvideo"
	"github.com/scenedex/scenedex/internal/vecindex"
)

// The test binary doubles as the scenedex binary, so these tests run the real
// CLI in real processes (and can kill one with SIGKILL).
func TestMain(m *testing.M) {
	if os.Getenv("SCENEDEX_BE_CLI") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func cli(t *testing.T, url string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "SCENEDEX_BE_CLI=1", "SCENEDEX_URL="+url)
	return cmd
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startServe(t *testing.T, addr, data string, extra ...string) *exec.Cmd {
	t.Helper()
	url := "http://" + addr
	args := append([]string{"serve", "--addr", addr, "--data", data, "--chunk-seconds", "2", "--log-level", "warn"}, extra...)
	cmd := cli(t, url, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url + "/healthz"); err == nil {
			resp.Body.Close()
			return cmd
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("serve did not come up")
	return nil
}

// stop ends a server as a user's Ctrl-C would, and waits for it.
func stop(server *exec.Cmd) {
	server.Process.Signal(syscall.SIGTERM)
	server.Wait()
}

// openIndex opens the index a stopped server left in data.
func openIndex(t *testing.T, data string) *vecindex.Index {
	t.Helper()
	ix, err := vecindex.Open(context.Background(), filepath.Join(data, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix
}

// Kill -9 mid-ingest, start again: the video ends READY with exactly one
// indexed document per chunk.
func TestKillAndRestartMidIngest(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	addr := freeAddr(t)
	url := "http://" + addr
	video := testvideo.Make(t, dir, "long run ü.mp4", testvideo.Spec{Scenes: []int{0, 1, 2, 3, 4, 5}, SceneSecs: 5})

	server := startServe(t, addr, data, "--model-delay", "150ms", "--embed-workers", "1")
	out, err := cli(t, url, "upload", video, "--collection", "runs", "--json").Output()
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	var v scenedex.Video
	if err := json.Unmarshal(out, &v); err != nil || v.ID == "" {
		t.Fatalf("upload output %q: %v", out, err)
	}
	c := client.New(url)
	ctx := context.Background()
	deadline := time.Now().Add(time.Minute)
	for {
		got, err := c.Video(ctx, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ChunksDone >= 2 {
			if got.Status != scenedex.StatusProcessing || (got.ChunksTotal > 0 && got.ChunksDone >= got.ChunksTotal) {
				t.Fatalf("too late to kill mid-ingest: %+v", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress: %+v", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	server.Process.Signal(syscall.SIGKILL)
	server.Wait()

	server = startServe(t, addr, data)
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	final, err := c.Wait(wctx, v.ID, 50*time.Millisecond, nil)
	if err != nil || final.Status != scenedex.StatusReady {
		t.Fatalf("after restart: %+v %v", final, err)
	}
	if final.ChunksTotal != 15 || final.ChunksDone != 15 {
		t.Errorf("chunks %d/%d, want 15/15", final.ChunksDone, final.ChunksTotal)
	}
	stop(server)

	// Look inside: one document per chunk, ids 0..14, no dead letters.
	ix := openIndex(t, data)
	if ix.Len() != final.ChunksTotal {
		t.Errorf("index holds %d documents for %d chunks", ix.Len(), final.ChunksTotal)
	}
	for i := range final.ChunksTotal {
		if _, err := ix.Get(ctx, fmt.Sprintf("%s:%d", v.ID, i)); err != nil {
			t.Errorf("chunk %d: %v", i, err)
		}
	}
	qdb, err := sqlite.OpenQueues(ctx, filepath.Join(data, "queue.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer qdb.Close()
	for _, name := range []string{"workflow", "chunks"} {
		if dead, _ := qdb.Queue(name, time.Minute, 3).Dead(ctx); len(dead) != 0 {
			t.Errorf("%s dead letters: %+v", name, dead)
		}
	}
}

// Kill -9 in the middle of a model switch (descriptor -> the tiny CLIP
// fixture), start again as before: the switch goes on by itself and ends
// with every document the new model's, once, and no dead letters.
func TestKillAndRestartMidSwitch(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	addr := freeAddr(t)
	url := "http://" + addr
	video := testvideo.Make(t, dir, "v.mp4", testvideo.Spec{Scenes: []int{1, 3, 5, 0, 2}, SceneSecs: 4})
	server := startServe(t, addr, data, "--model-delay", "150ms", "--embed-workers", "1", "--ocr=false")
	if out, err := cli(t, url, "upload", video, "--wait").CombinedOutput(); err != nil {
		t.Fatalf("upload: %v\n%s", err, out)
	}
	tiny := filepath.Join("..", "..", "internal", "clip", "testdata", "tiny-clip")
	if out, err := cli(t, url, "reindex", "--model", tiny, "--no-wait").CombinedOutput(); err != nil || !strings.Contains(string(out), "switching to scenedex/tiny-clip: 0/10") {
		t.Fatalf("reindex --model --no-wait: %v\n%s", err, out)
	}
	c := client.New(url)
	ctx := context.Background()
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := c.ModelStatus(ctx)
		if err != nil || st.Switch == nil {
			t.Fatalf("too late to kill mid-switch: %+v %v", st, err)
		}
		if st.Switch.Done >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress: %+v", st.Switch)
		}
		time.Sleep(20 * time.Millisecond)
	}
	server.Process.Signal(syscall.SIGKILL)
	server.Wait()

	server = startServe(t, addr, data, "--ocr=false")
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if st, err := c.WaitSwitch(wctx, "scenedex/tiny-clip", 50*time.Millisecond, nil); err != nil || st.Model != "scenedex/tiny-clip" {
		t.Fatalf("after restart: %+v %v", st, err)
	}
	// Scene 3 (red noise) is 4-8 s: chunks 2 and 3.
	if out, err := cli(t, url, "search", "red", "-k", "1").CombinedOutput(); err != nil ||
		!(strings.Contains(string(out), "4.0-6.0s  (picture)") || strings.Contains(string(out), "6.0-8.0s  (picture)")) {
		t.Errorf("text search after the switch: %v\n%s", err, out)
	}
	stop(server)
	ix := openIndex(t, data)
	if ix.Len() != 10 || ix.Model() != "scenedex/tiny-clip" {
		t.Errorf("index holds %d documents of %s, want 10 of the new model", ix.Len(), ix.Model())
	}
	if done, _, err := ix.SwitchProgress(ctx); err != nil || done != 0 {
		t.Errorf("next vectors left: %d %v", done, err)
	}
	qdb, err := sqlite.OpenQueues(ctx, filepath.Join(data, "queue.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer qdb.Close()
	if dead, _ := qdb.Queue("chunks", time.Minute, 3).Dead(ctx); len(dead) != 0 {
		t.Errorf("dead letters: %+v", dead)
	}
}

// The CLI's commands against a running server, as a user types them.
func TestCLI(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	url := "http://" + addr
	startServe(t, addr, filepath.Join(dir, "data"))
	video := testvideo.Make(t, dir, "clip.mp4", testvideo.Spec{Scenes: []int{0, 2}, SceneSecs: 2})
	frame := filepath.Join(dir, "q.jpg")
	os.WriteFile(frame, testvideo.Frame(t, video, 3), 0o644)

	var progress strings.Builder
	up := cli(t, url, "upload", video, "--wait", "--metadata", `{"brand":"acme"}`)
	up.Stderr = &progress
	out, err := up.Output()
	if err != nil {
		t.Fatalf("upload --wait: %v", err)
	}
	id := string(out[:len(out)-1])
	// Piped, progress is plain lines (no bar redraws), ending on the truth.
	lines := strings.Split(strings.TrimSpace(progress.String()), "\n")
	if strings.ContainsAny(progress.String(), "\r\x1b") || !strings.HasPrefix(lines[0], "uploading clip.mp4 (") ||
		lines[len(lines)-1] != "READY 2/2 chunks, 4.0 s of video" {
		t.Errorf("upload --wait, stderr piped:\n%q", progress.String())
	}

	// A file that is not a video ends FAILED: --json still prints the video
	// (with its reason) on stdout, and the exit status says it failed.
	junk := filepath.Join(dir, "junk.mp4")
	os.WriteFile(junk, []byte(strings.Repeat("not a video ", 1000)), 0o644)
	var stderr strings.Builder
	cmd := cli(t, url, "upload", junk, "--wait", "--json")
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	var failed scenedex.Video
	if jerr := json.Unmarshal(out, &failed); err == nil || jerr != nil || failed.Status != scenedex.StatusFailed ||
		failed.Reason == "" || !strings.Contains(stderr.String(), "FAILED") {
		t.Errorf("upload --wait --json of junk: err=%v json=%v video=%+v stderr=%s; want exit≠0, a FAILED video with a reason",
			err, jerr, failed, stderr.String())
	}

	t.Setenv("SCENEDEX_HUB", "http://127.0.0.1:1")
	for _, tc := range []struct {
		args    []string
		wantErr bool
		want    string
	}{
		{[]string{"status", id}, false, "READY"},
		{[]string{"videos"}, false, id},
		{[]string{"search", "--image", frame, "-k", "1"}, false, "2.0-4.0s"},
		{[]string{"search", "--like", id + "@0.5"}, false, id},
		{[]string{"search", "a crowd celebrating"}, false, "no matching scenes"}, // words alone answer: none shown
		{[]string{"search", "clip"}, false, "(words)"},                           // the filename is a word
		{[]string{"search", "--like", "nonsense"}, true, "VIDEO_ID@SECONDS"},
		{[]string{"status", "nope"}, true, "not found"},
		{[]string{"upload", filepath.Join(dir, "missing.mp4")}, true, "no such file"},
		{[]string{"bogus"}, true, "unknown command"},
		{[]string{"dead-letters"}, false, `"chunks": []`},
		// The filename is a word: both scenes show "clip"; nothing shows "zebra".
		{[]string{"concepts", "clip", "zebra"}, false, "clip  2 scenes (picture 0, words 2)\n  (the model does not embed text"},
		{[]string{"concepts", "zebra", "--threshold", "0.3"}, false, "(threshold 0.30)\n\nzebra  0 scenes"},
		{[]string{"concepts", "--csv", "clip"}, false, "concept,kind,collection,count,capped,threshold\nclip,text,*,2,false,0.25\nclip,text,default,2,false,0.25\n"},
		{[]string{"concepts", "--image", frame, "--best", "1", "--threshold", "0.9"}, false, "q.jpg  1 scenes (picture 1, words 0)"},
		{[]string{"concepts"}, true, "give concepts"},
		{[]string{"model", "list", "--data", dir}, false, "known to pull: [clip-vit-base-patch32]"},
		{[]string{"model", "pull", "nope", "--data", dir}, true, `unknown model "nope"`},
		{[]string{"model", "pull", "clip-vit-base-patch32", "--data", dir}, true, "cannot reach the model hub"}, // SCENEDEX_HUB: a closed port
		{[]string{"model", "pull", "clip-vit-base-patch32", "--data", dir}, true, "place the files by hand"},
		{[]string{"serve", "--data", dir, "--model", "clip-vit-base-patch32"}, true, "scenedex model pull clip-vit-base-patch32"},
		{[]string{"concepts", "x", "--threshold", "2"}, true, "threshold must be between -1 and 1"},
		{[]string{"reindex", id}, false, "queued"},
		{[]string{"reindex", "--status"}, false, "live model scenedex-hsv-hog-v1; no switch under way"},
		{[]string{"reindex", "--cancel"}, true, "no model switch is under way"},
		{[]string{"reindex", "--model", "nope"}, true, `model "nope" is not in`},
		{[]string{"reindex", "--model", "clip-vit-base-patch32", "--collection", "default"}, true, "a model switch re-embeds every video of every collection"},
		// A model switch to the tiny CLIP fixture: waits, and ends on the truth.
		{[]string{"reindex", "--model", filepath.Join("..", "..", "internal", "clip", "testdata", "tiny-clip")}, false,
			"live model scenedex/tiny-clip; no switch under way"},
		{[]string{"reindex", "--status", "--json"}, false, `"model": "scenedex/tiny-clip"`},
		{[]string{"reprocess", id}, true, "only FAILED videos are reprocessed"},
		{[]string{"delete", id}, false, "deleted"},
		{[]string{"status", id}, true, "not found"},
	} {
		out, err := cli(t, url, tc.args...).CombinedOutput()
		if (err != nil) != tc.wantErr || !strings.Contains(string(out), tc.want) {
			t.Errorf("scenedex %v: err=%v out=%s; want error=%v and %q", tc.args, err, out, tc.wantErr, tc.want)
		}
	}
}

// serve --model NAME uses the store's folder of that name: with the tiny CLIP
// fixture placed there by hand (as `model pull` would), a text search is
// answered by the model even with OCR off (without it, it is refused).
func TestServeModelByName(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	src := filepath.Join("..", "..", "internal", "clip", "testdata", "tiny-clip")
	filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		dst := filepath.Join(data, "models", "tiny", rel)
		os.MkdirAll(filepath.Dir(dst), 0o755)
		b, _ := os.ReadFile(p)
		return os.WriteFile(dst, b, 0o644)
	})
	out, err := cli(t, "", "model", "list", "--data", data).Output()
	if err != nil || !strings.Contains(string(out), "tiny") || !strings.Contains(string(out), "ready") {
		t.Fatalf("model list: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	startServe(t, addr, data, "--model", "tiny", "--ocr=false")
	if out, err := cli(t, "http://"+addr, "search", "a crowd celebrating").CombinedOutput(); err != nil || !strings.Contains(string(out), "no matching scenes") {
		t.Errorf("text search with the model: %v\n%s", err, out)
	}
}
