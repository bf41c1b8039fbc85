package s3local

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// FuzzSigV4 signs requests for arbitrary keys, query parameters and header
// values with the AWS SDK's own SigV4 signer (header-signed and presigned):
// each must verify, the same request with one signature character changed
// or with an arbitrary Authorization header must be refused, and no input may
// panic the parser. The seed corpus is testdata/fuzz/FuzzSigV4.
func FuzzSigV4(f *testing.F) {
	f.Add("uploads/default/a.mp4", "", "", "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00", false)
	f.Add("uploads/c/red flower+1.mp4", "partNumber=1&uploadId=x%2By", "video/mp4", "AWS4-HMAC-SHA256 Credential=/,SignedHeaders=,Signature=", true)
	f.Add("chunks/v/00001/frame-00.jpg", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=0", "  a   b ", "Bearer x", true)
	f.Add("uploads/ü/é~!*'();:@&=+$,?#[].mp4", "a=&a=b&%FF=%00", "x y", "AWS4-HMAC-SHA256 ", false)
	f.Add("uploads/a.mp4", "", "x\ty", "", false)
	f.Add("uploads/a.mp4", "%FF=%00", "", "", false)
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	v := verifier{secrets: map[string]string{"AK": "SK"}, now: func() time.Time { return now }, maxSkew: 15 * time.Minute}
	creds := aws.Credentials{AccessKeyID: "AK", SecretAccessKey: "SK"}
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	f.Fuzz(func(t *testing.T, key, rawQuery, meta, forged string, presign bool) {
		u := &url.URL{Scheme: "http", Host: "127.0.0.1:9000", Path: "/scenedex/" + key}
		q, err := url.ParseQuery(rawQuery)
		if err != nil || strings.HasPrefix(strings.ToLower(rawQuery), "x-amz-") || strings.Contains(strings.ToLower(rawQuery), "&x-amz-") {
			q = url.Values{} // the signer's own parameters are not the fuzzer's
		}
		u.RawQuery = q.Encode()
		r, err := http.NewRequest(http.MethodGet, u.String(), nil)
		if err != nil {
			t.Skip() // not a request a client could send
		}
		if meta = strings.TrimSpace(meta); meta != "" && validHeaderValue(meta) {
			r.Header.Set("X-Amz-Meta-Note", meta)
		}
		if presign {
			pq := r.URL.Query()
			pq.Set("X-Amz-Expires", "900") // set by the SDK's S3 presigner before signing
			r.URL.RawQuery = pq.Encode()
			signed, _, err := signer.PresignHTTP(context.Background(), creds, r, "UNSIGNED-PAYLOAD", "s3", "us-east-1", now)
			if err != nil {
				t.Skip()
			}
			if r, err = http.NewRequest(http.MethodGet, signed, nil); err != nil {
				t.Fatalf("the SDK's presigned URL does not parse: %v", err)
			}
			if meta != "" && validHeaderValue(meta) {
				r.Header.Set("X-Amz-Meta-Note", meta)
			}
		} else {
			r.Header.Set("X-Amz-Content-Sha256", emptySHA256)
			if err := signer.SignHTTP(context.Background(), creds, r, emptySHA256, "s3", "us-east-1", now); err != nil {
				t.Skip()
			}
		}
		server := func(r *http.Request) *http.Request { // as net/http hands it to a handler
			s := httptest.NewRequest(r.Method, r.URL.RequestURI(), nil)
			s.Host, s.Header = r.URL.Host, r.Header.Clone()
			return s
		}
		if err := v.verify(server(r)); err != nil {
			t.Fatalf("a request the AWS SDK signed was refused: %v\n%s %s %v", err, r.Method, r.URL, r.Header)
		}
		tampered := r.Clone(context.Background())
		if presign {
			tq := tampered.URL.Query()
			tq.Set("X-Amz-Signature", flip(tq.Get("X-Amz-Signature")))
			tampered.URL.RawQuery = tq.Encode()
		} else {
			auth := tampered.Header.Get("Authorization")
			tampered.Header.Set("Authorization", auth[:len(auth)-1]+flip(auth[len(auth)-1:]))
		}
		if err := v.verify(server(tampered)); err == nil {
			t.Fatalf("a request with a changed signature was taken: %s", tampered.URL)
		}
		if forged != r.Header.Get("Authorization") && validHeaderValue(forged) {
			h := r.Clone(context.Background())
			h.URL.RawQuery = u.RawQuery // no presigned parameters: the header decides
			h.Header.Set("Authorization", forged)
			if err := v.verify(server(h)); err == nil {
				t.Fatalf("a forged Authorization header was taken: %q", forged)
			}
		}
	})
}

// flip changes the first character of a hex signature to another hex digit.
func flip(s string) string {
	if s == "" {
		return "0"
	}
	c := byte('0')
	if s[0] == '0' {
		c = '1'
	}
	return string(c) + s[1:]
}

// validHeaderValue reports whether net/http would send s as a header value.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
