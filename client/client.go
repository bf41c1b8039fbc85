// Package client is the Go SDK of scenedex: it calls the HTTP API v1 of a
// local server (`scenedex serve`, bearer token optional) or of a deployed
// stack (API Gateway with IAM: see SigV4). The scenedex CLI is built on it.
//
// Upload a video, wait until it is searchable, and find its moments:
//
//	c := client.New("http://127.0.0.1:8080")
//	v, err := c.UploadFile(ctx, "ad.mp4", client.UploadOptions{Collection: "ads"})
//	v, err = c.Wait(ctx, v.ID, time.Second, nil)
//	hits, err := c.Search(ctx, client.Query{Text: "a crowd celebrating"})
//
// Errors the API answers are *APIError values with a Code (invalid_argument,
// not_found, unsupported, ...).
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/scenedex/scenedex/internal/httpapi"
	"github.com/scenedex/scenedex/internal/pipeline"
	"github.com/scenedex/scenedex/internal/scenedex"
)

// Client talks to one API.
type Client struct {
	BaseURL string
	Token   string // bearer token, if the server wants one
	// Sign, if set, signs each request before it is sent with its body's
	// bytes (SigV4 for the cloud API: see SigV4).
	Sign func(req *http.Request, body []byte) error
	HTTP *http.Client
}

// New returns a client for baseURL.
func New(baseURL string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), HTTP: &http.Client{Timeout: 5 * time.Minute}}
}

