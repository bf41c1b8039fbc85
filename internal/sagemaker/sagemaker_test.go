package sagemaker

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"

	"github.com/scenedex/scenedex/internal/descriptor"
	"github.com/scenedex/scenedex/internal/modelserver"
	"github.com/scenedex/scenedex/internal/scenedex"
	"github.com/scenedex/scenedex/internal/testvideo"
	"github.com/scenedex/scenedex/internal/vector"
)

func cos(a, b []float32) float64 { return float64(vector.Dot(a, b)) }

// The real SDK client against the local model server on 127.0.0.1.
func TestEmbedThroughSDK(t *testing.T) {
	dir := t.TempDir()
	video := testvideo.Make(t, dir, "v.mp4", testvideo.Spec{Scenes: []int{0, 1, 2}, SceneSecs: 4})
	frames := [][]byte{
		testvideo.Frame(t, video, 0.5), testvideo.Frame(t, video, 2.5), // scene 0
		testvideo.Frame(t, video, 4.5), // scene 1
		testvideo.Frame(t, video, 8.5), // scene 2
	}
	tests := []struct {
		name     string
		opts     modelserver.Options
		wantCode scenedex.Code // "" = success
	}{
		{"healthy", modelserver.Options{}, ""},
		{"30% of calls fail", modelserver.Options{FailRate: 0.3, Seed: 1}, ""},
		{"model down", modelserver.Options{FailRate: 1}, scenedex.CodeUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(modelserver.New(tc.opts))
			defer srv.Close()
			e := New(LocalClient(srv.URL), "scenedex-local")
			e.Batch, e.Backoff = 2, time.Millisecond
			ctx := context.Background()
			var vecs [][]float32
			var err error
			for range 5 { // several calls, so the 30% case meets failures
				if vecs, err = e.EmbedImages(ctx, frames); err != nil {
					break
				}
			}
			if tc.wantCode != "" {
				if scenedex.ErrorCode(err) != tc.wantCode {
					t.Fatalf("err = %v, want code %s", err, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(vecs) != 4 || len(vecs[0]) != descriptor.Dim {
				t.Fatalf("got %d vectors of %d", len(vecs), len(vecs[0]))
			}
			same, other1, other2 := cos(vecs[0], vecs[1]), cos(vecs[0], vecs[2]), cos(vecs[0], vecs[3])
			if same <= other1 || same <= other2 {
				t.Errorf("same scene %.3f not above other scenes %.3f %.3f", same, other1, other2)
			}
			if n := cos(vecs[2], vecs[2]); n < 0.999 || n > 1.001 {
				t.Errorf("not L2-normalised: |v|^2 = %f", n)
			}
		})
	}
}

func TestTextIsUnsupported(t *testing.T) {
	srv := httptest.NewServer(modelserver.New(modelserver.Options{}))
	defer srv.Close()
	_, err := New(LocalClient(srv.URL), "scenedex-local").EmbedText(context.Background(), "a crowd celebrating")
	if scenedex.ErrorCode(err) != scenedex.CodeUnsupported || !strings.Contains(err.Error(), "cannot embed text") {
		t.Fatalf("err = %v", err)
	}
}

func TestBadImageIsInvalid(t *testing.T) {
	srv := httptest.NewServer(modelserver.New(modelserver.Options{}))
	defer srv.Close()
	_, err := New(LocalClient(srv.URL), "scenedex-local").EmbedImages(context.Background(), [][]byte{[]byte("not a jpeg")})
	if scenedex.ErrorCode(err) != scenedex.CodeInvalid {
		t.Fatalf("err = %v", err)
	}
}

// Throttling (as SageMaker answers it: 400 ThrottlingException) is retried
// with backoff until the endpoint takes the call.
func TestThrottlingIsRetried(t *testing.T) {
	model := modelserver.New(modelserver.Options{})
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if calls <= 3 {
			w.Header().Set("X-Amzn-ErrorType", "ThrottlingException")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"message":"Rate exceeded"}`))
			return
		}
		model.ServeHTTP(w, r)
	}))
	defer srv.Close()
	client := sagemakerruntime.New(sagemakerruntime.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""),
		Retryer:     retry.NewStandard(func(o *retry.StandardOptions) { o.MaxBackoff = 5 * time.Millisecond })})
	e := New(client, "scenedex-local")
	e.Backoff = time.Millisecond
	frame := testvideo.Frame(t, testvideo.Make(t, t.TempDir(), "v.mp4", testvideo.Spec{Scenes: []int{0}, SceneSecs: 1}), 0.5)
	vecs, err := e.EmbedImages(context.Background(), [][]byte{frame})
	if err != nil || len(vecs) != 1 {
		t.Fatalf("after throttling: %v %v", vecs, err)
	}
	if calls != 4 {
		t.Errorf("%d calls, want 3 throttled + 1", calls)
	}
}

func TestBatchesStayWithinThePayloadLimit(t *testing.T) {
	img := func(n int) []byte { return make([]byte, n) }
	cases := []struct {
		name   string
		images [][]byte
		n      int
		want   []int // images per batch
	}{
		{"count", [][]byte{img(10), img(10), img(10)}, 2, []int{2, 1}},
		{"bytes", [][]byte{img(1_500_000), img(1_500_000), img(1_500_000)}, 16, []int{1, 1, 1}}, // 2 MB each in base64
		{"mixed", [][]byte{img(100), img(2_000_000), img(2_000_000), img(100)}, 16, []int{2, 2}},
		{"one too large alone", [][]byte{img(5_000_000)}, 16, []int{1}},
		{"none", nil, 4, nil},
	}
	for _, c := range cases {
		var got []int
		total := 0
		for _, b := range batches(c.images, c.n) {
			got = append(got, len(b))
			total += len(b)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) || total != len(c.images) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	// The one too large alone is refused before it is sent.
	e := New(LocalClient("http://127.0.0.1:1"), "x")
	if _, err := e.EmbedImages(context.Background(), [][]byte{img(5_000_000)}); scenedex.ErrorCode(err) != scenedex.CodeTooLarge {
		t.Fatalf("oversized: %v", err)
	}
}

// ForModel names the model in every request, through the real SDK client:
// the model server answers with that model, and an endpoint that answers
// with another (one that serves a single model and ignores the name) is
// refused rather than trusted.
func TestForModel(t *testing.T) {
	frame := testvideo.Frame(t, testvideo.Make(t, t.TempDir(), "v.mp4", testvideo.Spec{Scenes: []int{0}, SceneSecs: 1}), 0.5)
	srv := httptest.NewServer(modelserver.New(modelserver.Options{}))
	defer srv.Close()
	e := New(LocalClient(srv.URL), "scenedex-local")
	ctx := context.Background()
	named := e.ForModel(descriptor.Name)
	if vecs, err := named.EmbedImages(ctx, [][]byte{frame}); err != nil || len(vecs) != 1 || named.Model() != descriptor.Name {
		t.Fatalf("named: %v %q", err, named.Model())
	}
	if _, err := e.ForModel("clip").EmbedImages(ctx, [][]byte{frame}); scenedex.ErrorCode(err) != scenedex.CodeInvalid ||
		!strings.Contains(err.Error(), `model "clip" is not served here`) {
		t.Errorf("a model the server lacks: %v", err)
	}
	// Models (a model switch in the cloud) checks the endpoint serves it.
	if name, _, err := (Models{E: e}).Load(ctx, descriptor.Name); err != nil || name != descriptor.Name {
		t.Errorf("load the descriptor: %q %v", name, err)
	}
	if _, _, err := (Models{E: e}).Load(ctx, "clip"); scenedex.ErrorCode(err) != scenedex.CodeInvalid || !strings.Contains(err.Error(), "this server serves "+descriptor.Name) {
		t.Errorf("load a model the endpoint lacks: %v", err)
	}
	// A single-model endpoint: answers with its own model whatever is asked.
	one := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"model":"other","dim":2,"embeddings":[[1,0]]}`))
	}))
	defer one.Close()
	if _, err := New(LocalClient(one.URL), "x").ForModel("clip").EmbedImages(ctx, [][]byte{frame}); scenedex.ErrorCode(err) != scenedex.CodeConflict {
		t.Errorf("an endpoint answering with another model: %v", err)
	}
}
