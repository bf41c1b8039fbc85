// Package httpapi is the HTTP API v1 as one http.Handler, served by the local
// server and (through a Lambda adapter) by API Gateway in the cloud.
package httpapi

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/scenedex/scenedex/internal/pipeline"
	"github.com/scenedex/scenedex/internal/scenedex"
)

// MaxBody bounds request bodies (a 4 MiB image, base64-encoded, fits).
const MaxBody = 8 << 20

// API serves /v1 and /healthz.
type API struct {
	P   *pipeline.Pipeline
	Log *slog.Logger
	// DeadLetters backs /v1/dead-letters (nil: those routes answer 400
	// unsupported).
	DeadLetters scenedex.DeadLetterQueues
	mux         *http.ServeMux
}

// New returns the handler.
func New(p *pipeline.Pipeline, log *slog.Logger) *API {
	if log == nil {
		log = slog.Default()
	}
	a := &API{P: p, Log: log, mux: http.NewServeMux()}
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	a.mux.HandleFunc("POST /v1/videos", a.createVideo)
	a.mux.HandleFunc("GET /v1/videos", a.listVideos)
	a.mux.HandleFunc("GET /v1/videos/{id}", a.getVideo)
	a.mux.HandleFunc("DELETE /v1/videos/{id}", a.deleteVideo)
	a.mux.HandleFunc("POST /v1/videos/{id}/complete", a.completeVideo)
	a.mux.HandleFunc("POST /v1/videos/{id}/parts", a.signParts)
	a.mux.HandleFunc("POST /v1/videos/{id}/reprocess", a.reprocess)
	a.mux.HandleFunc("POST /v1/search", a.search)
	a.mux.HandleFunc("POST /v1/concepts", a.concepts)
	a.mux.HandleFunc("POST /v1/reindex", a.reindex)
	a.mux.HandleFunc("GET /v1/reindex", a.modelStatus)
	a.mux.HandleFunc("DELETE /v1/reindex", a.cancelSwitch)
	a.mux.HandleFunc("GET /v1/dead-letters", a.deadLetters)
	a.mux.HandleFunc("POST /v1/dead-letters/redrive", a.redrive)
	a.mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, scenedex.Errorf(scenedex.CodeNotFound, "no route %s %s", r.Method, r.URL.Path))
	})
	return a
}

// Handle adds a route (the local server adds its dead-letter routes).
func (a *API) Handle(pattern string, h http.HandlerFunc) { a.mux.HandleFunc(pattern, h) }

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// CreateVideoResponse is the body of a 201 from POST /v1/videos.
type CreateVideoResponse struct {
	Video  scenedex.Video  `json:"video"`
	Upload pipeline.Upload `json:"upload"`
}

func (a *API) createVideo(w http.ResponseWriter, r *http.Request) {
	var req pipeline.UploadRequest
	if !a.decode(w, r, &req) {
		return
	}
	v, up, err := a.P.CreateUpload(r.Context(), req)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusCreated, CreateVideoResponse{Video: v, Upload: up})
}

func (a *API) completeVideo(w http.ResponseWriter, r *http.Request) {
	var req pipeline.CompleteRequest
	if !a.decode(w, r, &req) {
		return
	}
	v, err := a.P.CompleteUpload(r.Context(), r.PathValue("id"), req)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, v)
}

func (a *API) signParts(w http.ResponseWriter, r *http.Request) {
	var req pipeline.SignPartsRequest
	if !a.decode(w, r, &req) {
		return
	}
	res, err := a.P.SignParts(r.Context(), r.PathValue("id"), req)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, res)
}

func (a *API) reprocess(w http.ResponseWriter, r *http.Request) {
	v, err := a.P.Reprocess(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusAccepted, v)
}

func (a *API) getVideo(w http.ResponseWriter, r *http.Request) {
	v, err := a.P.Catalog.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, v)
}

// ListResponse is the body of GET /v1/videos: a page, and the cursor of the
// next one.
type ListResponse = scenedex.VideoPage

func (a *API) listVideos(w http.ResponseWriter, r *http.Request) {
	c := r.URL.Query().Get("collection")
	if c != "" && !scenedex.ValidCollection(c) {
		a.fail(w, r, scenedex.Errorf(scenedex.CodeInvalid, "collection %q is invalid", c))
		return
	}
	q := scenedex.ListQuery{Collection: c, Cursor: r.URL.Query().Get("cursor")}
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil {
			a.fail(w, r, scenedex.Errorf(scenedex.CodeInvalid, "limit %q is not a number", l))
			return
		}
		q.Limit = n
	}
	page, err := a.P.Catalog.List(r.Context(), q)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, page)
}

