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
// idle, played by the model server with a delay, through the real
// SageMaker runtime client) answers from the words alone with a note,
// instead of waiting out API Gateway's 29 s. A model that answers in time
// gives both parts and no note. The elapsed times are logged (measured, not
// asserted).
func TestSearchOnAColdEndpoint(t *testing.T) {
	line := []scenedex.TextLine{{Text: "big sale", T: 3}}
	for _, tc := range []struct {
		name          string
		delay, budget time.Duration
		wantNote      bool
	}{
		{"warm", 0, 2 * time.Second, false},
		{"cold", time.Second, 200 * time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(modelserver.New(modelserver.Options{Delay: tc.delay, Embedder: textEmbedder{}, EmbedderName: "clip"}))
			defer srv.Close()
			client := sagemakerruntime.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
				Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""), RetryMaxAttempts: 1})
			ix := &hybridIndex{hybrid: []scenedex.WordHit{{Hit: scenedex.Hit{VideoID: "a", Chunk: 1, Score: 0.8}, Lines: line}},
				words: []scenedex.WordHit{{Hit: scenedex.Hit{VideoID: "b", Chunk: 0, Score: 5}, Lines: line}}}
			p := &Pipeline{Index: ix, Embedder: sagemaker.New(client, "scenedex-endpoint"), Reader: noText{}, Log: slog.Default(),
				cfg: Config{SearchModelBudget: tc.budget}.withDefaults()}
			start := time.Now()
			hits, note, err := p.searchText(context.Background(), scenedex.Query{Text: "sale", K: 5}, scenedex.Filter{})
			t.Logf("model delay %v, budget %v: answered in %v, note %q", tc.delay, tc.budget, time.Since(start).Round(time.Millisecond), note)
			if err != nil || len(hits) != 1 {
				t.Fatalf("hits %+v, %v", hits, err)
			}
			if tc.wantNote {
				if hits[0].VideoID != "b" || !strings.Contains(note, "words only") || !strings.Contains(note, "did not answer within 200ms") {
					t.Errorf("a cold model: hits %+v, note %q; want the words' hit and a note", hits, note)
				}
			} else if hits[0].VideoID != "a" || note != "" {
				t.Errorf("a warm model: hits %+v, note %q; want the hybrid hit and no note", hits, note)
			}
		})
	}
}
