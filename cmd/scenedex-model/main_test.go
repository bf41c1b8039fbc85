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

// TestContainerLayout runs the real scenedex-model binary the way the image
// does, with no Docker engine here: the files model/Dockerfile copies from
// third_party/ are laid out under a folder exactly as under /opt/scenedex,
// SCENEDEX_ASSETS points at it as the image's ENV does, and the binary is
// started as SageMaker starts it (`serve`). /ping must answer and the OCR form
// must read a frame.
func TestContainerLayout(t *testing.T) {
	root := filepath.Join("..", "..")
	opt := t.TempDir()
	env := layOut(t, root, opt)
	bin := filepath.Join(t.TempDir(), "scenedex-model")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "serve", "--addr", addr)
	cmd.Env = append(os.Environ(), env...)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	url := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url + "/ping")
		if err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no /ping: %v\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	video := testvideo.Make(t, t.TempDir(), "v.mp4", testvideo.Spec{Scenes: []int{1}, SceneSecs: 1, Size: "1280x720",
		Overlay: "drawbox=x=80:y=80:w=700:h=90:color=black:t=fill," +
			testvideo.Text("Model container works", "dejavu/DejaVuSans.ttf", 40, "white", "100", "100", 0, 1)})
	body, _ := json.Marshal(modelserver.Request{Task: modelserver.TaskOCR, Inputs: []modelserver.Input{modelserver.EncodeImage(testvideo.Frame(t, video, 0.5))}})
	resp, err := http.Post(url+"/invocations", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out modelserver.OCRResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v\n%s", resp.StatusCode, err, logs.String())
	}
	if out.Model != "pp-ocrv4" || len(out.Texts) != 1 || len(out.Texts[0]) != 1 || !strings.EqualFold(out.Texts[0][0].Text, "Model container works") {
		t.Fatalf("ocr answer %+v", out)
	}
}

// layOut copies what the Dockerfile's COPY third_party/... lines copy into
// opt (standing for /opt/scenedex) and returns the image's ENV lines that
// point at /opt/scenedex, rewritten to opt.
func layOut(t *testing.T, root, opt string) []string {
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
		case len(fields) == 2 && fields[0] == "ENV" && strings.Contains(fields[1], "/opt/scenedex"):
			env = append(env, strings.ReplaceAll(fields[1], "/opt/scenedex", opt))
		}
	}
	if copies != 2 || len(env) != 1 {
		t.Fatalf("Dockerfile: %d third_party copies, %d ENV lines; the test knows 2 and 1", copies, len(env))
	}
	return append(env, fmt.Sprintf("HOME=%s", t.TempDir()))
}
