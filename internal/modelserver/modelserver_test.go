package modelserver

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/scenedex/scenedex/internal/descriptor"
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
