// Package models keeps CLIP-family model folders under the data folder
// (<data>/models/<name>/, the transformers.js export layout) and fetches them
// from the Hugging Face hub: each file is resumed where a download stopped,
// checked against its sha256 — the registry's pin when it has one, else the
// hub's own sha256 of the LFS object (or its git blob id for small files) —
// and only then moved into place; the sums are kept in the folder's
// sha256sums. Nothing downloads at run time: `scenedex model pull` does.
package models

import (
	"bufio"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DefaultHub is where models are fetched from (SCENEDEX_HUB overrides).
const DefaultHub = "https://huggingface.co"

// Spec is a model the registry knows: where it lives on the hub and which
// files make it. Pins are sha256 sums (hex) by file, where known.
type Spec struct {
	Name     string
	Repo     string
	Revision string
	Licence  string
	Files    []string
	Pins     map[string]string
}

// Registry is the models `scenedex model pull NAME` knows.
var Registry = map[string]Spec{
	"clip-vit-base-patch32": {
		// The export pinned by commit, and each file by its sha256 as the hub
		// listed it at that commit (89,117,001 and 64,504,507 bytes for the
		// two graphs); a file that differs is refused before it is kept.
		Name: "clip-vit-base-patch32", Repo: "Xenova/clip-vit-base-patch32", Revision: "d15189d7028b43f1d3e65039190477f6af591c2a",
		Licence: "MIT (OpenAI CLIP)",
		Files: []string{"config.json", "preprocessor_config.json", "tokenizer.json",
			"onnx/vision_model_quantized.onnx", "onnx/text_model_quantized.onnx"},
		Pins: map[string]string{
			"config.json":                      "493ef57ff783e42d1530c91b53469b7fdf8db8a9c1408e86998fcb7899a4f495",
			"preprocessor_config.json":         "6f638fb9401a6d6296feff533ee7efe657b787c49f954f82f5906b36ef2a1b1f",
			"tokenizer.json":                   "f7f3b7af117d467b58374797691a6438d3e6b9e9cef800dfd5dced7f697a90cd",
			"onnx/vision_model_quantized.onnx": "583fd1110a514667812fee7d684952aaf82a99b959760c8d7dca7e0ab9839299",
			"onnx/text_model_quantized.onnx":   "73baab855d406190da9faa498cfedf65f15cf309f4cc7385b7b032e6d08e5c3a",
		},
	},
}

// Store is the models folder.
type Store struct{ Dir string }

// Installed is a model folder in the store.
type Installed struct {
	Name  string
	Dir   string
	Bytes int64
	Ready bool   // every file of the layout is there
	Note  string // what is missing, when not Ready
}

// layout is what a CLIP-family folder must hold.
var layout = []string{"preprocessor_config.json", "tokenizer.json", "onnx/vision_model_quantized.onnx", "onnx/text_model_quantized.onnx"}

// List returns the folders in the store, by name.
func (s Store) List() ([]Installed, error) {
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return []Installed{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := []Installed{}
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		out = append(out, Inspect(filepath.Join(s.Dir, e.Name())))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Inspect describes a model folder.
func Inspect(dir string) Installed {
	in := Installed{Name: filepath.Base(dir), Dir: dir, Ready: true}
	var missing []string
	for _, f := range layout {
		st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f)))
		if err != nil {
			missing = append(missing, f)
			in.Ready = false
			continue
		}
		in.Bytes += st.Size()
	}
	if len(missing) > 0 {
		in.Note = "missing " + strings.Join(missing, ", ")
	}
	return in
}

