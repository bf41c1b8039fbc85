package pipeline

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"

	"github.com/scenedex/scenedex/internal/modelserver"
	"github.com/scenedex/scenedex/internal/sagemaker"
	"github.com/scenedex/scenedex/internal/scenedex"
)

// TestSearchOnAColdEndpoint: a words search whose model does not answer
// within the budget (a SageMaker serverless endpoint starting after a while
// idle, played by the model server with a delay, through the real SageMaker
// runtime client) answers from the words on screen alone with a note,
// instead of waiting out API Gateway's 29 s. A model that answers in time
// gives both parts and no note. The elapsed times are logged (measured, not
// asserted).
func TestSearchOnAColdEndpoint(t *testing.T) {
	for _, tc := range []struct {
		name          string
		delay, budget time.Duration
		cold          bool
	}{
		{"warm", 0, 2 * time.Second, false},
		{"cold", time.Second, 200 * time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(modelserver.New(modelserver.Options{Delay: tc.delay, EmbedderName: "clip",
				Embedder: textModel{"beach party": {1, 0}}}))
			defer srv.Close()
			client := sagemakerruntime.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
				Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""), RetryMaxAttempts: 1})
			p := conceptsPipeline(t) // words on screen and pictures of two videos
			p.Embedder, p.Log, p.cfg.SearchModelBudget = sagemaker.New(client, "scenedex-endpoint").ForModel("clip"), slog.Default(), tc.budget
			start := time.Now()
			res, err := p.SearchWithNote(context.Background(), scenedex.Query{Text: "beach party", K: 10})
			t.Logf("model delay %v, budget %v: answered in %v with %d hits, note %q", tc.delay, tc.budget,
				time.Since(start).Round(time.Millisecond), len(res.Hits), res.Note)
			if err != nil || len(res.Hits) == 0 {
				t.Fatalf("hits %+v, %v", res.Hits, err)
			}
			picture := false
			for _, h := range res.Hits {
				picture = picture || strings.Contains(strings.Join(h.Matched, ","), scenedex.MatchPicture)
				if h.ThumbURL == "" {
					t.Errorf("hit %s:%d has no thumbnail link", h.VideoID, h.Chunk)
				}
			}
			if tc.cold {
				if picture || !strings.HasPrefix(res.Note, "words only") || !strings.Contains(res.Note, "did not answer within 200ms") {
					t.Errorf("a cold model: picture matched %v, note %q; want words only and the note", picture, res.Note)
				}
			} else if !picture || res.Note != "" {
				t.Errorf("a warm model: picture matched %v, note %q; want both parts and no note", picture, res.Note)
			}
		})
	}
}
