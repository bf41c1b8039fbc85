// Package awsfake is for tests only: an httptest server that stands in for an
// AWS JSON-protocol service (SQS, DynamoDB, Step Functions, EventBridge). Each
// test registers what the service would answer for an operation, after
// checking the request body against what the service documents; the real SDK
// client is pointed at it. It records every call so tests can assert on the
// exact requests sent.
package awsfake

import (
	"encoding/json"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Call is one recorded request.
type Call struct {
	Op   string         // e.g. "SendMessageBatch" (from X-Amz-Target)
	Body map[string]any // decoded JSON body
}

// Reply is what the fake answers: a status and a JSON body. For errors, set
// Type (the error shape name, e.g. "ConditionalCheckFailedException").
type Reply struct {
	Status int
	Type   string
	Body   any
}

// Handler answers one operation.
type Handler func(t *testing.T, body map[string]any) Reply

// Server is the fake service.
type Server struct {
	*httptest.Server
	t        *testing.T
	mu       sync.Mutex
	handlers map[string]Handler
	calls    []Call
}

// New starts a fake; it is closed when the test ends.
func New(t *testing.T) *Server {
	s := &Server{t: t, handlers: map[string]Handler{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// On registers the handler of an operation.
func (s *Server) On(op string, h Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[op] = h
}

// Calls returns the recorded calls of op ("" for all).
func (s *Server) Calls(op string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if op == "" || c.Op == op {
			out = append(out, c)
		}
	}
	return out
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op := target[strings.LastIndexByte(target, '.')+1:]
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		s.t.Errorf("%s: request not SigV4-signed", op)
	}
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		s.t.Errorf("%s: body is not JSON: %v", op, err)
	}
	s.mu.Lock()
	s.calls = append(s.calls, Call{Op: op, Body: body})
	h := s.handlers[op]
	s.mu.Unlock()
	if h == nil {
		s.t.Errorf("unexpected call %s", op)
		http.Error(w, "no handler", http.StatusNotImplemented)
		return
	}
	rep := h(s.t, body)
	if rep.Status == 0 {
		rep.Status = http.StatusOK
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	if rep.Type != "" {
		w.Header().Set("X-Amzn-ErrorType", rep.Type)
		if rep.Body == nil {
			rep.Body = map[string]string{"__type": rep.Type, "message": rep.Type}
		}
	}
	out, _ := json.Marshal(rep.Body)
	// DynamoDB's clients check the body against this header.
	w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(out)), 10))
	w.WriteHeader(rep.Status)
	w.Write(out)
}

// Config is an aws.Config for the real SDK clients pointed at the fake, with
// dummy credentials and quick retries.
func (s *Server) Config() aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint: aws.String(s.URL),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 3
				o.MaxBackoff = 5 * time.Millisecond
			})
		},
	}
}

// Field walks a decoded JSON body: Field(b, "Entries", 0, "Id").
func Field(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

// String is Field as a string.
func String(v any, path ...any) string {
	s, _ := Field(v, path...).(string)
	return s
}
