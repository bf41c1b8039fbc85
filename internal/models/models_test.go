package models

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var fixtureFiles = []string{"config.json", "preprocessor_config.json", "tokenizer.json", "onnx/vision_model_quantized.onnx", "onnx/text_model_quantized.onnx"}

// hub stands in for the Hugging Face hub's resolve endpoint (unreachable
// here), serving the tiny CLIP fixture as the hub serves files: HEAD with
// X-Linked-Etag (the LFS object's sha256) for the .onnx files and the git blob
// id as ETag for the small ones, GET with Range. It can cut a download short
// once, or serve altered bytes.
type hub struct {
	mu      sync.Mutex
	files   map[string][]byte
	cut     map[string]bool // cut the next GET of this file after half
	corrupt bool
	ranges  int
}

func newHub(t *testing.T) *hub {
	h := &hub{files: map[string][]byte{}, cut: map[string]bool{}}
	for _, f := range fixtureFiles {
		b, err := os.ReadFile(filepath.Join("..", "clip", "testdata", "tiny-clip", filepath.FromSlash(f)))
		if err != nil {
			t.Fatal(err)
		}
		h.files[f] = b
	}
	return h
}

func (h *hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	file, ok := strings.CutPrefix(r.URL.Path, "/org/tiny/resolve/main/")
	h.mu.Lock()
	data, have := h.files[file]
	cut := h.cut[file]
	if r.Method == http.MethodGet {
		delete(h.cut, file)
	}
	corrupt := h.corrupt
	h.mu.Unlock()
	if !ok || !have {
		http.NotFound(w, r)
		return
	}
	if strings.HasSuffix(file, ".onnx") {
		sum := sha256.Sum256(data)
		w.Header().Set("X-Linked-Etag", `"`+hex.EncodeToString(sum[:])+`"`)
		w.Header().Set("X-Linked-Size", strconv.Itoa(len(data)))
	} else {
		s := sha1.New()
		fmt.Fprintf(s, "blob %d\x00", len(data))
		s.Write(data)
		w.Header().Set("ETag", `"`+hex.EncodeToString(s.Sum(nil))+`"`)
	}
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		return
	}
	if corrupt {
		data = append([]byte("X"), data[1:]...)
	}
	start := 0
	if rg := r.Header.Get("Range"); rg != "" {
		fmt.Sscanf(rg, "bytes=%d-", &start)
		h.mu.Lock()
		h.ranges++
		h.mu.Unlock()
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(data)-1, len(data)))
		w.Header().Set("Content-Length", strconv.Itoa(len(data)-start))
		w.WriteHeader(http.StatusPartialContent)
	} else {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	}
	body := data[start:]
	if cut {
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the connection drops mid-file
	}
	w.Write(body)
}

func spec() Spec {
	return Spec{Name: "tiny", Repo: "org/tiny", Revision: "main", Files: fixtureFiles}
}

func TestPullResumesAndChecks(t *testing.T) {
	h := newHub(t)
	srv := httptest.NewServer(h)
	defer srv.Close()
	store := Store{Dir: t.TempDir()}
	dir := filepath.Join(store.Dir, "tiny")
	p := NewPuller(srv.URL)
	var reported int64
	p.Report = func(_ string, done, _ int64) { reported = done }
	ctx := context.Background()

	// The connection drops halfway through the text graph: pull fails,
	// saying how to go on; the file is not in place.
	h.cut["onnx/text_model_quantized.onnx"] = true
	err := p.Pull(ctx, spec(), dir)
	if err == nil || !strings.Contains(err.Error(), "run pull again to resume") {
		t.Fatalf("cut download: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "onnx", "text_model_quantized.onnx")); err == nil {
		t.Fatal("a half file was put in place")
	}
	if in := Inspect(dir); in.Ready {
		t.Fatal("ready after a failed pull")
	}
	// Again: it resumes (a Range request) and completes, checked.
	if err := p.Pull(ctx, spec(), dir); err != nil {
		t.Fatal(err)
	}
	if h.ranges == 0 || reported == 0 {
		t.Errorf("no resume (%d range requests), progress %d", h.ranges, reported)
	}
	for _, f := range fixtureFiles {
		got, _ := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f)))
		if string(got) != string(h.files[f]) {
			t.Errorf("%s differs", f)
		}
	}
	sums, _ := os.ReadFile(filepath.Join(dir, "sha256sums"))
	if strings.Count(string(sums), "\n") != len(fixtureFiles) {
		t.Errorf("sha256sums:\n%s", sums)
	}
	list, err := store.List()
	if err != nil || len(list) != 1 || !list[0].Ready || list[0].Name != "tiny" {
		t.Fatalf("list %+v %v", list, err)
	}
	if got, err := store.Resolve("tiny"); err != nil || got != dir {
		t.Errorf("resolve: %s %v", got, err)
	}

	// Altered bytes are refused and nothing replaces the good file.
	os.Remove(filepath.Join(dir, "tokenizer.json"))
	h.corrupt = true
	if err := p.Pull(ctx, spec(), dir); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("corrupt download: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); err == nil {
		t.Error("a corrupt file was put in place")
	}
	// A pin that does not match what the hub serves is refused too.
	h.corrupt = false
	pinned := spec()
	pinned.Pins = map[string]string{"tokenizer.json": strings.Repeat("0", 64)}
	if err := p.Pull(ctx, pinned, dir); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("pin mismatch: %v", err)
	}
}

