package modelserver

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/scenedex/scenedex/internal/descriptor"
	"github.com/scenedex/scenedex/internal/scenedex"
)

func jpegBytes(t *testing.T, c color.Color) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 32, 24))
	for y := range 24 {
		for x := range 32 {
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// The container routes, as SageMaker calls them inside the container.
func TestContainerContract(t *testing.T) {
	srv := httptest.NewServer(New(Options{}))
	defer srv.Close()
	if resp, err := http.Get(srv.URL + "/ping"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("ping: %v %v", resp, err)
	}
	body, _ := json.Marshal(Request{Inputs: []Input{EncodeImage(jpegBytes(t, color.White)), EncodeImage(jpegBytes(t, color.Black))}})
	resp, err := http.Post(srv.URL+"/invocations", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var out Response
	json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if resp.StatusCode != 200 || out.Dim != descriptor.Dim || out.Model != descriptor.Name || len(out.Embeddings) != 2 || len(out.Embeddings[1]) != out.Dim {
		t.Fatalf("invocations: %d %+v", resp.StatusCode, out)
	}
	for _, tc := range []struct {
		name, body string
	}{
		{"text", `{"inputs":[{"text":"a crowd"}]}`},
		{"empty", `{"inputs":[]}`},
		{"not base64", `{"inputs":[{"image":"%%%"}]}`},
		{"neither", `{"inputs":[{}]}`},
		{"bad json", `{"inputs":`},
	} {
		resp, err := http.Post(srv.URL+"/invocations", "application/json", bytes.NewReader([]byte(tc.body)))
		if err != nil {
			t.Fatal(err)
		}
		var e map[string]string
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != 400 || e["error"] == "" {
			t.Errorf("%s: %d %v", tc.name, resp.StatusCode, e)
		}
	}
}

// fakeReader stands in for the OCR models (which need ONNX Runtime: they are
// tested for real in package ocr and through the SDK in package sagemaker).
type fakeReader struct{ n int }

func (f *fakeReader) ReadText(_ context.Context, images [][]byte) ([][]scenedex.TextLine, error) {
	f.n += len(images)
	out := make([][]scenedex.TextLine, len(images))
	out[0] = []scenedex.TextLine{{Text: "hello", Confidence: 0.9}}
	return out, nil
}

func TestOCRForm(t *testing.T) {
	reader := &fakeReader{}
	srv := httptest.NewServer(New(Options{OCR: reader, OCRModel: "fake-ocr"}))
	defer srv.Close()
	post := func(body string) (*http.Response, []byte) {
		resp, err := http.Post(srv.URL+"/invocations", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	img := EncodeImage(jpegBytes(t, color.White)).Image
	resp, body := post(`{"task":"ocr","inputs":[{"image":"` + img + `"},{"image":"` + img + `"}]}`)
	var out OCRResponse
	if err := json.Unmarshal(body, &out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	// An image with no text answers [] (never null), so clients can index.
	if out.Model != "fake-ocr" || len(out.Texts) != 2 || out.Texts[0][0].Text != "hello" || out.Texts[1] == nil ||
		!strings.Contains(string(body), `"texts":[[{"text":"hello","confidence":0.9,"t":0}],[]]`) {
		t.Fatalf("%s", body)
	}
	for _, tc := range []struct{ name, body, want string }{
		{"text input", `{"task":"ocr","inputs":[{"text":"x"}]}`, "needs a base64 image"},
		{"unknown task", `{"task":"faces","inputs":[{"image":"` + img + `"}]}`, "unknown task"},
	} {
		resp, body := post(tc.body)
		if resp.StatusCode != 400 || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s: %d %s", tc.name, resp.StatusCode, body)
		}
	}
	off := httptest.NewServer(New(Options{}))
	defer off.Close()
	r, err := http.Post(off.URL+"/invocations", "application/json", strings.NewReader(`{"task":"ocr","inputs":[{"image":"`+img+`"}]}`))
	if err != nil || r.StatusCode != 400 {
		t.Fatalf("OCR off: %v %v", r, err)
	}
}

// textModel is a stand-in second model (the real CLIP backend is tested in
// package clip and through the local app): it embeds text as a fixed vector.
type textModel struct{}

func (textModel) EmbedImages(_ context.Context, images [][]byte) ([][]float32, error) {
	out := make([][]float32, len(images))
	for i := range out {
		out[i] = []float32{1, 0}
	}
	return out, nil
}
func (textModel) EmbedText(context.Context, string) ([]float32, error) { return []float32{0, 1}, nil }

// A request names the model it wants: the default when it names none, the
// built-in descriptor always, an Added model once added, and a clear 400
// for one the server does not serve.
func TestNamedModels(t *testing.T) {
	s := New(Options{Embedder: textModel{}, EmbedderName: "two"})
	srv := httptest.NewServer(s)
	defer srv.Close()
	img := EncodeImage(jpegBytes(t, color.White))
	for _, tc := range []struct {
		model, wantModel string
		wantDim, status  int
		wantErr          string
	}{
		{"", "two", 2, 200, ""},
		{"two", "two", 2, 200, ""},
		{descriptor.Name, descriptor.Name, descriptor.Dim, 200, ""},
		{"three", "", 0, 400, `model "three" is not served here; this server serves ` + descriptor.Name + `, two`},
	} {
		body, _ := json.Marshal(Request{Model: tc.model, Inputs: []Input{img}})
		resp, err := http.Post(srv.URL+"/invocations", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var out struct {
			Response
			Error string `json:"error"`
		}
		json.Unmarshal(raw, &out)
		if resp.StatusCode != tc.status || out.Model != tc.wantModel || out.Dim != tc.wantDim || out.Error != tc.wantErr {
			t.Errorf("model %q: %d %s", tc.model, resp.StatusCode, raw)
		}
	}
	s.Add("three", textModel{})
	if got := strings.Join(s.Serves(), ","); got != descriptor.Name+",three,two" {
		t.Errorf("serves %s", got)
	}
}
