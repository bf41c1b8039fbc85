package bedrock

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"

	"github.com/scenedex/scenedex/internal/scenedex"
)

// titan stands in for Bedrock's InvokeModel of Titan Multimodal Embeddings
// G1 (no AWS account here): it checks the request as the model documents it
// — POST /model/<id>/invoke, SigV4 for service bedrock, a JSON body with
// exactly one of inputText or inputImage (base64) and embeddingConfig — and
// answers the documented {"embedding": [...]}, a vector derived from the
// input so that equal inputs get equal vectors.
type titan struct {
	t     *testing.T
	mu    sync.Mutex
	calls int
	fail  string // an error type to answer with
}

func (s *titan) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/model/"+TitanMultimodal+"/invoke" ||
		r.Header.Get("Content-Type") != "application/json" || !strings.Contains(r.Header.Get("Authorization"), "/us-east-1/bedrock/aws4_request") {
		s.t.Errorf("request %s %s %v", r.Method, r.URL.Path, r.Header)
	}
	if s.fail != "" {
		status := map[string]int{"ValidationException": 400, "AccessDeniedException": 403, "ThrottlingException": 429}[s.fail]
		w.Header().Set("X-Amzn-Errortype", s.fail)
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"message": "stand-in " + s.fail})
		return
	}
	body, _ := io.ReadAll(r.Body)
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		s.t.Errorf("body %s", body)
	}
	text, hasText := req["inputText"].(string)
	img, hasImage := req["inputImage"].(string)
	cfg, _ := req["embeddingConfig"].(map[string]any)
	n, _ := cfg["outputEmbeddingLength"].(float64)
	if hasText == hasImage || (n != 256 && n != 384 && n != 1024) || len(req) != 2 {
		s.t.Errorf("body %s", body)
	}
	seed := text
	if hasImage {
		raw, err := base64.StdEncoding.DecodeString(img)
		if err != nil {
			s.t.Errorf("inputImage is not base64: %v", err)
		}
		seed = "img:" + string(raw)
	}
	h := fnv.New32a()
	h.Write([]byte(seed))
	k := float64(h.Sum32()%1000 + 1)
	vec := make([]float64, int(n))
	for i := range vec {
		vec[i] = math.Sin(float64(i+1) * k)
	}
	json.NewEncoder(w).Encode(map[string]any{"embedding": vec, "inputTextTokenCount": len(strings.Fields(text))})
}

func newEmbedder(t *testing.T, stand *titan, dim int) *Embedder {
	t.Helper()
	srv := httptest.NewServer(stand)
	t.Cleanup(srv.Close)
	client := bedrockruntime.New(bedrockruntime.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AK", "SK", ""), RetryMaxAttempts: 2})
	e, err := New(client, "", dim)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestTitanThroughTheSDK(t *testing.T) {
	stand := &titan{t: t}
	e := newEmbedder(t, stand, 384)
	ctx := context.Background()
	imgs := [][]byte{[]byte("\xff\xd8jpeg one"), []byte("\xff\xd8jpeg two"), []byte("\xff\xd8jpeg one")}
	vecs, err := e.EmbedImages(ctx, imgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(vecs) != 3 || len(vecs[0]) != 384 || stand.calls != 3 {
		t.Fatalf("%d vectors of %d, %d calls", len(vecs), len(vecs[0]), stand.calls)
	}
	var norm float64
	for _, x := range vecs[0] {
		norm += float64(x) * float64(x)
	}
	if math.Abs(norm-1) > 1e-4 || !equal(vecs[0], vecs[2]) || equal(vecs[0], vecs[1]) {
		t.Errorf("norm %v; same inputs equal %v, different equal %v", norm, equal(vecs[0], vecs[2]), equal(vecs[0], vecs[1]))
	}
	text, err := e.EmbedText(ctx, "a crowd celebrating")
	if err != nil || len(text) != 384 {
		t.Fatalf("text: %d %v", len(text), err)
	}
	if e.Model() != "amazon.titan-embed-image-v1/384" {
		t.Errorf("model %q", e.Model())
	}
	if _, err := New(nil, "", 512); err == nil {
		t.Error("512 dimensions accepted")
	}
}

func equal(a, b []float32) bool { return bytes.Equal(f32bytes(a), f32bytes(b)) }

func f32bytes(v []float32) []byte {
	b, _ := json.Marshal(v)
	return b
}

func TestTitanErrors(t *testing.T) {
	for _, tc := range []struct {
		fail, says string
		code       scenedex.Code
	}{
		{"ValidationException", "refused the input", scenedex.CodeInvalid},
		{"AccessDeniedException", "model access", scenedex.CodeUnavailable},
		{"ThrottlingException", "ThrottlingException", scenedex.CodeUnavailable},
	} {
		t.Run(tc.fail, func(t *testing.T) {
			stand := &titan{t: t, fail: tc.fail}
			_, err := newEmbedder(t, stand, 1024).EmbedText(context.Background(), "x")
			if scenedex.ErrorCode(err) != tc.code || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("err %v (code %s), want %s saying %q", err, scenedex.ErrorCode(err), tc.code, tc.says)
			}
			if tc.fail == "ThrottlingException" && stand.calls < 2 {
				t.Errorf("throttling not retried (%d calls)", stand.calls)
			}
		})
	}
}
