// Package rangeproxy serves one remote object — a presigned GET URL — on
// 127.0.0.1, so that ffmpeg and ffprobe read it over plain HTTP from an IP
// address. They then never resolve a host name (the Lambda layer's static
// builds crash doing so: their static glibc loads the host's NSS modules) and
// never speak TLS (the layer's TLS stack dates from 2018); Go's net/http does
// both. Range requests pass through unchanged, so a seek reads only the bytes
// it needs and the object is never downloaded whole.
package rangeproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"time"
)

// Proxy is a running proxy for one upstream URL.
type Proxy struct {
	// URL is what to give ffmpeg: http://127.0.0.1:PORT/<the upstream's file name>.
	URL      string
	upstream string
	client   *http.Client
	srv      *http.Server
}

// DefaultClient reads upstreams: no overall timeout (a window of a large
// video streams for minutes), but bounded waits to connect and for headers.
var DefaultClient = &http.Client{Transport: &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	TLSHandshakeTimeout:   10 * time.Second,
	ResponseHeaderTimeout: 30 * time.Second,
	MaxIdleConnsPerHost:   4,
	IdleConnTimeout:       90 * time.Second,
	// No transparent gzip: byte ranges must stay byte ranges.
	DisableCompression: true,
}}

// Start serves upstream on a free port of 127.0.0.1 until Close. client nil
// means DefaultClient.
func Start(upstream string, client *http.Client) (*Proxy, error) {
	u, err := url.Parse(upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("rangeproxy: %q is not an http(s) URL", redact(upstream))
	}
	if client == nil {
		client = DefaultClient
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("rangeproxy: listen: %w", err)
	}
	name := path.Base(u.Path)
	if name == "." || name == "/" || name == "" {
		name = "input"
	}
	p := &Proxy{URL: "http://" + ln.Addr().String() + "/" + url.PathEscape(name), upstream: upstream, client: client}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 10 * time.Second}
	go p.srv.Serve(ln)
	return p, nil
}

// Close stops the proxy and any transfer in flight.
func (p *Proxy) Close() error { return p.srv.Close() }

// passed are the response headers a reader of a byte range needs.
var passed = []string{"Content-Length", "Content-Range", "Content-Type", "Accept-Ranges", "ETag", "Last-Modified"}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "only GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, p.upstream, nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	for _, h := range []string{"Range", "If-Range"} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	resp, err := p.client.Do(req)
	if err != nil {
		// ffmpeg reports "Server returned 5XX": a retryable read failure.
		http.Error(w, "upstream: "+describe(err), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for _, h := range passed {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.Copy(w, resp.Body); err != nil && !errors.Is(err, context.Canceled) {
		// The reader sees a short body and retries or fails; nothing to add.
		return
	}
}

// describe is err without the URL's query string (presigned credentials).
func describe(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + " " + redact(ue.URL) + ": " + ue.Err.Error()
	}
	return err.Error()
}

// redact drops query strings (presigned credentials) from s.
func redact(s string) string {
	u, err := url.Parse(s)
	if err == nil && u.RawQuery != "" {
		u.RawQuery = ""
		return u.String()
	}
	return s
}
