package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scenedex/scenedex/internal/assets"
	"github.com/scenedex/scenedex/internal/modelserver"
	"github.com/scenedex/scenedex/internal/testvideo"
)

// startContainer runs the real scenedex-model binary the way the image
// does, with no Docker engine here: the files model/Dockerfile copies are laid
// out under a folder exactly as under /opt/scenedex (clipModel standing in for
// the model the image build pulls; "" for an image built with MODEL=),
// SCENEDEX_ASSETS points at it as the image's ENV does, and the binary is
// started as SageMaker starts it (`serve`). It returns once /ping answers.
func startContainer(t *testing.T, clipModel string) (string, *bytes.Buffer) {
	t.Helper()
	root := filepath.Join("..", "..")
	opt := t.TempDir()
	env := layOut(t, root, opt, clipModel)
	bin := filepath.Join(t.TempDir(), "scenedex-model")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "serve", "--addr", addr)
	cmd.Env = append(os.Environ(), env...)
	logs := &bytes.Buffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url + "/ping")
		if err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			return url, logs
		}
		if time.Now().After(deadline) {
			t.Fatalf("no /ping: %v\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func invoke[T any](t *testing.T, url string, req modelserver.Request) T {
	t.Helper()
	body, _ := json.Marshal(req)
	resp, err := http.Post(url+"/invocations", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out T
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, err)
	}
	return out
}

// An image built with MODEL= (no download): the built-in descriptor, and
// the OCR form reads a frame.
func TestContainerLayout(t *testing.T) {
	url, _ := startContainer(t, "")
	video := testvideo.Make(t, t.TempDir(), "v.mp4", testvideo.Spec{Scenes: []int{1}, SceneSecs: 1, Size: "1280x720",
		Overlay: "drawbox=x=80:y=80:w=700:h=90:color=black:t=fill," +
			testvideo.Text("Model container works", "dejavu/DejaVuSans.ttf", 40, "white", "100", "100", 0, 1)})
	out := invoke[modelserver.OCRResponse](t, url, modelserver.Request{Task: modelserver.TaskOCR, Inputs: []modelserver.Input{modelserver.EncodeImage(testvideo.Frame(t, video, 0.5))}})
	if out.Model != "pp-ocrv4" || len(out.Texts) != 1 || len(out.Texts[0]) != 1 || !strings.EqualFold(out.Texts[0][0].Text, "Model container works") {
		t.Fatalf("ocr answer %+v", out)
	}
	emb := invoke[modelserver.Response](t, url, modelserver.Request{Inputs: []modelserver.Input{modelserver.EncodeImage(testvideo.Frame(t, video, 0.5))}})
	if !strings.HasPrefix(emb.Model, "scenedex-hsv-hog") {
		t.Errorf("without a CLIP model the image answers with %q", emb.Model)
	}
}

// The default image carries a CLIP model at /opt/scenedex/models/clip: the
// container embeds text and images with it (the tiny fixture stands in for
// ViT-B/32, whose weights the image build pulls).
func TestContainerWithCLIP(t *testing.T) {
	url, logs := startContainer(t, filepath.Join("..", "..", "internal", "clip", "testdata", "tiny-clip"))
	text := invoke[modelserver.Response](t, url, modelserver.Request{Inputs: []modelserver.Input{{Text: "a photo of a cat"}}})
	video := testvideo.Make(t, t.TempDir(), "v.mp4", testvideo.Spec{Scenes: []int{2}, SceneSecs: 1})
	img := invoke[modelserver.Response](t, url, modelserver.Request{Inputs: []modelserver.Input{modelserver.EncodeImage(testvideo.Frame(t, video, 0.5))}})
	if len(text.Embeddings) != 1 || text.Dim == 0 || img.Dim != text.Dim || img.Model != text.Model || strings.HasPrefix(text.Model, "scenedex-hsv-hog") {
		t.Fatalf("text %s/%d, image %s/%d\n%s", text.Model, text.Dim, img.Model, img.Dim, logs.String())
	}
	if !strings.Contains(logs.String(), `"msg":"model loaded"`) {
		t.Errorf("logs:\n%s", logs.String())
	}
}

// layOut copies what the Dockerfile's COPY third_party/... lines copy into
// opt (standing for /opt/scenedex) and returns the image's ENV lines that
// point at /opt/scenedex, rewritten to opt.
func layOut(t *testing.T, root, opt string, clipModel string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "model", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var env []string
	copies := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) == 3 && fields[0] == "COPY" && strings.HasPrefix(fields[1], "third_party/"):
			dst := filepath.Join(opt, strings.TrimPrefix(fields[2], "/opt/scenedex/"))
			src := filepath.Join(root, fields[1])
			if strings.HasSuffix(fields[2], "/") {
				if err := os.MkdirAll(filepath.Dir(filepath.Clean(dst)), 0o755); err != nil {
					t.Fatal(err)
				}
				dst = filepath.Clean(dst)
			} else if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(src); err != nil {
				t.Fatalf("Dockerfile copies %s, which `make models` did not make: %v (%v)", src, err, assets.ErrMissing)
			}
			abs, _ := filepath.Abs(src)
			if err := os.Symlink(abs, dst); err != nil {
				t.Fatal(err)
			}
			copies++
		case len(fields) == 4 && fields[0] == "COPY" && fields[1] == "--from=build" && fields[2] == "/models/clip/":
			// What `scenedex-model pull` fetched while the image was built
			// (the hub is unreachable here: the tiny fixture stands in).
			if clipModel != "" {
				abs, _ := filepath.Abs(clipModel)
				dst := filepath.Clean(filepath.Join(opt, strings.TrimPrefix(fields[3], "/opt/scenedex/")))
				os.MkdirAll(filepath.Dir(dst), 0o755)
				if err := os.Symlink(abs, dst); err != nil {
					t.Fatal(err)
				}
			}
			copies++
		case len(fields) == 2 && fields[0] == "ENV" && strings.Contains(fields[1], "/opt/scenedex"):
			env = append(env, strings.ReplaceAll(fields[1], "/opt/scenedex", opt))
		}
	}
	if copies != 3 || len(env) != 1 {
		t.Fatalf("Dockerfile: %d copies of assets and the model, %d ENV lines; the test knows 3 and 1", copies, len(env))
	}
	return append(env, fmt.Sprintf("HOME=%s", t.TempDir()))
}
