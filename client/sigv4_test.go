package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/scenedex/scenedex/internal/scenedex"
)

// The CLI's requests to the cloud API carry a SigV4 signature for
// execute-api that a verifier recomputes from what arrived (no AWS account
// here: the server stands in for API Gateway's IAM authorizer, using the SDK's
// own signer to recompute).
func TestSigV4(t *testing.T) {
	creds := credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "session")
	var checked int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		auth := r.Header.Get("Authorization")
		if !strings.Contains(auth, "/eu-west-1/execute-api/aws4_request") || r.Header.Get("X-Amz-Security-Token") != "session" {
			t.Errorf("authorization %q", auth)
		}
		at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
		if err != nil {
			t.Fatal(err)
		}
		again, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), strings.NewReader(string(body)))
		for k, v := range r.Header {
			if k != "Authorization" && k != "X-Amz-Date" && k != "X-Amz-Security-Token" && k != "Accept-Encoding" && k != "User-Agent" {
				again.Header[k] = v
			}
		}
		c, _ := creds.Retrieve(context.Background())
		sum := sha256.Sum256(body)
		v4.NewSigner().SignHTTP(context.Background(), c, again, hex.EncodeToString(sum[:]), "execute-api", "eu-west-1", at)
		if again.Header.Get("Authorization") != auth {
			t.Errorf("signature does not verify:\n got  %s\n want %s", auth, again.Header.Get("Authorization"))
		}
		checked++
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"hits":[]}`))
	}))
	defer srv.Close()
	c := New(srv.URL)
	c.Sign = SigV4(aws.NewCredentialsCache(creds), "eu-west-1")
	if _, err := c.Search(context.Background(), scenedex.Query{Text: "crowd celebrating"}); err != nil {
		t.Fatal(err)
	}
	if checked != 1 {
		t.Fatalf("%d requests verified", checked)
	}
}

func TestCloudRegion(t *testing.T) {
	for url, want := range map[string]string{
		"https://abc123.execute-api.eu-west-1.amazonaws.com":    "eu-west-1",
		"https://abc123.execute-api.us-east-1.amazonaws.com/v1": "us-east-1",
		"http://127.0.0.1:8080":                                 "",
		"https://api.example.com":                               "",
	} {
		if got, ok := CloudRegion(url); got != want || ok != (want != "") {
			t.Errorf("%s: %q %v", url, got, ok)
		}
	}
}