// APIError is an error answer from the API.
type APIError struct {
	Status  int
	Code    Code
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (HTTP %d): %s", e.Code, e.Status, e.Message)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	var raw []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		raw, body = b, bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if c.Sign != nil {
		if err := c.Sign(req, raw); err != nil {
			return fmt.Errorf("sign the request: %w", err)
		}
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("scenedex API at %s: %w (is `scenedex serve` running? set SCENEDEX_URL)", c.BaseURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var eb httpapi.ErrorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
			return &APIError{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message}
		}
		return &APIError{Status: resp.StatusCode, Code: scenedex.CodeInternal, Message: strings.TrimSpace(string(data))}
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

// CreateVideo asks for an upload.
func (c *Client) CreateVideo(ctx context.Context, req UploadRequest) (CreateVideoResponse, error) {
	var out CreateVideoResponse
	err := c.do(ctx, http.MethodPost, "/v1/videos", req, &out)
	return out, err
}

// Video returns one video.
func (c *Client) Video(ctx context.Context, id string) (Video, error) {
	var v Video
	err := c.do(ctx, http.MethodGet, "/v1/videos/"+url.PathEscape(id), nil, &v)
	return v, err
}

// VideosPage lists one page of videos.
func (c *Client) VideosPage(ctx context.Context, q ListQuery) (VideoPage, error) {
	v := url.Values{}
	if q.Collection != "" {
		v.Set("collection", q.Collection)
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	var out VideoPage
	err := c.do(ctx, http.MethodGet, "/v1/videos?"+v.Encode(), nil, &out)
	return out, err
}

// Videos lists every video (of a collection), following the pages.
func (c *Client) Videos(ctx context.Context, collection string) ([]Video, error) {
	all := []Video{}
	q := ListQuery{Collection: collection, Limit: scenedex.MaxListLimit}
	for {
		page, err := c.VideosPage(ctx, q)
		if err != nil {
			return all, err
		}
		all = append(all, page.Videos...)
		if page.Next == "" {
			return all, nil
		}
		q.Cursor = page.Next
	}
}

// Delete deletes a video.
func (c *Client) Delete(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/videos/"+url.PathEscape(id), nil, nil)
}

// Search runs a query.
func (c *Client) Search(ctx context.Context, q Query) ([]Hit, error) {
	hits, _, err := c.SearchWithNote(ctx, q)
	return hits, err
}

// SearchWithNote is Search with the server's note: the part of the query it
// left out and why ("" when none), e.g. words only because the model did not
// answer in time.
func (c *Client) SearchWithNote(ctx context.Context, q Query) ([]Hit, string, error) {
	var out httpapi.SearchResponse
	err := c.do(ctx, http.MethodPost, "/v1/search", q, &out)
	return out.Hits, out.Note, err
}

// Concepts counts the scenes matching each concept.
func (c *Client) Concepts(ctx context.Context, req ConceptsRequest) (ConceptsResponse, error) {
	var out ConceptsResponse
	err := c.do(ctx, http.MethodPost, "/v1/concepts", req, &out)
	return out, err
}

// Reprocess starts a new run for a FAILED video.
func (c *Client) Reprocess(ctx context.Context, id string) (Video, error) {
	var v Video
	err := c.do(ctx, http.MethodPost, "/v1/videos/"+url.PathEscape(id)+"/reprocess", struct{}{}, &v)
	return v, err
}

// Reindex queues the selected chunks for re-embedding from their frames.
func (c *Client) Reindex(ctx context.Context, req ReindexRequest) (ReindexResult, error) {
	var out ReindexResult
	err := c.do(ctx, http.MethodPost, "/v1/reindex", req, &out)
	return out, err
}

// ModelStatus says which model the live vectors come from and how far a
// model switch is.
func (c *Client) ModelStatus(ctx context.Context) (ModelStatus, error) {
	var out ModelStatus
	err := c.do(ctx, http.MethodGet, "/v1/reindex", nil, &out)
	return out, err
}

// CancelSwitch ends the model switch under way; the live vectors stay.
func (c *Client) CancelSwitch(ctx context.Context) error {
	return c.do(ctx, http.MethodDelete, "/v1/reindex", nil, nil)
}

// WaitSwitch polls every interval until the switch to model is complete
// (the live vectors are model's), calling progress (if set) with each
// status; a switch that ends otherwise (cancelled) is an error.
func (c *Client) WaitSwitch(ctx context.Context, model string, interval time.Duration, progress func(ModelStatus)) (ModelStatus, error) {
	return poll(ctx, interval, c.ModelStatus, progress, func(st ModelStatus) (bool, error) {
		switch {
		case st.Switch == nil && st.Model == model:
			return true, nil
		case st.Switch == nil || st.Switch.To != model:
			return true, fmt.Errorf("the switch to %s is no longer under way (cancelled?); the live model is %s", model, st.Model)
		}
		return false, nil
	})
}

// poll calls get every interval, passing each answer to progress (if set),
// until done says so (with its error) or get or ctx fails.
func poll[T any](ctx context.Context, interval time.Duration, get func(context.Context) (T, error), progress func(T), done func(T) (bool, error)) (T, error) {
	for {
		v, err := get(ctx)
		if err != nil {
			return v, err
		}
		if progress != nil {
			progress(v)
		}
		if stop, err := done(v); stop {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, ctx.Err()
		case <-time.After(interval):
		}
	}
}

// Raw calls any route (dead letters).
func (c *Client) Raw(ctx context.Context, method, path string, in, out any) error {
	return c.do(ctx, method, path, in, out)
}

// UploadOptions describe a video being uploaded.
type UploadOptions struct {
	Collection string            // default "default"
	Metadata   map[string]string // filterable key/values
	// Progress, if set, wraps the file's reader (it sees every byte sent).
	Progress func(io.Reader) io.Reader
}

// UploadFile creates a video for the file at path and sends its bytes (one
// PUT, or parts for a large file). The video is then PROCESSING; Wait follows
// it to READY or FAILED.
func (c *Client) UploadFile(ctx context.Context, path string, opt UploadOptions) (Video, error) {
	st, err := os.Stat(path)
	if err != nil {
		return Video{}, err
	}
	if st.IsDir() {
		return Video{}, fmt.Errorf("%s is a folder, not a video file", path)
	}
	created, err := c.CreateVideo(ctx, UploadRequest{Filename: filepath.Base(path), Size: st.Size(),
		ContentType: pipeline.GuessContentType(path), Collection: opt.Collection, Metadata: opt.Metadata})
	if err != nil {
		return Video{}, err
	}
	if err := c.PutFile(ctx, created.Upload, path, opt.Progress); err != nil {
		return created.Video, fmt.Errorf("video %s: %w", created.Video.ID, err)
	}
	return created.Video, nil
}

// PutFile sends a file to its upload: one presigned PUT, or, for a
// multipart upload, its parts (four at a time) and then the completion call.
// wrap (optional) sees every byte read, for a progress bar.
func (c *Client) PutFile(ctx context.Context, up Upload, path string, wrap func(io.Reader) io.Reader) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if wrap == nil {
		wrap = func(r io.Reader) io.Reader { return r }
	}
	if len(up.Parts) == 0 {
		_, err := put(ctx, up.Method, up.URL, wrap(f), st.Size(), up.Headers)
		return err
	}
	parts := make([]Part, len(up.Parts))
	var g errgroup.Group
	g.SetLimit(4)
	for i, p := range up.Parts {
		g.Go(func() error {
			etag, err := put(ctx, http.MethodPut, p.URL, wrap(io.NewSectionReader(f, p.Offset, p.Size)), p.Size, nil)
			var refused *refusedError
			if errors.As(err, &refused) && refused.status == http.StatusForbidden && up.PartsURL != "" {
				// The URL died (expired, or its signing session ended):
				// get this part signed again and send it once more.
				var fresh SignPartsResponse
				if err = c.do(ctx, http.MethodPost, up.PartsURL, SignPartsRequest{Parts: []int{p.Number}}, &fresh); err == nil && len(fresh.Parts) == 1 {
					etag, err = put(ctx, http.MethodPut, fresh.Parts[0].URL, wrap(io.NewSectionReader(f, p.Offset, p.Size)), p.Size, nil)
				}
			}
			if err != nil {
				return fmt.Errorf("part %d: %w", p.Number, err)
			}
			parts[i] = Part{Number: p.Number, ETag: etag}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, up.CompleteURL, CompleteRequest{Parts: parts}, nil)
}

func put(ctx context.Context, method, url string, body io.Reader, size int64, headers map[string]string) (etag string, err error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return "", err
	}
	req.ContentLength = size
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("upload: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return "", &refusedError{status: resp.StatusCode, body: strings.TrimSpace(string(b))}
	}
	return resp.Header.Get("ETag"), nil
}

// refusedError is a PUT the storage refused.
type refusedError struct {
	status int
	body   string
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("upload refused (HTTP %d): %s", e.status, e.body)
}

// Wait polls a video until READY or FAILED, calling progress on each change.
func (c *Client) Wait(ctx context.Context, id string, every time.Duration, progress func(Video)) (Video, error) {
	get := func(ctx context.Context) (Video, error) { return c.Video(ctx, id) }
	return poll(ctx, every, get, progress, func(v Video) (bool, error) { return v.Status.Final(), nil })
}
