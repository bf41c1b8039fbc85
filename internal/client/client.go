// Package client calls the scenedex HTTP API v1 (the CLI's side of it).
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/scenedex/scenedex/internal/httpapi"
	"github.com/scenedex/scenedex/internal/pipeline"
	"github.com/scenedex/scenedex/internal/scenedex"
)

// Client talks to one API.
type Client struct {
	BaseURL string
	HTTP    *http.Client
}

// New returns a client for baseURL.
func New(baseURL string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), HTTP: &http.Client{Timeout: 5 * time.Minute}}
}

// APIError is an error answer from the API.
type APIError struct {
	Status  int
	Code    scenedex.Code
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (HTTP %d): %s", e.Code, e.Status, e.Message)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
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
func (c *Client) CreateVideo(ctx context.Context, req pipeline.UploadRequest) (httpapi.CreateVideoResponse, error) {
	var out httpapi.CreateVideoResponse
	err := c.do(ctx, http.MethodPost, "/v1/videos", req, &out)
	return out, err
}

// Video returns one video.
func (c *Client) Video(ctx context.Context, id string) (scenedex.Video, error) {
	var v scenedex.Video
	err := c.do(ctx, http.MethodGet, "/v1/videos/"+url.PathEscape(id), nil, &v)
	return v, err
}

// Videos lists videos.
func (c *Client) Videos(ctx context.Context, collection string) ([]scenedex.Video, error) {
	var out httpapi.ListResponse
	err := c.do(ctx, http.MethodGet, "/v1/videos?collection="+url.QueryEscape(collection), nil, &out)
	return out.Videos, err
}

// Delete deletes a video.
func (c *Client) Delete(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/videos/"+url.PathEscape(id), nil, nil)
}

// Search runs a query.
func (c *Client) Search(ctx context.Context, q scenedex.Query) ([]scenedex.Hit, error) {
	var out httpapi.SearchResponse
	err := c.do(ctx, http.MethodPost, "/v1/search", q, &out)
	return out.Hits, err
}

// Raw calls any route (dead letters).
func (c *Client) Raw(ctx context.Context, method, path string, in, out any) error {
	return c.do(ctx, method, path, in, out)
}

// PutFile sends a file to a presigned upload, reporting progress to wrap.
func (c *Client) PutFile(ctx context.Context, up pipeline.Upload, path string, wrap func(io.Reader) io.Reader) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	var body io.Reader = f
	if wrap != nil {
		body = wrap(f)
	}
	req, err := http.NewRequestWithContext(ctx, up.Method, up.URL, body)
	if err != nil {
		return err
	}
	req.ContentLength = st.Size()
	for k, v := range up.Headers {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("upload refused (HTTP %d): %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return nil
}

// Wait polls a video until READY or FAILED, calling progress on each change.
func (c *Client) Wait(ctx context.Context, id string, every time.Duration, progress func(scenedex.Video)) (scenedex.Video, error) {
	for {
		v, err := c.Video(ctx, id)
		if err != nil {
			return v, err
		}
		if progress != nil {
			progress(v)
		}
		if v.Status.Final() {
			return v, nil
		}
		select {
		case <-ctx.Done():
			return v, ctx.Err()
		case <-time.After(every):
		}
	}
}
