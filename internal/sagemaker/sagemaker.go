// Package sagemaker is the Embedder and TextReader over a SageMaker endpoint that honours the
// model contract in DESIGN.md, through aws-sdk-go-v2's sagemakerruntime
// client. Locally the same client is pointed at the local model server.
package sagemaker

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"
	"github.com/aws/aws-sdk-go-v2/service/sagemakerruntime/types"
	"github.com/aws/smithy-go"

	"github.com/scenedex/scenedex/internal/modelserver"
	"github.com/scenedex/scenedex/internal/scenedex"
)

// Invoker is the one call used from the SageMaker runtime client.
type Invoker interface {
	InvokeEndpoint(ctx context.Context, in *sagemakerruntime.InvokeEndpointInput, optFns ...func(*sagemakerruntime.Options)) (*sagemakerruntime.InvokeEndpointOutput, error)
}

// Embedder implements scenedex.Embedder.
type Embedder struct {
	Client   Invoker
	Endpoint string
	// Batch is the most images per invocation; requests are also kept
	// within MaxRequest bytes.
	Batch int
	// Attempts bounds tries of an invocation the model failed with a 5xx
	// (SageMaker reports those as ModelError, which the SDK does not retry);
	// throttling is retried by the SDK's own retryer.
	Attempts int
	Backoff  time.Duration
	// Named is the model requests ask for where the endpoint serves several
	// ("" = the endpoint's default); an answer from another model is refused.
	Named string

	model atomic.Value // the "model" the endpoint last answered with
}

// Model is the name of the model the endpoint last answered with ("" before
// its first answer): the index records which model made each vector.
func (e *Embedder) Model() string {
	m, _ := e.model.Load().(string)
	return m
}

var (
	_ scenedex.Embedder   = (*Embedder)(nil)
	_ scenedex.TextReader = (*Embedder)(nil)
)

// New returns an Embedder with sane defaults.
func New(client Invoker, endpoint string) *Embedder {
	return &Embedder{Client: client, Endpoint: endpoint, Batch: 16, Attempts: 4, Backoff: 200 * time.Millisecond}
}

// ForModel is an Embedder on the same endpoint asking for the named model.
func (e *Embedder) ForModel(name string) *Embedder {
	return &Embedder{Client: e.Client, Endpoint: e.Endpoint, Batch: e.Batch, Attempts: e.Attempts, Backoff: e.Backoff, Named: name}
}

// EmbedImages embeds JPEG images, one vector each.
func (e *Embedder) EmbedImages(ctx context.Context, images [][]byte) ([][]float32, error) {
	out := make([][]float32, 0, len(images))
	for _, part := range batches(images, max(e.Batch, 1)) {
		req := modelserver.Request{Inputs: encode(part)}
		vecs, err := e.invoke(ctx, req)
		if err != nil {
			return nil, err
		}
		out = append(out, vecs...)
	}
	return out, nil
}

// EmbedText embeds a text query.
func (e *Embedder) EmbedText(ctx context.Context, text string) ([]float32, error) {
	vecs, err := e.invoke(ctx, modelserver.Request{Inputs: []modelserver.Input{{Text: text}}})
	if err != nil {
		if scenedex.ErrorCode(err) == scenedex.CodeInvalid {
			return nil, scenedex.Wrap(scenedex.CodeUnsupported, err,
				"the embedding model behind endpoint %q cannot embed text; search with an image or --like, "+
					"or point scenedex at a text-capable (CLIP-family) endpoint that honours the contract in DESIGN.md "+
					"(SCENEDEX_MODEL_URL locally, -c embeddingEndpoint=NAME in the cloud)", e.Endpoint)
		}
		return nil, err
	}
	return vecs[0], nil
}

func (e *Embedder) invoke(ctx context.Context, req modelserver.Request) ([][]float32, error) {
	req.Model = e.Named
	body, err := e.call(ctx, req)
	if err != nil {
		return nil, err
	}
	vecs, model, err := decode(body, len(req.Inputs))
	if err == nil && e.Named != "" && model != e.Named {
		return nil, scenedex.Errorf(scenedex.CodeConflict, "endpoint %q answered with model %q when asked for %q: it serves one model only, "+
			"so vectors of %q cannot be made there", e.Endpoint, model, e.Named, e.Named)
	}
	if err == nil && model != "" {
		e.model.Store(model)
	}
	return vecs, err
}

// OCRBatch is the number of images per OCR invocation: well inside
// SageMaker's 60 s per call on CPU, and a few hundred KB of 1280 px frames.
const OCRBatch = 8

// ReadText reads the words on screen of JPEG images through the contract's
// OCR form (scenedex.TextReader).
func (e *Embedder) ReadText(ctx context.Context, images [][]byte) ([][]scenedex.TextLine, error) {
	out := make([][]scenedex.TextLine, 0, len(images))
	for _, part := range batches(images, OCRBatch) {
		req := modelserver.Request{Task: modelserver.TaskOCR, Inputs: encode(part)}
		body, err := e.call(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("ocr: %w", err)
		}
		var resp modelserver.OCRResponse
		if err := json.Unmarshal(body, &resp); err != nil {
			return nil, scenedex.Wrap(scenedex.CodeUnavailable, err, "ocr response is not the contract's JSON")
		}
		if len(resp.Texts) != len(req.Inputs) {
			return nil, scenedex.Errorf(scenedex.CodeUnavailable, "ocr returned %d results for %d images", len(resp.Texts), len(req.Inputs))
		}
		out = append(out, resp.Texts...)
	}
	return out, nil
}

// MaxRequest is the largest request body sent: SageMaker serverless
// inference's 4 MB payload limit (real-time endpoints take 6 MB).
const MaxRequest = 4_000_000

