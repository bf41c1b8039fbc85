package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/scenedex/scenedex/internal/scenedex"
)

// DefaultDeadline is how long an API request may take on the server before it
// is answered 503 (a search embeds a query image and reads the index; a
// delete removes a video's files).
const DefaultDeadline = 60 * time.Second

// WithDeadline gives every request a server-side deadline: the handler's
// context ends after d, and if the handler has not answered by then (a
// dependency that hangs without watching its context), the client gets 503
// {"error": {"code": "unavailable", ...}} at once instead of a socket that
// never answers. The handler's answer is buffered (API answers are small
// JSON) and dropped if it comes too late. For handlers that stream large
// bodies use a progress-based rule instead (s3local).
func WithDeadline(d time.Duration, log *slog.Logger, h http.Handler) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		bw := &bufferedWriter{header: http.Header{}}
		done := make(chan any, 1)
		go func() {
			defer func() { done <- recover() }()
			h.ServeHTTP(bw, r.WithContext(ctx))
		}()
		select {
		case p := <-done:
			if p != nil {
				panic(p) // as if the handler ran here: net/http logs it and drops the connection
			}
			// A handler that gave up because the deadline ended its
			// context answers as a late one would.
			if ctx.Err() == nil || r.Context().Err() != nil || bw.status < 500 {
				bw.flushTo(w)
				return
			}
		case <-ctx.Done():
			bw.expire()
		}
		if r.Context().Err() != nil {
			return // the client went away: nobody to answer
		}
		log.Error("request passed its deadline", "method", r.Method, "path", r.URL.Path, "deadline", d)
		WriteError(w, scenedex.Errorf(scenedex.CodeUnavailable,
			"the server could not answer %s %s within %v; try again later", r.Method, r.URL.Path, d))
	})
}

// bufferedWriter holds a handler's answer until it returns; after expire,
// the late handler's writes go nowhere.
type bufferedWriter struct {
	mu      sync.Mutex
	header  http.Header
	status  int
	body    bytes.Buffer
	expired bool
}

func (b *bufferedWriter) Header() http.Header { return b.header }

func (b *bufferedWriter) WriteHeader(status int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.expired {
		return 0, fmt.Errorf("the request's deadline passed")
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

func (b *bufferedWriter) expire() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expired = true
}

// flushTo copies the answer to w; the handler has returned.
func (b *bufferedWriter) flushTo(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	w.WriteHeader(b.status)
	w.Write(b.body.Bytes())
}