func TestPullFailsFastWithoutAHub(t *testing.T) {
	// A closed port on loopback: refused at once (the real hub is
	// unreachable here, and the dial timeout bounds that case to 10 s).
	start := time.Now()
	err := NewPuller("http://127.0.0.1:1").Pull(context.Background(), Registry["clip-vit-base-patch32"], filepath.Join(t.TempDir(), "clip"))
	if err == nil || !strings.Contains(err.Error(), "cannot reach the model hub") {
		t.Fatalf("err %v", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("took %s", d)
	}
	hint := ManualHint(Registry["clip-vit-base-patch32"], "/data/models/clip-vit-base-patch32")
	for _, want := range []string{"https://huggingface.co/Xenova/clip-vit-base-patch32/tree/d15189d7028b43f1d3e65039190477f6af591c2a", "sha256 583fd1110a514667812fee7d684952aaf82a99b959760c8d7dca7e0ab9839299", "onnx/vision_model_quantized.onnx -> /data/models/clip-vit-base-patch32/onnx/vision_model_quantized.onnx", "serve --model clip-vit-base-patch32"} {
		if !strings.Contains(hint, want) {
			t.Errorf("hint lacks %q:\n%s", want, hint)
		}
	}
}

func TestResolve(t *testing.T) {
	store := Store{Dir: t.TempDir()}
	if _, err := store.Resolve("clip-vit-base-patch32"); err == nil || !strings.Contains(err.Error(), "scenedex model pull clip-vit-base-patch32") {
		t.Errorf("a known model not pulled: %v", err)
	}
	if _, err := store.Resolve("mystery"); err == nil || !strings.Contains(err.Error(), "known to pull: clip-vit-base-patch32") {
		t.Errorf("an unknown model: %v", err)
	}
	fixture := filepath.Join("..", "clip", "testdata", "tiny-clip")
	if got, err := store.Resolve(fixture); err != nil || got != fixture {
		t.Errorf("a folder: %s %v", got, err)
	}
	if _, err := store.Resolve("./no/such/dir"); err == nil {
		t.Error("a missing folder resolved")
	}
}

// TestRegistryPinsEveryFile: a registry model is fixed to one commit and
// every file it pulls has a sha256 pin, so a changed file on the hub is
// refused rather than trusted.
func TestRegistryPinsEveryFile(t *testing.T) {
	hex40 := regexp.MustCompile(`^[0-9a-f]{40}$`)
	hex64 := regexp.MustCompile(`^[0-9a-f]{64}$`)
	for name, spec := range Registry {
		if !hex40.MatchString(spec.Revision) {
			t.Errorf("%s: revision %q is not a commit id", name, spec.Revision)
		}
		for _, f := range spec.Files {
			if !hex64.MatchString(spec.Pins[f]) {
				t.Errorf("%s: %s has no sha256 pin (%q)", name, f, spec.Pins[f])
			}
		}
		if len(spec.Pins) != len(spec.Files) {
			t.Errorf("%s: %d pins for %d files", name, len(spec.Pins), len(spec.Files))
		}
	}
}
