// Package ffmpeg runs ffprobe and ffmpeg: probing a video, and cutting one time
// window of it into chunks, a thumbnail and sampled frames in a single pass.
// Inputs are file paths or http(s) URLs (presigned GETs), which the tools read
// through a range proxy on 127.0.0.1 (package rangeproxy); a window is reached
// by seeking (-ss before -i), so a remote video is never downloaded whole.
package ffmpeg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"

	"github.com/scenedex/scenedex/internal/rangeproxy"
	"github.com/scenedex/scenedex/internal/scenedex"
)

// Tool locates the binaries.
type Tool struct {
	FFmpeg  string
	FFprobe string
	// HTTP reads remote inputs for the tools (nil: rangeproxy.DefaultClient).
	HTTP *http.Client
	// Limits bound each child (Find sets DefaultLimits; zero: none).
	Limits Limits
}

// open gives the tools what to read for input: a remote input is served to
// them by a range proxy on 127.0.0.1 (they never resolve names or speak TLS
// themselves); a file is read as it is. done stops the proxy.
func (t Tool) open(input string) (local string, done func(), err error) {
	if !isRemote(input) {
		return input, func() {}, nil
	}
	p, err := rangeproxy.Start(input, t.HTTP)
	if err != nil {
		return "", nil, scenedex.Wrap(scenedex.CodeUnavailable, err, "serve the input to ffmpeg")
	}
	return p.URL, func() { p.Close() }, nil
}

// Find returns the binaries in dir if given (the Lambda layer's /opt/bin), else
// from PATH.
func Find(dir string) (Tool, error) {
	t := Tool{FFmpeg: "ffmpeg", FFprobe: "ffprobe", Limits: DefaultLimits}
	if dir != "" {
		t.FFmpeg, t.FFprobe = filepath.Join(dir, "ffmpeg"), filepath.Join(dir, "ffprobe")
	}
	var err error
	if t.FFmpeg, err = exec.LookPath(t.FFmpeg); err != nil {
		return t, fmt.Errorf("ffmpeg not found (install it: apt-get install -y ffmpeg): %w", err)
	}
	if t.FFprobe, err = exec.LookPath(t.FFprobe); err != nil {
		return t, fmt.Errorf("ffprobe not found (install it: apt-get install -y ffmpeg): %w", err)
	}
	return t, nil
}

// run executes a binary under t.Limits and returns stdout; on failure the
// error carries the last lines of stderr, classified (see classify).
func (t Tool) run(ctx context.Context, bin string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(bin), err)
	}
	if err := t.Limits.apply(cmd.Process.Pid); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("%s: limit its resources: %w", filepath.Base(bin), err)
	}
	if err := cmd.Wait(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Base(bin), ctx.Err())
		}
		return nil, t.Limits.classify(filepath.Base(bin), tail(stderr.String(), 3), err)
	}
	return stdout.Bytes(), nil
}

// classify separates "this input is not a usable video" (permanent, and a
// limit of l reached is one) from "the input could not be read right now"
// (worth a retry).
func (l Limits) classify(bin, msg string, err error) error {
	if msg == "" {
		msg = err.Error()
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if lerr := l.limitError(bin, msg, err, exitErr.ProcessState); lerr != nil {
			return lerr
		}
	}
	lower := strings.ToLower(msg)
	for _, transient := range []string{"server returned 5", "connection refused", "connection reset", "timed out", "timeout", "temporarily unavailable", "server returned 403", "i/o error", "broken pipe", "no route to host", "failed to resolve hostname"} {
		if strings.Contains(lower, transient) {
			return scenedex.Wrap(scenedex.CodeUnavailable, err, "%s could not read the input: %s", bin, msg)
		}
	}
	if errors.As(err, &exitErr) {
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			// A crash of the tool is scenedex's fault, never the file's: retried.
			return scenedex.Wrap(scenedex.CodeUnavailable, err, "%s crashed with signal %s (%s); this is a fault of the tool, not of the video",
				bin, signalName(ws.Signal()), msg)
		}
		return scenedex.Wrap(scenedex.CodeNotVideo, err, "%s: %s", bin, msg)
	}
	return fmt.Errorf("%s: %w", bin, err)
}

// softwareDecoders are the decoders that decode a codec without special
// hardware, for the codecs not every build can decode.
var softwareDecoders = map[string][]string{"av1": {"libdav1d", "libaom-av1"}}

var decoders sync.Map // ffmpeg path -> map[string]bool (decoder names)

// Decodes reports whether this ffmpeg can decode codec. Codecs every build
// decodes answer true without asking; for others (AV1) the build's decoder
// list is read once per binary.
func (t Tool) Decodes(ctx context.Context, codec string) bool {
	need, ok := softwareDecoders[codec]
	if !ok {
		return true
	}
	have, ok := decoders.Load(t.FFmpeg)
	if !ok {
		names := map[string]bool{}
		if out, err := t.run(ctx, t.FFmpeg, "-hide_banner", "-decoders"); err == nil {
			for _, line := range strings.Split(string(out), "\n") {
				if f := strings.Fields(line); len(f) >= 2 && len(f[0]) == 6 {
					names[f[1]] = true
				}
			}
		}
		have, _ = decoders.LoadOrStore(t.FFmpeg, names)
	}
	for _, d := range need {
		if have.(map[string]bool)[d] {
			return true
		}
	}
	return false
}

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGSEGV:
		return "SIGSEGV"
	case syscall.SIGABRT:
		return "SIGABRT"
	case syscall.SIGBUS:
		return "SIGBUS"
	case syscall.SIGILL:
		return "SIGILL"
	case syscall.SIGKILL:
		return "SIGKILL"
	}
	return fmt.Sprintf("%d (%v)", int(s), s)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		// URLs carry presigned credentials: never echo a query string.
		lines[i] = redactQuery(strings.TrimSpace(l))
	}
	return strings.Join(lines, "; ")
}

// urlRE matches URLs: presigned ones carry credentials and are long; a
// message names them "<input>".
var urlRE = regexp.MustCompile(`https?://[^\s'"]+?(:?\s|$)`)

// ctxRE matches the "[mov,mp4 @ 0x55d...] " prefix of libav messages.
var ctxRE = regexp.MustCompile(`\[[^\]]+ @ 0x[0-9a-f]+\] `)

func redactQuery(s string) string {
	s = ctxRE.ReplaceAllString(s, "")
	return urlRE.ReplaceAllStringFunc(s, func(u string) string {
		return "<input>" + u[len(strings.TrimRight(u, ": \t")):]
	})
}

func isRemote(input string) bool {
	return strings.HasPrefix(input, "http://") || strings.HasPrefix(input, "https://")
}

// inputArgs are the options that go before -i for every read of input.
func inputArgs(input string) []string {
	if isRemote(input) {
		// Give up on a stalled connection after 30 s instead of hanging.
		return []string{"-rw_timeout", "30000000"}
	}
	return nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Size() > 0
}
