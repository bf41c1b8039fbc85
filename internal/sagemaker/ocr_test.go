package sagemaker

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/scenedex/scenedex/internal/assets"
	"github.com/scenedex/scenedex/internal/modelserver"
	"github.com/scenedex/scenedex/internal/ocr"
	"github.com/scenedex/scenedex/internal/onnx"
	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/testvideo"
)

// The contract's OCR form through the real SDK client, against the model
// server running the real PP-OCRv4 models.
func TestReadTextThroughSDK(t *testing.T) {
	dir := assets.Dir()
	if err := onnx.Init(assets.Library(dir)); err != nil {
		t.Fatalf("%v (%v)", err, assets.ErrMissing)
	}
	reader, err := ocr.Open(assets.OCRModels(dir), ocr.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	video := testvideo.Make(t, t.TempDir(), "v.mp4", testvideo.Spec{Scenes: []int{5, 5}, SceneSecs: 2, Size: "1280x720",
		Overlay: "drawbox=x=80:y=80:w=600:h=90:color=black:t=fill," +
			testvideo.Text("Open house Sunday", "dejavu/DejaVuSans.ttf", 40, "white", "100", "100", 2, 4)})
	frames := [][]byte{testvideo.Frame(t, video, 1), testvideo.Frame(t, video, 3)}

	srv := httptest.NewServer(modelserver.New(modelserver.Options{OCR: reader, OCRModel: ocr.Name}))
	defer srv.Close()
	e := New(LocalClient(srv.URL), "scenedex-local")
	texts, err := e.ReadText(context.Background(), frames)
	if err != nil {
		t.Fatal(err)
	}
	if len(texts) != 2 || len(texts[0]) != 0 || len(texts[1]) != 1 || !strings.EqualFold(texts[1][0].Text, "Open house Sunday") {
		t.Fatalf("texts %+v", texts)
	}
	// Not an image: the caller's fault, not a retryable failure.
	if _, err := e.ReadText(context.Background(), [][]byte{[]byte("nope")}); scenedex.ErrorCode(err) != scenedex.CodeInvalid {
		t.Fatalf("garbage: %v", err)
	}
	// A model server with OCR off refuses the OCR form clearly.
	off := httptest.NewServer(modelserver.New(modelserver.Options{}))
	defer off.Close()
	_, err = New(LocalClient(off.URL), "x").ReadText(context.Background(), frames)
	if scenedex.ErrorCode(err) != scenedex.CodeInvalid || !strings.Contains(err.Error(), "OCR is off") {
		t.Fatalf("OCR off: %v", err)
	}
}