// batches splits images into runs of at most n whose base64 JSON stays
// within MaxRequest (an image too large alone still gets a run of its own,
// which call refuses with a clear error).
func batches(images [][]byte, n int) [][][]byte {
	var out [][][]byte
	start, size := 0, 0
	for i, img := range images {
		enc := base64.StdEncoding.EncodedLen(len(img)) + 32 // {"image":"..."},
		if i > start && (i-start == n || size+enc > MaxRequest-64) {
			out = append(out, images[start:i])
			start, size = i, 0
		}
		size += enc
	}
	if start < len(images) {
		out = append(out, images[start:])
	}
	return out
}

func encode(images [][]byte) []modelserver.Input {
	in := make([]modelserver.Input, len(images))
	for i, img := range images {
		in[i] = modelserver.EncodeImage(img)
	}
	return in
}

// call invokes the endpoint with req and returns the response body, retrying
// what is worth a retry.
func (e *Embedder) call(ctx context.Context, req modelserver.Request) ([]byte, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if len(body) > MaxRequest {
		return nil, scenedex.Errorf(scenedex.CodeTooLarge, "model request of %d bytes exceeds the %d bytes a SageMaker serverless endpoint takes", len(body), MaxRequest)
	}
	attempts := max(e.Attempts, 1)
	for attempt := 1; ; attempt++ {
		out, err := e.Client.InvokeEndpoint(ctx, &sagemakerruntime.InvokeEndpointInput{
			EndpointName: aws.String(e.Endpoint),
			ContentType:  aws.String("application/json"),
			Accept:       aws.String("application/json"),
			Body:         body,
		})
		if err == nil {
			return out.Body, nil
		}
		err = classify(e.Endpoint, err)
		if scenedex.ErrorCode(err) != scenedex.CodeUnavailable || attempt >= attempts {
			return nil, err
		}
		// Full jitter backoff.
		d := time.Duration(rand.Int64N(int64(e.Backoff) << (attempt - 1)))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(d):
		}
	}
}

func decode(body []byte, want int) ([][]float32, string, error) {
	var resp modelserver.Response
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, "", scenedex.Wrap(scenedex.CodeUnavailable, err, "model response is not the contract's JSON")
	}
	if len(resp.Embeddings) != want {
		return nil, "", scenedex.Errorf(scenedex.CodeUnavailable, "model returned %d embeddings for %d inputs", len(resp.Embeddings), want)
	}
	for i, v := range resp.Embeddings {
		if len(v) == 0 || (resp.Dim != 0 && len(v) != resp.Dim) {
			return nil, "", scenedex.Errorf(scenedex.CodeUnavailable, "model returned embedding %d of length %d (dim %d)", i, len(v), resp.Dim)
		}
	}
	return resp.Embeddings, resp.Model, nil
}

// classify maps SageMaker errors to domain codes: a model's 4xx is the
// caller's fault, its 5xx and throttling are worth a retry.
func classify(endpoint string, err error) error {
	var me *types.ModelError
	if errors.As(err, &me) {
		status := int(aws.ToInt32(me.OriginalStatusCode))
		msg := aws.ToString(me.OriginalMessage)
		if msg == "" {
			msg = aws.ToString(me.Message)
		}
		if status >= 400 && status < 500 {
			return scenedex.Wrap(scenedex.CodeInvalid, err, "model %s refused the input (%d): %s", endpoint, status, msg)
		}
		return scenedex.Wrap(scenedex.CodeUnavailable, err, "model %s failed (%d): %s", endpoint, status, msg)
	}
	var ve *types.ValidationError
	if errors.As(err, &ve) {
		return scenedex.Wrap(scenedex.CodeInvalid, err, "endpoint %s", endpoint)
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		return scenedex.Wrap(scenedex.CodeUnavailable, err, "endpoint %s: %s", endpoint, api.ErrorCode())
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return scenedex.Wrap(scenedex.CodeUnavailable, err, "invoke endpoint %s", endpoint)
}

// Describe is for logs.
func (e *Embedder) String() string { return fmt.Sprintf("sagemaker endpoint %s", e.Endpoint) }

// LocalClient returns a real sagemakerruntime client whose endpoint is baseURL
// (the local model server), with static dummy credentials: the request is
// signed and sent exactly as in the cloud.
func LocalClient(baseURL string) *sagemakerruntime.Client {
	return sagemakerruntime.New(sagemakerruntime.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(baseURL),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local-secret", ""),
	})
}

// UnixClient is LocalClient for a model server listening on the unix socket
// at path (the in-process one: no port another user or a web page can reach).
func UnixClient(path string) *sagemakerruntime.Client {
	var d net.Dialer
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return d.DialContext(ctx, "unix", path)
	}}
	return sagemakerruntime.New(sagemakerruntime.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://model.sock"),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local-secret", ""),
		HTTPClient:   &http.Client{Transport: tr},
	})
}

// Models is scenedex.Models over one endpoint that serves several models
// by name (scenedex's model server: its default, the built-in descriptor).
type Models struct{ E *Embedder }

var _ scenedex.Models = Models{}

// Load checks that the endpoint serves name, by embedding a small image
// with it; the endpoint's refusal says which models it serves.
func (m Models) Load(ctx context.Context, name string) (string, string, error) {
	var probe bytes.Buffer
	jpeg.Encode(&probe, image.NewGray(image.Rect(0, 0, 16, 16)), nil)
	if _, err := m.E.ForModel(name).EmbedImages(ctx, [][]byte{probe.Bytes()}); err != nil {
		return "", "", fmt.Errorf("endpoint %q cannot embed with %q: %w", m.E.Endpoint, name, err)
	}
	return name, "", nil
}

// Embedder embeds with the named model on the endpoint.
func (m Models) Embedder(name string) scenedex.Embedder { return m.E.ForModel(name) }
