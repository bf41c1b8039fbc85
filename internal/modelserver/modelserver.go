// Package modelserver serves the local model over HTTP with the SageMaker
// contract (DESIGN.md): the container routes GET /ping and POST /invocations,
// and the runtime route POST /endpoints/{name}/invocations that the real
// aws-sdk-go-v2 sagemakerruntime client calls when its base endpoint points
// here. Errors on the runtime route have SageMaker's shape (424 ModelError
// carrying the container's status), so the client code is the cloud's.
package modelserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/scenedex/scenedex/internal/descriptor"
	"github.com/scenedex/scenedex/internal/picture"
	"github.com/scenedex/scenedex/internal/scenedex"
)

// MaxPayload is SageMaker real-time inference's request limit.
const MaxPayload = 6 << 20

// Tasks a request can ask for.
const (
	TaskEmbed = "embed" // the default: one embedding per input
	TaskOCR   = "ocr"   // the lines of text read on each image input
)

// Request is the contract's request body.
type Request struct {
	Task string `json:"task,omitempty"` // TaskEmbed (default) or TaskOCR
	// Model names the model to embed with, where the server serves several
	// ("" = its default). Servers that know one model ignore it; the answer's
	// "model" says which answered.
	Model  string  `json:"model,omitempty"`
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

// OCRResponse answers the OCR form: per input image, the lines read.
type OCRResponse struct {
	Model string                `json:"model"`
	Texts [][]scenedex.TextLine `json:"texts"`
}

// Options inject faults, for tests and for trying retry behaviour by hand.
type Options struct {
	FailRate float64       // fraction of invocations answered with a 500
	Delay    time.Duration // added to every invocation
	Seed     uint64

	// Embedder answers the embedding form (nil: the built-in descriptor),
	// EmbedderName is the name answers carry.
	Embedder     scenedex.Embedder
	EmbedderName string

	// OCR answers the OCR form of requests; nil refuses it (400).
	OCR scenedex.TextReader
	// OCRModel is the name the OCR form answers with.
	OCRModel string
}

// Server is the HTTP handler.
type Server struct {
	opts Options
	mu   sync.Mutex
	rnd  *rand.Rand
	mux  *http.ServeMux

	modelsMu sync.RWMutex
	models   map[string]scenedex.Embedder // by name: the default, the built-in descriptor, and any Added
}

// New returns a model server. Besides its default model it always serves
// the built-in descriptor by name, so an index made with the descriptor
// keeps answering (and can be switched) on a server whose default is CLIP.
func New(opts Options) *Server {
	s := &Server{opts: opts, rnd: rand.New(rand.NewPCG(opts.Seed, 7)), mux: http.NewServeMux(),
		models: map[string]scenedex.Embedder{descriptor.Name: descriptorModel{}}}
	if opts.Embedder != nil {
		s.models[opts.EmbedderName] = opts.Embedder
	}
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
	switch req.Task {
	case "", TaskEmbed:
	case TaskOCR:
		s.ocr(w, r, runtime, req)
		return
	default:
		s.error(w, runtime, http.StatusBadRequest, fmt.Sprintf(`unknown task %q: use "embed" or "ocr"`, req.Task))
		return
	}
	name, model, err := s.model(req.Model)
	if err != nil {
		s.error(w, runtime, http.StatusBadRequest, err.Error())
		return
	}
	out := Response{Model: name, Embeddings: make([][]float32, len(req.Inputs))}
	var images [][]byte
	var at []int
	for i, in := range req.Inputs {
		switch {
		case in.Text != "":
			v, err := model.EmbedText(r.Context(), in.Text)
			if err != nil {
				s.modelError(w, runtime, name, i, err)
				return
			}
			out.Embeddings[i] = v
		case in.Image != "":
			data, err := base64.StdEncoding.DecodeString(in.Image)
			if err != nil {
				s.error(w, runtime, http.StatusBadRequest, fmt.Sprintf("inputs[%d].image is not base64: %v", i, err))
				return
			}
			images, at = append(images, data), append(at, i)
		default:
			s.error(w, runtime, http.StatusBadRequest, fmt.Sprintf(`inputs[%d] has neither "image" nor "text"`, i))
			return
		}
	}
	if len(images) > 0 {
		vecs, err := model.EmbedImages(r.Context(), images)
		if err != nil {
			s.modelError(w, runtime, name, at[0], err)
			return
		}
		for j, v := range vecs {
			out.Embeddings[at[j]] = v
		}
	}
	out.Dim = len(out.Embeddings[0])
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

func (s *Server) ocr(w http.ResponseWriter, r *http.Request, runtime bool, req Request) {
	if s.opts.OCR == nil {
		s.error(w, runtime, http.StatusBadRequest, "this model server reads no text: OCR is off")
		return
	}
	images := make([][]byte, len(req.Inputs))
	for i, in := range req.Inputs {
		data, err := base64.StdEncoding.DecodeString(in.Image)
		if in.Image == "" || err != nil {
			s.error(w, runtime, http.StatusBadRequest, fmt.Sprintf("inputs[%d]: OCR needs a base64 image", i))
			return
		}
		images[i] = data
	}
	texts, err := s.opts.OCR.ReadText(r.Context(), images)
	if err != nil {
		s.error(w, runtime, http.StatusBadRequest, "ocr: "+err.Error())
		return
	}
	for i := range texts {
		if texts[i] == nil {
			texts[i] = []scenedex.TextLine{}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(OCRResponse{Model: s.opts.OCRModel, Texts: texts})
}

// Add serves e under name beside the models already served (a model
// switch's next model); adding a name again replaces it.
func (s *Server) Add(name string, e scenedex.Embedder) {
	s.modelsMu.Lock()
	defer s.modelsMu.Unlock()
	s.models[name] = e
}

// Serves lists the names of the models served, sorted.
func (s *Server) Serves() []string {
	s.modelsMu.RLock()
	defer s.modelsMu.RUnlock()
	names := make([]string, 0, len(s.models))
	for n := range s.models {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// model is the named model ("" = the default) and its name.
func (s *Server) model(name string) (string, scenedex.Embedder, error) {
	if name == "" {
		if s.opts.Embedder != nil {
			return s.opts.EmbedderName, s.opts.Embedder, nil
		}
		return descriptor.Name, descriptorModel{}, nil
	}
	s.modelsMu.RLock()
	e, ok := s.models[name]
	s.modelsMu.RUnlock()
	if !ok {
		return "", nil, fmt.Errorf("model %q is not served here; this server serves %s", name, strings.Join(s.Serves(), ", "))
	}
	return name, e, nil
}

// modelError answers a model's refusal: unsupported or invalid input is the
// caller's (400), anything else the model's (500).
func (s *Server) modelError(w http.ResponseWriter, runtime bool, name string, i int, err error) {
	switch scenedex.ErrorCode(err) {
	case scenedex.CodeUnsupported:
		s.error(w, runtime, http.StatusBadRequest, fmt.Sprintf("model %s embeds images only; text input is not supported", name))
	case scenedex.CodeInvalid, scenedex.CodeTooLarge, scenedex.CodeNotVideo:
		s.error(w, runtime, http.StatusBadRequest, fmt.Sprintf("inputs[%d]: %s", i, scenedex.Message(err)))
	default:
		s.error(w, runtime, http.StatusInternalServerError, fmt.Sprintf("model %s: %v", name, err))
	}
}

// descriptorModel is the built-in image descriptor behind the contract.
type descriptorModel struct{}

func (descriptorModel) EmbedImages(ctx context.Context, images [][]byte) ([][]float32, error) {
	out := make([][]float32, len(images))
	for i, data := range images {
		img, release, err := picture.Decode(ctx, data) // within the process's decode budget
		if errors.Is(err, picture.ErrBusy) {
			return nil, scenedex.Wrap(scenedex.CodeUnavailable, err, "image %d", i)
		}
		if err != nil {
			return nil, scenedex.Wrap(scenedex.CodeInvalid, err, "image %d", i)
		}
		out[i] = descriptor.Embed(img)
		release()
	}
	return out, nil
}

func (descriptorModel) EmbedText(context.Context, string) ([]float32, error) {
	return nil, scenedex.Errorf(scenedex.CodeUnsupported, "%s embeds images only", descriptor.Name)
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
