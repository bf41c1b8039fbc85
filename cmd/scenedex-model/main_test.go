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
	"slices"
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
func startContainer(t testing.TB, clipModel string) (string, *bytes.Buffer) {
	t.Helper()
	env := layOut(t, filepath.Join("..", ".."), t.TempDir(), clipModel)
	url, logs, _ := runContainer(t, buildBinary(t), env)
	return url, logs
}

// buildBinary builds scenedex-model.
func buildBinary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "scenedex-model")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// runContainer starts bin as SageMaker does, with env, and returns once
// /ping answers (within 3 minutes, the serverless endpoint's limit).
func runContainer(t testing.TB, bin string, env []string) (string, *bytes.Buffer, *exec.Cmd) {
	t.Helper()
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
	deadline := time.Now().Add(3 * time.Minute)
	for {
		resp, err := http.Get(url + "/ping")
		if err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			return url, logs, cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("no /ping: %v\n%s", err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func invoke[T any](t testing.TB, url string, req modelserver.Request) T {
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
func layOut(t testing.TB, root, opt string, clipModel string) []string {
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

// BenchmarkContainerStart starts the model server as the SageMaker image
// runs it, with a CLIP model of ViT-B/32's size — graphs of its parameter
// counts (vision ~88 M, text ~63 M) with random float32 weights, four times
// the bytes of the quantized export (testdata/make_full_size.py) — and
// measures what the serverless endpoint limits: seconds from start to a
// healthy /ping (limit 3 minutes), a call of 16 frames as the pipeline sends
// them (the client's batch; limit 60 s, payload 4 MB), a text query, and
// the process's peak memory (limit 6144 MB). The endpoint's own start
// (image pull, a cold instance) needs an account.
func BenchmarkContainerStart(b *testing.B) {
	model := b.TempDir()
	if out, err := exec.Command("/usr/bin/python3", filepath.Join("..", "..", "internal", "clip", "testdata", "make_full_size.py"), model).CombinedOutput(); err != nil {
		b.Fatalf("make the full-size model (python3-onnx; make bench installs it): %v %s", err, out)
	}
	env := layOut(b, filepath.Join("..", ".."), b.TempDir(), model)
	bin := buildBinary(b)
	video := testvideo.Make(b, b.TempDir(), "v.mp4", testvideo.Spec{Scenes: []int{1, 3}, SceneSecs: 4, Size: "1280x720"})
	var frames []modelserver.Input
	payload := 0
	for i := range 16 {
		f := modelserver.EncodeImage(testvideo.Frame(b, video, 0.25+float64(i)*0.5, "-vf", "scale=398:224"))
		frames, payload = append(frames, f), payload+len(f.Image)
	}
	var starts, calls, texts []time.Duration
	var peak int64
	for b.Loop() {
		t0 := time.Now()
		url, logs, cmd := runContainer(b, bin, env)
		starts = append(starts, time.Since(t0))
		t1 := time.Now()
		if out := invoke[modelserver.Response](b, url, modelserver.Request{Inputs: frames}); len(out.Embeddings) != 16 || out.Dim != 512 {
			b.Fatalf("images: %d of %d\n%s", len(out.Embeddings), out.Dim, logs)
		}
		calls = append(calls, time.Since(t1))
		t2 := time.Now()
		if out := invoke[modelserver.Response](b, url, modelserver.Request{Inputs: []modelserver.Input{{Text: "a crowd celebrating"}}}); out.Dim != 512 {
			b.Fatalf("text: %+v", out)
		}
		texts = append(texts, time.Since(t2))
		peak = max(peak, peakRSS(b, cmd.Process.Pid))
		cmd.Process.Kill()
		cmd.Wait()
	}
	med := func(ds []time.Duration) float64 {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[len(s)/2].Seconds()
	}
	b.ReportMetric(med(starts), "s-to-ping")
	b.ReportMetric(med(calls), "s/16-frames")
	b.ReportMetric(med(texts), "s/text")
	b.ReportMetric(float64(peak)/(1<<20), "peak-MB")
	fmt.Fprintf(os.Stderr, "model container with a ViT-B/32-size CLIP (float32, 600 MB of graphs): /ping after %.2f s, 16 frames (%d KB of payload) in %.2f s, a text in %.3f s, peak RSS %d MB\n",
		med(starts), payload/1000, med(calls), med(texts), peak>>20)
}

// peakRSS is the process's high-water resident set (VmHWM), in bytes.
func peakRSS(t testing.TB, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
			var kb int64
			fmt.Sscan(f[1], &kb)
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}