func (a *API) deleteVideo(w http.ResponseWriter, r *http.Request) {
	if err := a.P.Delete(r.Context(), r.PathValue("id")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// SearchResponse is the body of POST /v1/search.
type SearchResponse struct {
	Hits []scenedex.Hit `json:"hits"`
	// Note says what part of the query was left out and why (e.g. the
	// model did not answer in time: words only).
	Note string `json:"note,omitempty"`
}

func (a *API) search(w http.ResponseWriter, r *http.Request) {
	var q scenedex.Query
	if !a.decode(w, r, &q) {
		return
	}
	res, err := a.P.SearchWithNote(r.Context(), q)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, SearchResponse{Hits: res.Hits, Note: res.Note})
}

func (a *API) concepts(w http.ResponseWriter, r *http.Request) {
	var req pipeline.ConceptsRequest
	if !a.decode(w, r, &req) {
		return
	}
	res, err := a.P.Concepts(r.Context(), req)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, res)
}

func (a *API) deadLetters(w http.ResponseWriter, r *http.Request) {
	if a.DeadLetters == nil {
		a.fail(w, r, scenedex.Errorf(scenedex.CodeUnsupported, "this deployment's API does not see the dead-letter queues"))
		return
	}
	out, err := a.DeadLetters.DeadLetters(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, out)
}

func (a *API) redrive(w http.ResponseWriter, r *http.Request) {
	if a.DeadLetters == nil {
		a.fail(w, r, scenedex.Errorf(scenedex.CodeUnsupported, "this deployment's API does not see the dead-letter queues"))
		return
	}
	n, err := a.DeadLetters.Redrive(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]int{"redriven": n})
}

func (a *API) reindex(w http.ResponseWriter, r *http.Request) {
	var req pipeline.ReindexRequest
	if !a.decode(w, r, &req) {
		return
	}
	res, err := a.P.Reindex(r.Context(), req)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusAccepted, res)
}

func (a *API) modelStatus(w http.ResponseWriter, r *http.Request) {
	st, err := a.P.ModelStatus(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, st)
}

func (a *API) cancelSwitch(w http.ResponseWriter, r *http.Request) {
	if err := a.P.CancelSwitch(r.Context()); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) decode(w http.ResponseWriter, r *http.Request, into any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		WriteError(w, scenedex.Errorf(scenedex.CodeInvalid, "Content-Type must be application/json"))
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			WriteError(w, scenedex.Errorf(scenedex.CodeTooLarge, "request body exceeds %d bytes", MaxBody))
		} else {
			WriteError(w, scenedex.Errorf(scenedex.CodeInvalid, "bad JSON body: %v", err))
		}
		return false
	}
	if dec.Decode(&struct{}{}) != io.EOF {
		WriteError(w, scenedex.Errorf(scenedex.CodeInvalid, "bad JSON body: trailing data after the object"))
		return false
	}
	return true
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	if scenedex.ErrorCode(err) == scenedex.CodeInternal {
		a.Log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	WriteError(w, err)
}

// RequireToken lets a request through only with "Authorization: Bearer
// <token>" (the local server's optional authentication; the cloud API uses
// IAM). /healthz stays open.
func RequireToken(token string, h http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="scenedex"`)
			WriteError(w, scenedex.Errorf(scenedex.CodeUnauthenticated, "missing or wrong bearer token (set SCENEDEX_TOKEN)"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Status maps an error code to its HTTP status.
func Status(c scenedex.Code) int {
	switch c {
	case scenedex.CodeInvalid, scenedex.CodeUnsupported:
		return http.StatusBadRequest
	case scenedex.CodeNotFound:
		return http.StatusNotFound
	case scenedex.CodeUnauthenticated:
		return http.StatusUnauthorized
	case scenedex.CodeConflict:
		return http.StatusConflict
	case scenedex.CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case scenedex.CodeNotVideo:
		return http.StatusUnprocessableEntity
	case scenedex.CodeUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// ErrorBody is the JSON shape of every error.
type ErrorBody struct {
	Error struct {
		Code    scenedex.Code `json:"code"`
		Message string        `json:"message"`
	} `json:"error"`
}

// WriteError writes err as {"error": {"code", "message"}}.
func WriteError(w http.ResponseWriter, err error) {
	var body ErrorBody
	body.Error.Code = scenedex.ErrorCode(err)
	body.Error.Message = scenedex.Message(err)
	if body.Error.Code == scenedex.CodeInternal {
		body.Error.Message = "internal error"
	}
	WriteJSON(w, Status(body.Error.Code), body)
}

// WriteJSON writes v with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