// Resolve turns `--model NAME|DIR` into a folder: a path that exists is
// itself; a name is the store's folder of that name, which must be ready.
func (s Store) Resolve(nameOrDir string) (string, error) {
	if st, err := os.Stat(nameOrDir); err == nil && st.IsDir() {
		return nameOrDir, nil
	}
	if strings.ContainsAny(nameOrDir, `/\`) {
		return "", fmt.Errorf("model folder %s does not exist", nameOrDir)
	}
	in := Inspect(filepath.Join(s.Dir, nameOrDir))
	if !in.Ready {
		hint := "`scenedex model pull " + nameOrDir + "`"
		if _, known := Registry[nameOrDir]; !known {
			hint = "`scenedex model list` shows what is there; known to pull: " + strings.Join(Known(), ", ")
		}
		return "", fmt.Errorf("model %q is not in %s (%s): %s", nameOrDir, s.Dir, in.Note, hint)
	}
	return in.Dir, nil
}

// Known lists the registry's names.
func Known() []string {
	var names []string
	for n := range Registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Puller fetches a model's files.
type Puller struct {
	Hub    string       // DefaultHub unless set
	HTTP   *http.Client // short dial timeout: an unreachable hub fails fast
	Report func(file string, done, total int64)
}

// NewPuller returns a Puller whose connections give up after 10 s.
func NewPuller(hub string) *Puller {
	if hub == "" {
		hub = DefaultHub
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{DialContext: dialer.DialContext, TLSHandshakeTimeout: 10 * time.Second, ResponseHeaderTimeout: 30 * time.Second,
		Proxy: http.ProxyFromEnvironment}
	return &Puller{Hub: strings.TrimRight(hub, "/"), HTTP: &http.Client{Transport: tr}}
}

// ManualHint says how to place a model by hand.
func ManualHint(spec Spec, dir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "place the files by hand: from %s/%s/tree/%s download\n", DefaultHub, spec.Repo, spec.Revision)
	for _, f := range spec.Files {
		fmt.Fprintf(&b, "  %s -> %s\n", f, filepath.Join(dir, filepath.FromSlash(f)))
		if pin := spec.Pins[f]; pin != "" {
			fmt.Fprintf(&b, "    sha256 %s\n", pin)
		}
	}
	b.WriteString("(check each file with sha256sum), then `scenedex model list` shows it and `scenedex serve --model " + spec.Name + "` uses it")
	return b.String()
}

// Pull fetches spec into dir. Files already there with the expected sum stay.
func (p *Puller) Pull(ctx context.Context, spec Spec, dir string) error {
	partial := filepath.Join(dir, ".partial")
	sums := map[string]string{}
	for _, file := range spec.Files {
		url := fmt.Sprintf("%s/%s/resolve/%s/%s", p.Hub, spec.Repo, spec.Revision, file)
		want, kind, size, err := p.expected(ctx, url, spec.Pins[file])
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		final := filepath.Join(dir, filepath.FromSlash(file))
		if got, err := fileSum(final, kind, size); err == nil && got == want {
			sums[file] = mustSHA256(final)
			continue // already here, whole
		}
		tmp := filepath.Join(partial, strings.ReplaceAll(file, "/", "__"))
		if err := os.MkdirAll(partial, 0o755); err != nil {
			return err
		}
		if err := p.download(ctx, url, tmp, file, size); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		got, err := fileSum(tmp, kind, size)
		if err != nil {
			return err
		}
		if got != want {
			os.Remove(tmp) // a wrong file is no start for a resume
			return fmt.Errorf("%s: %s is %s, want %s: refused (the download is discarded)", file, kind, got, want)
		}
		if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
			return err
		}
		if err := os.Rename(tmp, final); err != nil {
			return err
		}
		sums[file] = mustSHA256(final)
	}
	os.RemoveAll(partial)
	var lines []string
	for f, s := range sums {
		lines = append(lines, s+"  "+f)
	}
	sort.Strings(lines)
	return os.WriteFile(filepath.Join(dir, "sha256sums"), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

// expected is the sum a file must have: the pin, else what the hub says of
// it — X-Linked-Etag (the LFS object's sha256) or, for a file kept in git
// itself, its ETag (the git blob id: sha1 of "blob <size>\0" + content).
func (p *Puller) expected(ctx context.Context, url, pin string) (sum, kind string, size int64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
	if err != nil {
		return "", "", 0, err
	}
	resp, err := p.HTTP.Do(req)
	if err != nil {
		return "", "", 0, fmt.Errorf("cannot reach the model hub (%w)", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", "", 0, fmt.Errorf("the hub answered %s for %s", resp.Status, url)
	}
	size, _ = strconv.ParseInt(firstOf(resp.Header.Get("X-Linked-Size"), resp.Header.Get("Content-Length")), 10, 64)
	if pin != "" {
		return strings.ToLower(pin), "sha256", size, nil
	}
	if lfs := strings.Trim(resp.Header.Get("X-Linked-Etag"), `"W/`); len(lfs) == 64 {
		return strings.ToLower(lfs), "sha256", size, nil
	}
	if blob := strings.Trim(resp.Header.Get("ETag"), `"W/`); len(blob) == 40 {
		return strings.ToLower(blob), "git-blob", size, nil
	}
	return "", "", 0, fmt.Errorf("the hub gave no checksum for %s and none is pinned: refused", url)
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// download fetches url into tmp, resuming from what tmp already holds.
func (p *Puller) download(ctx context.Context, url, tmp, file string, size int64) error {
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	have, _ := f.Seek(0, io.SeekEnd)
	if size > 0 && have == size {
		return nil
	}
	if size > 0 && have > size {
		f.Truncate(0)
		have = 0
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	resp, err := p.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the model hub (%w)", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
	case resp.StatusCode == http.StatusOK:
		if err := f.Truncate(0); err != nil { // the hub sends it whole
			return err
		}
		have = 0
	default:
		return fmt.Errorf("the hub answered %s", resp.Status)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	buf := make([]byte, 256<<10)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
			have += int64(n)
			if p.Report != nil {
				p.Report(file, have, size)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			w.Flush()
			return fmt.Errorf("download stopped at %d bytes (run pull again to resume): %w", have, rerr)
		}
	}
	return w.Flush()
}

// fileSum is the sum of kind of path (whose size is size, for git blobs).
func fileSum(path, kind string, size int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var h hash.Hash = sha256.New()
	if kind == "git-blob" {
		st, err := f.Stat()
		if err != nil {
			return "", err
		}
		h = sha1.New()
		fmt.Fprintf(h, "blob %d\x00", st.Size())
	}
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func mustSHA256(path string) string {
	s, _ := fileSum(path, "sha256", 0)
	return s
}
