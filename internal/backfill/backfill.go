// Package backfill starts workflow runs for videos already in a bucket, as if
// each had just arrived: it lists s3://bucket/prefix and starts one execution
// per object with the same input EventBridge would deliver and the same
// execution name, so objects already processed (or running) start nothing.
package backfill

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scenedex/scenedex/internal/lambdas"
	"github.com/scenedex/scenedex/internal/scenedex"
)

// Result counts what happened.
type Result struct {
	Listed, Started, Skipped int
}

// ParseURI splits s3://bucket/prefix. The prefix must lie under uploads/,
// where the workflow expects videos.
func ParseURI(uri string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	bucket, prefix, _ = strings.Cut(rest, "/")
	if !ok || bucket == "" {
		return "", "", fmt.Errorf("want s3://BUCKET/%s..., got %q", scenedex.UploadsPrefix, uri)
	}
	if prefix == "" {
		prefix = scenedex.UploadsPrefix
	}
	if !strings.HasPrefix(prefix, scenedex.UploadsPrefix) && !strings.HasPrefix(scenedex.UploadsPrefix, prefix) {
		return "", "", fmt.Errorf("prefix %q is outside %s: the workflow only takes videos under uploads/<collection>/", prefix, scenedex.UploadsPrefix)
	}
	return bucket, prefix, nil
}

// Run lists and starts. progress, if set, is called per object.
func Run(ctx context.Context, client s3.ListObjectsV2APIClient, starter lambdas.Starter, bucket, prefix string, dryRun bool,
	progress func(key string, started bool)) (Result, error) {
	var res Result
	p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return res, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if !strings.HasPrefix(key, scenedex.UploadsPrefix) || strings.HasSuffix(key, "/") {
				continue
			}
			res.Listed++
			ev, d := Event(bucket, key, aws.ToInt64(o.Size), aws.ToString(o.ETag), aws.ToTime(o.LastModified))
			started := false
			if !dryRun {
				input, err := json.Marshal(ev)
				if err != nil {
					return res, err
				}
				if started, err = starter.Start(ctx, lambdas.ExecutionName(d), input); err != nil {
					return res, fmt.Errorf("start %s: %w", key, err)
				}
			}
			if started {
				res.Started++
			} else {
				res.Skipped++
			}
			if progress != nil {
				progress(key, started)
			}
		}
	}
	return res, nil
}

// Event is the EventBridge "Object Created" event S3 would have sent for the
// object (key URL-encoded, as S3 does), and its detail.
func Event(bucket, key string, size int64, etag string, modified time.Time) (events.EventBridgeEvent, lambdas.S3ObjectCreated) {
	var d lambdas.S3ObjectCreated
	d.Bucket.Name = bucket
	d.Object.Key = url.QueryEscape(key)
	d.Object.Size = size
	d.Object.ETag = strings.Trim(etag, `"`)
	d.Reason = "Backfill"
	detail, _ := json.Marshal(d)
	return events.EventBridgeEvent{Version: "0", DetailType: "Object Created", Source: "aws.s3", Time: modified.UTC(),
		Resources: []string{"arn:aws:s3:::" + bucket}, Detail: detail}, d
}
