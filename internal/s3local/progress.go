package s3local

import (
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// DefaultIdle is how long a request may go without a byte moving (of its body
// in, or of its answer out) before the endpoint gives up on it.
const DefaultIdle = 2 * time.Minute

// withProgress bounds a request by its progress, not by a flat deadline: an
// upload of many gigabytes over a slow link goes on as long as bytes keep
// arriving, while one that stops (a client gone quiet, a stalled network) has
// its connection's read and write deadlines pass after idle without a byte
// and its context cancelled, so nothing waits on it for ever. Each Read of
// the body and each Write of the answer pushes both deadlines idle further.
func withProgress(idle time.Duration, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		var last atomic.Int64
		touch := func() {
			now := time.Now()
			last.Store(now.UnixNano())
			rc.SetReadDeadline(now.Add(idle)) // errors: a connection without deadlines (HTTP/2 tests); the watchdog still runs
			rc.SetWriteDeadline(now.Add(idle))
		}
		touch()
		// net/http sets the read deadline again for the next request on
		// the connection, but not the write deadline: clear ours.
		defer rc.SetWriteDeadline(time.Time{})
		done := make(chan struct{})
		defer close(done)
		go func() { // the watchdog: cancels the work of a request that stopped moving
			t := time.NewTicker(idle / 4)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					if time.Since(time.Unix(0, last.Load())) > idle {
						cancel()
						return
					}
				}
			}
		}()
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &progressBody{ReadCloser: r.Body, touch: touch}
		}
		h.ServeHTTP(&progressWriter{ResponseWriter: w, touch: touch}, r.WithContext(ctx))
	})
}

type progressBody struct {
	io.ReadCloser
	touch func()
}

func (b *progressBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.touch()
	}
	return n, err
}

type progressWriter struct {
	http.ResponseWriter
	touch func()
}

func (w *progressWriter) Write(p []byte) (int, error) {
	w.touch()
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *progressWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
