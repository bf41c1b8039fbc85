package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// SigV4 signs requests for the cloud API — API Gateway with IAM
// authorization, service execute-api — with creds in region.
func SigV4(creds aws.CredentialsProvider, region string) func(*http.Request, []byte) error {
	signer := v4.NewSigner()
	return func(req *http.Request, body []byte) error {
		c, err := creds.Retrieve(req.Context())
		if err != nil {
			return fmt.Errorf("aws credentials: %w", err)
		}
		sum := sha256.Sum256(body)
		return signer.SignHTTP(context.WithoutCancel(req.Context()), c, req, hex.EncodeToString(sum[:]), "execute-api", region, time.Now())
	}
}

// CloudRegion tells whether base is an API Gateway URL
// (https://<id>.execute-api.<region>.amazonaws.com) and its region.
func CloudRegion(base string) (string, bool) {
	u, err := url.Parse(base)
	if err != nil {
		return "", false
	}
	parts := strings.Split(u.Hostname(), ".")
	if len(parts) >= 5 && parts[1] == "execute-api" && strings.HasPrefix(strings.Join(parts[3:], "."), "amazonaws.com") {
		return parts[2], true
	}
	return "", false
}
