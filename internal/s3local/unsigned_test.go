package s3local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// A header-signed request must sign every x-amz-* header and Content-Type
// it carries (sig-v4-header-based-auth, CanonicalHeaders): one added after
// signing (issue 16: x-amz-meta-* and Content-Type were taken) is refused
// 403 AccessDenied as S3 does, and nothing is stored. Signed by the real
// SDK's SigV4 signer.
func TestUnsignedHeadersRefused(t *testing.T) {
	e := newEnv(t)
	body := "hello"
	sum := sha256.Sum256([]byte(body))
	put := func(key string, signedExtra, addedAfter map[string]string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPut, e.http.URL+"/scenedex/"+key, strings.NewReader(body))
		req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
		for k, v := range signedExtra {
			req.Header.Set(k, v)
		}
		creds := aws.Credentials{AccessKeyID: e.srv.AccessKey, SecretAccessKey: e.srv.Secret}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "s3", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		for k, v := range addedAfter {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		name          string
		signed, added map[string]string
		want          int
	}{
		{"all signed", map[string]string{"X-Amz-Meta-Owner": "me", "Content-Type": "video/mp4"}, nil, 200},
		{"unsigned metadata", nil, map[string]string{"X-Amz-Meta-Owner": "mallory"}, 403},
		{"unsigned content type", nil, map[string]string{"Content-Type": "text/html"}, 403},
		{"unsigned storage class", map[string]string{"Content-Type": "video/mp4"}, map[string]string{"X-Amz-Storage-Class": "GLACIER"}, 403},
	} {
		key := "docs/" + strings.ReplaceAll(tc.name, " ", "-")
		status, answer := put(key, tc.signed, tc.added)
		if status != tc.want {
			t.Errorf("%s: %d, want %d: %s", tc.name, status, tc.want, answer)
			continue
		}
		if tc.want == 403 {
			if !strings.Contains(answer, "AccessDenied") || !strings.Contains(answer, "not signed") {
				t.Errorf("%s: %s", tc.name, answer)
			}
			if _, err := e.store.Head(context.Background(), key); err == nil {
				t.Errorf("%s: the object was stored", tc.name)
			}
		}
	}
}
