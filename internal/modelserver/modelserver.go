// Package modelserver serves the local model over HTTP with the SageMaker
// contract (DESIGN.md): the container routes GET /ping and POST /invocations,
// and the runtime route POST /endpoints/{name}/invocations that the real
// aws-sdk-go-v2 sagemakerruntime client calls when its base endpoint points
// here. Errors on the runtime route have SageMaker's shape (424 ModelError
// carrying the container's status), so the client code is the cloud's.
package modelserver

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/scenedex/scenedex/internal/descriptor"
)

// MaxPayload is SageMaker real-time inference's request limit.
const MaxPayload = 6 << 20

// Request is the contract's request body.
type Request struct {
	Inputs []Input `json:"inputs"`
}

// Input is one image (base64 JPEG/PNG) or one text.
type Input struct {
	Image string `json:"image,omitempty"`
	Text  string `json:"text,omitempty"`
}

// Response is the contract's response body.
type Response struct {
	Model      string      `json:"model"`
	Dim        int         `json:"dim"`
	Embeddings [][]float32 `json:"embeddings"`
}

// Options inject faults, for tests and for trying retry behaviour by hand.
type Options struct {
	FailRate float64       // fraction of invocations answered with a 500
	Delay    time.Duration // added to every invocation
	Seed     uint64
}

// Server is the HTTP handler.
type Server struct {
	opts Options
	mu   sync.Mutex
	rnd  *rand.Rand
	mux  *http.ServeMux
}

// New returns a model server.
func New(opts Options) *Server {
	s := &Server{opts: opts, rnd: rand.New(rand.NewPCG(opts.Seed, 7)), mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	s.mux.HandleFunc("POST /invocations", func(w http.ResponseWriter, r *http.Request) { s.invoke(w, r, false) })
	s.mux.HandleFunc("POST /endpoints/{name}/invocations", func(w http.ResponseWriter, r *http.Request) { s.invoke(w, r, true) })
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) fail() bool {
	if s.opts.FailRate <= 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rnd.Float64() < s.opts.FailRate
}

func (s *Server) invoke(w http.ResponseWriter, r *http.Request, runtime bool) {
	if s.opts.Delay > 0 {
		time.Sleep(s.opts.Delay)
	}
	if s.fail() {
		s.error(w, runtime, http.StatusInternalServerError, "injected failure (--model-fail-rate)")
		return
	}
	var req Request
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxPayload)).Decode(&req); err != nil {
		s.error(w, runtime, http.StatusBadRequest, "bad request body: "+err.Error())
		return
	}
	if len(req.Inputs) == 0 {
		s.error(w, runtime, http.StatusBadRequest, `"inputs" is empty`)
		return
	}
	out := Response{Model: descriptor.Name, Dim: descriptor.Dim, Embeddings: make([][]float32, len(req.Inputs))}
	for i, in := range req.Inputs {
		switch {
		case in.Text != "":
			s.error(w, runtime, http.StatusBadRequest, fmt.Sprintf("model %s embeds images only; text input is not supported", descriptor.Name))
			return
		case in.Image != "":
			data, err := base64.StdEncoding.DecodeString(in.Image)
			if err != nil {
				s.error(w, runtime, http.StatusBadRequest, fmt.Sprintf("inputs[%d].image is not base64: %v", i, err))
				return
			}
			v, err := descriptor.EmbedJPEG(data)
			if err != nil {
				s.error(w, runtime, http.StatusBadRequest, fmt.Sprintf("inputs[%d].image: %v", i, err))
				return
			}
			out.Embeddings[i] = v
		default:
			s.error(w, runtime, http.StatusBadRequest, fmt.Sprintf(`inputs[%d] has neither "image" nor "text"`, i))
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// error answers as the container would (its own status and a JSON message),
// or, on the runtime route, as SageMaker does when a container fails: 424
// ModelError with the original status.
func (s *Server) error(w http.ResponseWriter, runtime bool, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	if !runtime {
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"error": msg})
		return
	}
	kind := "client"
	if status >= 500 {
		kind = "server"
	}
	w.Header().Set("X-Amzn-ErrorType", "ModelError:http://internal.amazon.com/coral/com.amazon.sagemaker/")
	w.WriteHeader(http.StatusFailedDependency)
	json.NewEncoder(w).Encode(map[string]any{
		"ErrorCode":          fmt.Sprintf("%s_ERROR_FROM_MODEL", map[string]string{"client": "CLIENT", "server": "SERVER"}[kind]),
		"OriginalStatusCode": status,
		"OriginalMessage":    msg,
		"Message":            fmt.Sprintf("Received %s error (%d) from primary with message \"%s\".", kind, status, msg),
	})
}

// EncodeImage is the contract's image encoding.
func EncodeImage(jpeg []byte) Input { return Input{Image: base64.StdEncoding.EncodeToString(jpeg)} }
