// Package bedrock is an Embedder over Amazon Bedrock's Titan Multimodal
// Embeddings G1 (amazon.titan-embed-image-v1) through aws-sdk-go-v2's
// bedrockruntime client: images and text into one space, no model to host.
// Request body {"inputImage": base64 | "inputText": text, "embeddingConfig":
// {"outputEmbeddingLength": 256|384|1024}}, answer {"embedding": [...]}.
package bedrock

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"

	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/vector"
)

// TitanMultimodal is the default model.
const TitanMultimodal = "amazon.titan-embed-image-v1"

// Dims are the embedding lengths Titan Multimodal answers.
var Dims = []int{256, 384, 1024}

// Invoker is the one call used from the Bedrock runtime client.
type Invoker interface {
	InvokeModel(ctx context.Context, in *bedrockruntime.InvokeModelInput, optFns ...func(*bedrockruntime.Options)) (*bedrockruntime.InvokeModelOutput, error)
}

// Embedder implements scenedex.Embedder. Titan embeds one input per call;
// a batch of frames is sent Parallel at a time.
type Embedder struct {
	Client   Invoker
	ModelID  string
	Dim      int
	Parallel int
}

var _ scenedex.Embedder = (*Embedder)(nil)

// New returns an Embedder for modelID at dim.
func New(client Invoker, modelID string, dim int) (*Embedder, error) {
	if modelID == "" {
		modelID = TitanMultimodal
	}
	if dim == 0 {
		dim = 1024
	}
	ok := false
	for _, d := range Dims {
		ok = ok || d == dim
	}
	if !ok {
		return nil, fmt.Errorf("bedrock: embedding length %d: Titan Multimodal answers %v", dim, Dims)
	}
	return &Embedder{Client: client, ModelID: modelID, Dim: dim, Parallel: 4}, nil
}

// Model names the model and length that made a vector (recorded per vector).
func (e *Embedder) Model() string { return fmt.Sprintf("%s/%d", e.ModelID, e.Dim) }

type request struct {
	InputText       string `json:"inputText,omitempty"`
	InputImage      string `json:"inputImage,omitempty"`
	EmbeddingConfig struct {
		OutputEmbeddingLength int `json:"outputEmbeddingLength"`
	} `json:"embeddingConfig"`
}

type response struct {
	Embedding []float32 `json:"embedding"`
	Message   string    `json:"message,omitempty"`
}

func (e *Embedder) invoke(ctx context.Context, req request) ([]float32, error) {
	req.EmbeddingConfig.OutputEmbeddingLength = e.Dim
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	out, err := e.Client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(e.ModelID), Body: body,
		ContentType: aws.String("application/json"), Accept: aws.String("application/json")})
	if err != nil {
		return nil, classify(err, e.ModelID)
	}
	var res response
	if err := json.Unmarshal(out.Body, &res); err != nil {
		return nil, scenedex.Wrap(scenedex.CodeUnavailable, err, "bedrock %s: unreadable answer", e.ModelID)
	}
	if len(res.Embedding) != e.Dim {
		return nil, scenedex.Errorf(scenedex.CodeUnavailable, "bedrock %s: %d numbers in the answer, want %d", e.ModelID, len(res.Embedding), e.Dim)
	}
	vector.Normalize(res.Embedding)
	return res.Embedding, nil
}

// classify maps Bedrock's errors onto the domain's codes: a refused input is
// the caller's; throttling and outages are retryable; access is the
// deployment's fault, said plainly.
func classify(err error, model string) error {
	var validation *types.ValidationException
	var denied *types.AccessDeniedException
	var notFound *types.ResourceNotFoundException
	var api smithy.APIError
	switch {
	case errors.As(err, &validation):
		return scenedex.Wrap(scenedex.CodeInvalid, err, "bedrock %s refused the input", model)
	case errors.As(err, &denied):
		return scenedex.Wrap(scenedex.CodeUnavailable, err, "bedrock %s: access denied (enable the model in the Bedrock console's model access, in this region)", model)
	case errors.As(err, &notFound):
		return scenedex.Wrap(scenedex.CodeUnavailable, err, "bedrock %s: no such model in this region", model)
	case errors.As(err, &api):
		return scenedex.Wrap(scenedex.CodeUnavailable, err, "bedrock %s: %s", model, api.ErrorCode())
	}
	return scenedex.Wrap(scenedex.CodeUnavailable, err, "bedrock %s", model)
}

// EmbedImages embeds JPEG or PNG images, one vector each.
func (e *Embedder) EmbedImages(ctx context.Context, images [][]byte) ([][]float32, error) {
	out := make([][]float32, len(images))
	var g errgroup.Group
	g.SetLimit(max(1, e.Parallel))
	for i, img := range images {
		g.Go(func() (err error) {
			out[i], err = e.invoke(ctx, request{InputImage: base64.StdEncoding.EncodeToString(img)})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err // the first, with its code
	}
	return out, nil
}

// EmbedText embeds a query's words in the images' space.
func (e *Embedder) EmbedText(ctx context.Context, text string) ([]float32, error) {
	return e.invoke(ctx, request{InputText: text})
}
