package lambdas

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/scenedex/scenedex/internal/pipeline"
	"github.com/scenedex/scenedex/internal/scenedex"
)

// SweepResult reports what a sweep did.
type SweepResult struct {
	Failed  int `json:"failed"`  // uploads that never arrived
	Started int `json:"started"` // uploads that arrived but whose run never started
}

// Sweep runs on a schedule: uploads whose URLs expired without the object
// ever arriving end FAILED (and their multipart uploads are aborted), so no
// video stays UPLOADING forever. The local runner does the same.
func (f *Functions) Sweep(ctx context.Context) (SweepResult, error) {
	cfg := f.P.Config()
	stale, err := f.Stale.Stale(ctx, scenedex.StatusUploading, time.Now().Add(-cfg.UploadTTL))
	if err != nil {
		return SweepResult{}, err
	}
	var res SweepResult
	for _, v := range stale {
		if !cfg.UploadAbandoned(v, time.Now()) {
			continue // a large multipart upload still has time
		}
		// The object may be there after all, its event lost (EventBridge
		// gives up on a failing target after its retries): then it is not
		// abandoned but unstarted, and its run starts now, named as the live
		// event's would be.
		info, err := f.P.Blobs.Head(ctx, v.Key)
		switch {
		case err == nil:
			if err := f.startFor(ctx, v, info); err != nil {
				return res, err
			}
			res.Started++
			continue
		case scenedex.ErrorCode(err) != scenedex.CodeNotFound:
			f.Log.Warn("sweep: cannot tell whether the upload arrived; next sweep tries again", "video", v.ID, "err", err)
			continue
		}
		if v.UploadID != "" {
			if err := f.P.Blobs.AbortMultipart(ctx, v.Key, v.UploadID); err != nil && scenedex.ErrorCode(err) != scenedex.CodeNotFound {
				f.Log.Warn("abort multipart upload", "video", v.ID, "err", err)
			}
		}
		if _, err := f.P.MarkFailed(ctx, v.ID, pipeline.AbandonedReason); err != nil {
			return res, err
		}
		res.Failed++
	}
	return res, nil
}

// startFor starts the workflow run of v's object as its Object Created event
// would have.
func (f *Functions) startFor(ctx context.Context, v scenedex.Video, info scenedex.ObjectInfo) error {
	var d S3ObjectCreated
	d.Bucket.Name = f.Bucket
	d.Object.Key = url.QueryEscape(v.Key)
	d.Object.Size = info.Size
	d.Object.ETag = strings.Trim(info.ETag, `"`)
	d.Reason = "Sweep"
	detail, err := json.Marshal(d)
	if err != nil {
		return err
	}
	input, err := json.Marshal(events.EventBridgeEvent{Version: "0", DetailType: "Object Created", Source: "aws.s3",
		Time: time.Now().UTC(), Resources: []string{"arn:aws:s3:::" + f.Bucket}, Detail: detail})
	if err != nil {
		return err
	}
	started, err := f.Starter.Start(ctx, ExecutionName(d), input)
	if err != nil {
		return fmt.Errorf("sweep: start the run of %s: %w", v.ID, err)
	}
	f.Log.Warn("sweep: the upload had arrived without starting its run", "video", v.ID, "key", v.Key, "started", started)
	return nil
}
