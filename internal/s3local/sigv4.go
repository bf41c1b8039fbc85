package s3local

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// verifier checks AWS Signature Version 4 on requests, both forms: the
// Authorization header (SDK calls) and query parameters (presigned URLs). The
// S3 emulator underneath checks no signature at all, so this is what makes a
// wrong, tampered or expired URL fail here as it would on S3.
type verifier struct {
	secrets map[string]string // access key id -> secret
	now     func() time.Time
	maxSkew time.Duration
}

// authError is an S3-style refusal.
type authError struct {
	code, msg string
}

func (e *authError) Error() string { return e.code + ": " + e.msg }

func deny(code, format string, args ...any) *authError {
	return &authError{code: code, msg: fmt.Sprintf(format, args...)}
}

const algorithm = "AWS4-HMAC-SHA256"

func (v *verifier) verify(r *http.Request) *authError {
	q := r.URL.Query()
	if q.Get("X-Amz-Algorithm") != "" || q.Get("X-Amz-Signature") != "" {
		return v.verifyPresigned(r, q)
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return deny("AccessDenied", "anonymous access is not allowed: sign the request or use a presigned URL")
	}
	return v.verifyHeader(r, auth)
}

func (v *verifier) verifyPresigned(r *http.Request, q url.Values) *authError {
	if q.Get("X-Amz-Algorithm") != algorithm {
		return deny("AuthorizationQueryParametersError", "X-Amz-Algorithm must be %s", algorithm)
	}
	date, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	if err != nil {
		return deny("AuthorizationQueryParametersError", "bad X-Amz-Date")
	}
	expires, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil || expires <= 0 || expires > 604800 {
		return deny("AuthorizationQueryParametersError", "X-Amz-Expires must be between 1 and 604800 seconds")
	}
	now := v.now()
	if now.After(date.Add(time.Duration(expires) * time.Second)) {
		return deny("AccessDenied", "Request has expired")
	}
	if date.After(now.Add(v.maxSkew)) {
		return deny("AccessDenied", "Request is not yet valid")
	}
	payload := q.Get("X-Amz-Content-Sha256")
	if payload == "" {
		payload = "UNSIGNED-PAYLOAD"
	}
	return v.check(r, q.Get("X-Amz-Credential"), q.Get("X-Amz-SignedHeaders"), q.Get("X-Amz-Signature"),
		q.Get("X-Amz-Date"), payload, true)
}

func (v *verifier) verifyHeader(r *http.Request, auth string) *authError {
	rest, ok := strings.CutPrefix(auth, algorithm+" ")
	if !ok {
		return deny("AccessDenied", "only %s signatures are accepted", algorithm)
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = val
	}
	amzDate := r.Header.Get("X-Amz-Date")
	date, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil {
		return deny("AccessDenied", "missing or bad X-Amz-Date header")
	}
	if d := v.now().Sub(date); d > v.maxSkew || d < -v.maxSkew {
		return deny("RequestTimeTooSkewed", "the difference between the request time and the server's time is too large")
	}
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		return deny("AccessDenied", "missing x-amz-content-sha256 header")
	}
	return v.check(r, fields["Credential"], fields["SignedHeaders"], fields["Signature"], amzDate, payload, false)
}

func (v *verifier) check(r *http.Request, credential, signedHeaders, signature, amzDate, payload string, presigned bool) *authError {
	parts := strings.Split(credential, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" {
		return deny("AuthorizationHeaderMalformed", "bad credential scope %q", credential)
	}
	secret, ok := v.secrets[parts[0]]
	if !ok {
		return deny("InvalidAccessKeyId", "the access key id does not exist")
	}
	if signedHeaders == "" || signature == "" {
		return deny("AccessDenied", "missing signed headers or signature")
	}
	scope := strings.Join(parts[1:], "/")
	canonical := strings.Join([]string{
		r.Method,
		canonicalURI(r),
		canonicalQuery(r.URL.Query(), presigned),
		canonicalHeaders(r, signedHeaders),
		signedHeaders,
		payload,
	}, "\n")
	sum := sha256.Sum256([]byte(canonical))
	toSign := strings.Join([]string{algorithm, amzDate, scope, hex.EncodeToString(sum[:])}, "\n")
	want := hex.EncodeToString(hmacSHA256(signingKey(secret, parts[1:4]), toSign))
	if !hmac.Equal([]byte(want), []byte(signature)) {
		return deny("SignatureDoesNotMatch", "the request signature we calculated does not match the signature you provided")
	}
	return nil
}

// signingKey derives SigV4's key for a scope (date, region, service).
func signingKey(secret string, scope []string) []byte {
	key := []byte("AWS4" + secret)
	for _, part := range append(scope, "aws4_request") {
		key = hmacSHA256(key, part)
	}
	return key
}

// seed returns what the chunk signatures of a streaming upload
// (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) chain from: the request's own
// signature, its date and scope, and the signing key. Call it after verify.
func (v *verifier) seed(r *http.Request) (chunkSeed, *authError) {
	rest, ok := strings.CutPrefix(r.Header.Get("Authorization"), algorithm+" ")
	if !ok {
		return chunkSeed{}, deny("AccessDenied", "a streaming upload must be signed in the Authorization header")
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = val
	}
	parts := strings.Split(fields["Credential"], "/")
	if len(parts) != 5 {
		return chunkSeed{}, deny("AuthorizationHeaderMalformed", "bad credential scope")
	}
	secret, ok := v.secrets[parts[0]]
	if !ok {
		return chunkSeed{}, deny("InvalidAccessKeyId", "the access key id does not exist")
	}
	return chunkSeed{key: signingKey(secret, parts[1:4]), amzDate: r.Header.Get("X-Amz-Date"),
		scope: strings.Join(parts[1:], "/"), prev: fields["Signature"]}, nil
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// canonicalURI is the path exactly as the client sent it: S3 does not
// normalise or re-encode it.
func canonicalURI(r *http.Request) string {
	p := r.RequestURI
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if strings.HasPrefix(p, "http://") || strings.HasPrefix(p, "https://") {
		if u, err := url.Parse(p); err == nil {
			p = u.EscapedPath()
		}
	}
	if p == "" {
		p = "/"
	}
	return p
}

func canonicalQuery(q url.Values, presigned bool) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		if presigned && k == "X-Amz-Signature" {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vals := append([]string(nil), q[k]...)
		sort.Strings(vals)
		for _, val := range vals {
			parts = append(parts, uriEncode(k)+"="+uriEncode(val))
		}
	}
	return strings.Join(parts, "&")
}

func canonicalHeaders(r *http.Request, signed string) string {
	var b strings.Builder
	for _, h := range strings.Split(signed, ";") {
		var val string
		switch h {
		case "host":
			val = r.Host
		case "content-length":
			val = r.Header.Get("Content-Length")
			if val == "" && r.ContentLength >= 0 {
				val = strconv.FormatInt(r.ContentLength, 10)
			}
		default:
			val = strings.Join(r.Header.Values(h), ",")
		}
		b.WriteString(h + ":" + strings.Join(strings.Fields(val), " ") + "\n")
	}
	return b.String()
}

// uriEncode is SigV4's encoding: everything but unreserved characters.
func uriEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
