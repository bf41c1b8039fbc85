package clip

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
	"golang.org/x/sync/errgroup"

	"github.com/scenedex/scenedex/internal/onnx"
	"github.com/scenedex/scenedex/internal/picture"
	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/vector"
)

// Model is a CLIP-family model in the layout of a transformers.js export:
// onnx/{text,vision}_model[_quantized].onnx, tokenizer.json (or vocab.json +
// merges.txt) and preprocessor_config.json. Tensor names come from the graphs.
type Model struct {
	Name     string
	Dim      int // known after the first embedding (set once: calls run side by side)
	dimOnce  sync.Once
	tok      *Tokenizer
	pre      Preprocessor
	text     *onnx.Session
	vision   *onnx.Session
	pixels   string // the vision graph's image input
	imageOut string
	ids      string // the text graph's token input
	mask     string // its attention mask input ("" if it has none)
	textOut  string
}

var _ scenedex.Embedder = (*Model)(nil)

// ImageBatch is the most images per vision run.
const ImageBatch = 8

// Open loads the model in dir. onnx.Init must have succeeded.
func Open(dir string, threads int) (*Model, error) {
	m := &Model{Name: filepath.Base(filepath.Clean(dir))}
	var cfg struct {
		Name string `json:"_name_or_path"`
	}
	if b, err := os.ReadFile(filepath.Join(dir, "config.json")); err == nil && json.Unmarshal(b, &cfg) == nil && cfg.Name != "" {
		m.Name = cfg.Name
	}
	var err error
	if m.tok, err = openTokenizer(dir); err != nil {
		return nil, err
	}
	if m.pre, err = ReadPreprocessor(filepath.Join(dir, "preprocessor_config.json")); err != nil {
		return nil, err
	}
	textPath, err := first(dir, "onnx/text_model_quantized.onnx", "onnx/text_model.onnx")
	if err != nil {
		return nil, err
	}
	visionPath, err := first(dir, "onnx/vision_model_quantized.onnx", "onnx/vision_model.onnx")
	if err != nil {
		return nil, err
	}
	if m.text, m.vision, err = onnx.OpenPair(textPath, visionPath, threads); err != nil {
		return nil, err
	}
	if err := m.bind(); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

func openTokenizer(dir string) (*Tokenizer, error) {
	if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); err == nil {
		return FromTokenizerJSON(filepath.Join(dir, "tokenizer.json"))
	}
	if _, err := os.Stat(filepath.Join(dir, "vocab.json")); err == nil {
		return FromVocabMerges(filepath.Join(dir, "vocab.json"), filepath.Join(dir, "merges.txt"))
	}
	return nil, fmt.Errorf("model %s has neither tokenizer.json nor vocab.json + merges.txt", dir)
}

func first(dir string, names ...string) (string, error) {
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			return filepath.Join(dir, n), nil
		}
	}
	return "", fmt.Errorf("model %s lacks %s", dir, names[len(names)-1])
}

// bind finds the tensors by what they are: the vision graph's 4-D float
// input and its 2-D embedding output (image_embeds where named so), the text
// graph's int64 token input (input_ids) and mask, and its text_embeds.
func (m *Model) bind() error {
	for _, in := range m.vision.Inputs {
		if len(in.Dimensions) == 4 && in.DataType == ort.TensorElementDataTypeFloat {
			m.pixels = in.Name
		}
	}
	for _, in := range m.text.Inputs {
		switch {
		case in.DataType != ort.TensorElementDataTypeInt64:
		case in.Name == "attention_mask":
			m.mask = in.Name
		case m.ids == "" || in.Name == "input_ids":
			m.ids = in.Name
		}
	}
	m.imageOut, m.textOut = embedsOutput(m.vision, "image_embeds"), embedsOutput(m.text, "text_embeds")
	if m.pixels == "" || m.ids == "" || m.imageOut == "" || m.textOut == "" {
		return fmt.Errorf("model %s: cannot find pixel, token or embedding tensors (vision %v → %v, text %v → %v)",
			m.Name, m.vision.Inputs, m.vision.Outputs, m.text.Inputs, m.text.Outputs)
	}
	for _, in := range m.text.Inputs {
		if in.Name != m.ids && in.Name != m.mask {
			return fmt.Errorf("model %s: text input %q is not one a CLIP text model takes", m.Name, in.Name)
		}
	}
	return nil
}

func embedsOutput(s *onnx.Session, name string) string {
	found := ""
	for _, o := range s.Outputs {
		if o.Name == name {
			return name
		}
		if len(o.Dimensions) == 2 && found == "" {
			found = o.Name
		}
	}
	return found
}

// Close frees the graphs.
func (m *Model) Close() error {
	m.text.Close()
	return m.vision.Close()
}

// EmbedImages embeds JPEG/PNG images, L2-normalised.
func (m *Model) EmbedImages(ctx context.Context, images [][]byte) ([][]float32, error) {
	plane := 3 * m.pre.CropH * m.pre.CropW
	out := make([][]float32, 0, len(images))
	for s := 0; s < len(images); s += ImageBatch {
		batch := images[s:min(s+ImageBatch, len(images))]
		// Decode and preprocess the batch's images side by side, each into
		// its own slice of the input.
		in := make([]float32, len(batch)*plane)
		var g errgroup.Group
		g.SetLimit(runtime.GOMAXPROCS(0))
		for i, img := range batch {
			g.Go(func() error {
				t, err := m.pre.Tensor(ctx, img)
				if errors.Is(err, picture.ErrBusy) {
					return scenedex.Wrap(scenedex.CodeUnavailable, err, "image %d", s+i)
				}
				if err != nil {
					return scenedex.Wrap(scenedex.CodeInvalid, err, "image %d", s+i)
				}
				copy(in[i*plane:], t)
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		res, err := m.vision.Run(map[string]any{m.pixels: onnx.Tensor{Data: in,
			Shape: []int64{int64(len(batch)), 3, int64(m.pre.CropH), int64(m.pre.CropW)}}}, m.imageOut)
		if err != nil {
			return nil, err
		}
		vecs, err := rows(res, len(batch))
		if err != nil {
			return nil, err
		}
		out = append(out, vecs...)
	}
	m.setDim(len(out[0]))
	return out, nil
}

// EmbedText embeds a text query, L2-normalised.
func (m *Model) EmbedText(ctx context.Context, text string) ([]float32, error) {
	ids, mask := m.tok.Context(text)
	in := map[string]any{m.ids: onnx.Int64Tensor{Data: ids, Shape: []int64{1, int64(len(ids))}}}
	if m.mask != "" {
		in[m.mask] = onnx.Int64Tensor{Data: mask, Shape: []int64{1, int64(len(mask))}}
	}
	res, err := m.text.Run(in, m.textOut)
	if err != nil {
		return nil, err
	}
	vecs, err := rows(res, 1)
	if err != nil {
		return nil, err
	}
	m.setDim(len(vecs[0]))
	return vecs[0], nil
}

func (m *Model) setDim(n int) { m.dimOnce.Do(func() { m.Dim = n }) }

// rows splits a [n, dim] output into normalised vectors.
func rows(t onnx.Tensor, n int) ([][]float32, error) {
	if len(t.Shape) != 2 || int(t.Shape[0]) != n {
		return nil, fmt.Errorf("embedding output %v for %d inputs", t.Shape, n)
	}
	dim := int(t.Shape[1])
	out := make([][]float32, n)
	for i := range out {
		out[i] = append([]float32(nil), t.Data[i*dim:(i+1)*dim]...)
		vector.Normalize(out[i])
	}
	return out, nil
}
