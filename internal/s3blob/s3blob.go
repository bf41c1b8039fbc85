// Package s3blob implements scenedex.Blobs on Amazon S3 with aws-sdk-go-v2:
// presigned PUT/GET URLs, puts, gets and prefix deletes. Locally the same code
// talks to the in-process S3 endpoint (package s3local).
package s3blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/scenedex/scenedex/internal/scenedex"
)

// Store is a bucket.
type Store struct {
	Client  *s3.Client
	Presign *s3.PresignClient
	Bucket  string
}

var _ scenedex.Blobs = (*Store)(nil)

// New wraps an S3 client.
func New(client *s3.Client, bucket string) *Store {
	return &Store{Client: client, Presign: s3.NewPresignClient(client), Bucket: bucket}
}

// LocalRegion is the region clients of the local endpoint sign for.
const LocalRegion = "us-east-1"

// LocalClient returns a real S3 client for an S3-compatible endpoint at
// baseURL (path-style addressing), signing with the given keys.
func LocalClient(baseURL, accessKey, secret string, optFns ...func(*s3.Options)) *s3.Client {
	return s3.New(s3.Options{
		Region:       LocalRegion,
		BaseEndpoint: aws.String(baseURL),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(accessKey, secret, ""),
	}, optFns...)
}

// PresignPut signs a PUT of exactly size bytes to key: the content length is
// a signed header, so any other length is refused.
func (s *Store) PresignPut(ctx context.Context, key string, size int64, contentType string, ttl time.Duration) (string, error) {
	in := &s3.PutObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key), ContentLength: aws.Int64(size)}
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	req, err := s.Presign.PresignPutObject(ctx, in, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("presign put %s: %w", key, err)
	}
	return req.URL, nil
}

// PresignGet signs a GET of key.
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	req, err := s.Presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key)},
		s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("presign get %s: %w", key, err)
	}
	return req.URL, nil
}

// Put stores body under key.
func (s *Store) Put(ctx context.Context, key string, body io.ReadSeeker, contentType string) error {
	in := &s3.PutObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key), Body: body}
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	if _, err := s.Client.PutObject(ctx, in); err != nil {
		return classify(err, "put "+key)
	}
	return nil
}

// Get opens key for reading.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	out, err := s.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key)})
	if err != nil {
		return nil, classify(err, "get "+key)
	}
	return out.Body, nil
}

// Head describes key.
func (s *Store) Head(ctx context.Context, key string) (scenedex.ObjectInfo, error) {
	out, err := s.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key)})
	if err != nil {
		return scenedex.ObjectInfo{}, classify(err, "head "+key)
	}
	return scenedex.ObjectInfo{Key: key, Size: aws.ToInt64(out.ContentLength), ETag: strings.Trim(aws.ToString(out.ETag), `"`)}, nil
}

// CreateMultipart starts a multipart upload.
func (s *Store) CreateMultipart(ctx context.Context, key, contentType string) (string, error) {
	in := &s3.CreateMultipartUploadInput{Bucket: aws.String(s.Bucket), Key: aws.String(key)}
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	out, err := s.Client.CreateMultipartUpload(ctx, in)
	if err != nil {
		return "", classify(err, "create multipart upload "+key)
	}
	return aws.ToString(out.UploadId), nil
}

// PresignPart signs the upload of part n of exactly size bytes.
func (s *Store) PresignPart(ctx context.Context, key, uploadID string, n int, size int64, ttl time.Duration) (string, error) {
	req, err := s.Presign.PresignUploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(s.Bucket), Key: aws.String(key),
		UploadId: aws.String(uploadID), PartNumber: aws.Int32(int32(n)), ContentLength: aws.Int64(size)}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("presign part %d of %s: %w", n, key, err)
	}
	return req.URL, nil
}

// CompleteMultipart assembles the parts into the object.
func (s *Store) CompleteMultipart(ctx context.Context, key, uploadID string, parts []scenedex.Part) error {
	cp := make([]types.CompletedPart, len(parts))
	for i, p := range parts {
		cp[i] = types.CompletedPart{PartNumber: aws.Int32(int32(p.Number)), ETag: aws.String(p.ETag)}
	}
	_, err := s.Client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(s.Bucket), Key: aws.String(key),
		UploadId: aws.String(uploadID), MultipartUpload: &types.CompletedMultipartUpload{Parts: cp}})
	if err != nil {
		var api smithy.APIError
		if errors.As(err, &api) && (api.ErrorCode() == "InvalidPart" || api.ErrorCode() == "InvalidPartOrder" || api.ErrorCode() == "NoSuchUpload" || api.ErrorCode() == "EntityTooSmall") {
			return scenedex.Wrap(scenedex.CodeInvalid, err, "complete upload of %s: %s", key, api.ErrorCode())
		}
		return classify(err, "complete upload of "+key)
	}
	return nil
}

// AbortMultipart discards an unfinished multipart upload.
func (s *Store) AbortMultipart(ctx context.Context, key, uploadID string) error {
	_, err := s.Client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(s.Bucket), Key: aws.String(key), UploadId: aws.String(uploadID)})
	if err != nil {
		return classify(err, "abort upload of "+key)
	}
	return nil
}

// Delete deletes one object (deleting a missing key is not an error, as on S3).
func (s *Store) Delete(ctx context.Context, key string) error {
	if _, err := s.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key)}); err != nil {
		return classify(err, "delete "+key)
	}
	return nil
}

// DeletePrefix deletes every object under prefix, 1000 per request.
func (s *Store) DeletePrefix(ctx context.Context, prefix string) error {
	if prefix == "" || prefix == "/" {
		return fmt.Errorf("refusing to delete the whole bucket")
	}
	p := s3.NewListObjectsV2Paginator(s.Client, &s3.ListObjectsV2Input{Bucket: aws.String(s.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return classify(err, "list "+prefix)
		}
		if len(page.Contents) == 0 {
			continue
		}
		ids := make([]types.ObjectIdentifier, len(page.Contents))
		for i, o := range page.Contents {
			ids[i] = types.ObjectIdentifier{Key: o.Key}
		}
		out, err := s.Client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(s.Bucket),
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		if err != nil {
			return classify(err, "delete "+prefix)
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return fmt.Errorf("delete %s: %d objects failed, first %s: %s", prefix, len(out.Errors), aws.ToString(e.Key), aws.ToString(e.Message))
		}
	}
	return nil
}

func classify(err error, what string) error {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return scenedex.Wrap(scenedex.CodeNotFound, err, "%s: no such object", what)
	}
	var api smithy.APIError
	if errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound") {
		return scenedex.Wrap(scenedex.CodeNotFound, err, "%s: no such object", what)
	}
	if errors.As(err, &api) && api.ErrorCode() == "InsufficientStorage" {
		// The local endpoint's full disk (507): keep the cause in the
		// chain, so a FAILED reason and the logs say so.
		return scenedex.Wrap(scenedex.CodeUnavailable, fmt.Errorf("%w (%w)", err, syscall.ENOSPC), "%s", what)
	}
	return scenedex.Wrap(scenedex.CodeUnavailable, err, "%s", what)
}
